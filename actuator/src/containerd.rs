//! The containerd backend: containers and tasks over containerd's gRPC API
//! (the `containerd-client` crate), in a namespace of crest's own.
//!
//! One instance is one container: a snapshot prepared from the image's
//! unpacked layers (key = container id), a container record carrying the
//! labels `crest.app`, `crest.version` and `crest.plan`, and a runc task whose
//! OCI spec asks for a fresh network namespace (CNI then puts the IP in it).
//! Every step is idempotent — `AlreadyExists` on create means a step that
//! already happened before a crash or a lost reply, `NotFound` on delete means
//! one already undone — which is what lets the journal replay safely.
//!
//! Stop is SIGTERM, the grace period, then SIGKILL (a PID 1 without a handler
//! ignores SIGTERM). containerd keeps tasks alive across its own restarts; the
//! gRPC channel reconnects by itself, and calls that failed while the daemon
//! was down come back as `Unavailable` for the executor to retry.
//!
//! Images are imported beforehand (`ctr images import`, which unpacks them for
//! the snapshotter); crest reads the image's manifest and config from the
//! content store to compute the layer chain id that parents each snapshot.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crest_containerd_api::containerd::services::containers::v1::container::Runtime as ContainerRuntime;
use crest_containerd_api::containerd::services::containers::v1::{
    Container, CreateContainerRequest, DeleteContainerRequest, ListContainersRequest,
    containers_client::ContainersClient,
};
use crest_containerd_api::containerd::services::content::v1::{
    ReadContentRequest, content_client::ContentClient,
};
use crest_containerd_api::containerd::services::images::v1::{
    GetImageRequest, images_client::ImagesClient,
};
use crest_containerd_api::containerd::services::snapshots::v1::snapshots_client::SnapshotsClient;
use crest_containerd_api::containerd::services::snapshots::v1::{
    MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, ViewSnapshotRequest,
};
use crest_containerd_api::containerd::services::tasks::v1::{
    CreateTaskRequest, DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest,
    KillRequest, ListTasksRequest, StartRequest, WaitRequest, tasks_client::TasksClient,
};
use crest_containerd_api::containerd::types::Mount;
use crest_containerd_api::tonic::transport::Channel;
use crest_containerd_api::tonic::{self, Code, Request, Status};
use crest_core::seams::{SeamError, SeamErrorKind};
use crest_core::{AppId, Clock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{InstanceSpec, Runtime, RuntimeInstance, TaskStatus, labels};

const BACKEND: &str = "containerd";

/// Settings of the containerd backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerdConfig {
    /// containerd's gRPC socket.
    pub socket: PathBuf,
    /// containerd namespace (use one per test: some runtime paths are global).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Image reference, already imported and unpacked.
    pub image: String,
    /// Snapshotter.
    #[serde(default = "default_snapshotter")]
    pub snapshotter: String,
    /// The runtime shim.
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// The process to run (argv).
    pub command: Vec<String>,
    /// Environment (`K=V`).
    #[serde(default)]
    pub env: Vec<String>,
    /// SIGTERM -> SIGKILL grace, ms.
    #[serde(default = "default_grace")]
    pub stop_grace_ms: u64,
    /// Memory limit per container, bytes (none when absent).
    #[serde(default)]
    pub memory_limit_bytes: Option<i64>,
    /// Containers sharing one runc shim (1 = a shim each, containerd's
    /// default). Uses the runc v2 shim's `io.containerd.runc.v2.group`
    /// annotation: fewer shim processes (~13 MB each) and no shim daemon spawn
    /// for all but the first container of a group, at the price of a larger
    /// blast radius when a shim dies.
    #[serde(default = "default_group")]
    pub shim_group_size: u32,
    /// How each container gets its root filesystem.
    #[serde(default)]
    pub rootfs: RootfsMode,
}

/// How a container's root filesystem is made.
///
/// Every per-container snapshot is a mount in the host's mount table (the
/// runc shim mounts it at `<bundle>/rootfs`), and runc copies and parses that
/// table (`/proc/self/mountinfo`) several times per container it creates:
/// with N containers running, starting the next costs O(N). At 1,000
/// containers on 2 cores that is the largest cost of a scale-out. A shared
/// read-only view of the image adds no host mount at all: runc bind-mounts
/// it inside the container's own mount namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootfsMode {
    /// A writable snapshot per container (containerd's default).
    #[default]
    Snapshot,
    /// One read-only view of the image shared by every container, with
    /// tmpfs at `/tmp` and `/run` for scratch: images are built once and
    /// never changed after deploy. Needs a single-layer image (a multi-layer
    /// view is an overlay mount, which would put one mount per container
    /// back on the host).
    Readonly,
}

fn default_group() -> u32 {
    1
}

/// The shim group of instance `id` (`<app>-<seq>`), when grouping is on.
pub fn shim_group(id: &str, size: u32) -> Option<String> {
    if size <= 1 {
        return None;
    }
    let (app, seq) = id.rsplit_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{app}-shim{}", seq / u64::from(size)))
}

fn default_namespace() -> String {
    "crest".into()
}
fn default_snapshotter() -> String {
    "overlayfs".into()
}
fn default_runtime() -> String {
    "io.containerd.runc.v2".into()
}
fn default_grace() -> u64 {
    5_000
}

/// The containerd runtime backend.
#[derive(Debug, Clone)]
pub struct ContainerdRuntime<C> {
    cfg: ContainerdConfig,
    channel: Channel,
    chain_id: String,
    /// The shared read-only root (`RootfsMode::Readonly`).
    shared_root: Option<String>,
    /// Shim groups: containers this process knows run in each group's shim.
    groups: Arc<std::sync::Mutex<HashMap<String, GroupLock>>>,
    clock: C,
}

/// Guards the first task of a shim group: until the group's shim exists,
/// concurrent task creates in the group would each start a shim for it
/// (the runc v2 shim's `start` races on the group socket), and the extra
/// shims live on with nothing in them. Holds the live count this process
/// knows of; at zero the next create goes alone.
type GroupLock = Arc<tokio::sync::Mutex<u32>>;

fn seam(what: String, s: &Status) -> SeamError {
    let kind = match s.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Unknown
        | Code::Cancelled => SeamErrorKind::Unavailable,
        Code::NotFound => SeamErrorKind::NotFound,
        Code::ResourceExhausted => SeamErrorKind::Exhausted,
        _ => SeamErrorKind::Rejected,
    };
    SeamError::new(
        BACKEND,
        kind,
        format!("failed to {what}: {}: {}", s.code(), s.message()),
    )
}

impl<C: Clock + Clone + 'static> ContainerdRuntime<C> {
    /// Connect to containerd and resolve the image's layer chain.
    ///
    /// # Errors
    /// `Unavailable` when the socket does not answer, `NotFound` when the
    /// image is not imported, `Protocol` when its manifest does not parse.
    pub async fn connect(cfg: ContainerdConfig, clock: C) -> Result<Self, SeamError> {
        let channel = crest_containerd_api::connect(&cfg.socket)
            .await
            .map_err(|e| {
                SeamError::new(
                    BACKEND,
                    SeamErrorKind::Unavailable,
                    format!("failed to connect to {}", cfg.socket.display()),
                )
                .with_source(e)
            })?;
        let mut rt = ContainerdRuntime {
            cfg,
            channel,
            chain_id: String::new(),
            shared_root: None,
            groups: Arc::default(),
            clock,
        };
        rt.chain_id = rt.resolve_chain_id().await?;
        if rt.cfg.rootfs == RootfsMode::Readonly {
            rt.shared_root = Some(rt.shared_view().await?);
        }
        Ok(rt)
    }

    /// The settings.
    pub fn config(&self) -> &ContainerdConfig {
        &self.cfg
    }

    fn req<T>(&self, m: T) -> Request<T> {
        let mut r = Request::new(m);
        r.set_timeout(Duration::from_secs(60));
        if let Ok(v) = self.cfg.namespace.parse() {
            r.metadata_mut().insert("containerd-namespace", v);
        }
        r
    }

    async fn read_blob(&self, digest: &str) -> Result<Vec<u8>, SeamError> {
        let mut stream = ContentClient::new(self.channel.clone())
            .read(self.req(ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            }))
            .await
            .map_err(|s| seam(format!("read blob {digest}"), &s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| seam(format!("read blob {digest}"), &s))?
        {
            out.extend_from_slice(&chunk.data);
        }
        Ok(out)
    }

    async fn resolve_chain_id(&self) -> Result<String, SeamError> {
        let image = ImagesClient::new(self.channel.clone())
            .get(self.req(GetImageRequest {
                name: self.cfg.image.clone(),
            }))
            .await
            .map_err(|s| seam(format!("get image {}", self.cfg.image), &s))?
            .into_inner()
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| proto_err(format!("image {} has no target", self.cfg.image)))?;
        let mut digest = image.digest;
        let mut media = image.media_type;
        // An index points at manifests: take linux/amd64 (or the only one).
        for _ in 0..3 {
            let blob = self.read_blob(&digest).await?;
            let v: serde_json::Value = serde_json::from_slice(&blob)
                .map_err(|e| proto_err(format!("blob {digest} is not JSON: {e}")))?;
            let is_index = media.contains("index") || media.contains("manifest.list");
            if is_index {
                let manifests = v["manifests"]
                    .as_array()
                    .ok_or_else(|| proto_err(format!("index {digest} has no manifests")))?;
                let pick = manifests
                    .iter()
                    .find(|m| m["platform"]["architecture"] == "amd64")
                    .or_else(|| manifests.first())
                    .ok_or_else(|| proto_err(format!("index {digest} is empty")))?;
                digest = pick["digest"].as_str().unwrap_or_default().to_string();
                media = pick["mediaType"].as_str().unwrap_or_default().to_string();
                continue;
            }
            let config = v["config"]["digest"]
                .as_str()
                .ok_or_else(|| proto_err(format!("manifest {digest} has no config")))?;
            let cfg_blob = self.read_blob(config).await?;
            let c: serde_json::Value = serde_json::from_slice(&cfg_blob)
                .map_err(|e| proto_err(format!("config {config} is not JSON: {e}")))?;
            let diff_ids: Vec<String> = c["rootfs"]["diff_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            return chain_id(&diff_ids)
                .ok_or_else(|| proto_err(format!("config {config} has no layers")));
        }
        Err(proto_err(format!(
            "image {} nests indexes too deep",
            self.cfg.image
        )))
    }

    fn group_lock(&self, group: &str) -> GroupLock {
        let mut g = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.entry(group.to_string()).or_default().clone()
    }

    async fn create_task(&self, id: &str, mounts: Vec<Mount>) -> Result<u32, SeamError> {
        match TasksClient::new(self.channel.clone())
            .create(self.req(CreateTaskRequest {
                container_id: id.to_string(),
                rootfs: mounts,
                ..Default::default()
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().pid),
            Err(s) if s.code() == Code::AlreadyExists => match self.task_status(id).await? {
                Some((_, pid)) => Ok(pid),
                None => Err(SeamError::new(
                    BACKEND,
                    SeamErrorKind::Unavailable,
                    format!("task {id} exists and vanished"),
                )),
            },
            Err(s) => Err(seam(format!("create task {id}"), &s)),
        }
    }

    async fn remove_snapshot(&self, id: &str) -> Result<(), SeamError> {
        match SnapshotsClient::new(self.channel.clone())
            .remove(self.req(RemoveSnapshotRequest {
                snapshotter: self.cfg.snapshotter.clone(),
                key: id.to_string(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(seam(format!("remove snapshot {id}"), &s)),
        }
    }

    fn spec_json(&self, id: &str) -> Vec<u8> {
        let mut spec = oci_spec(&self.cfg, id);
        if let Some(root) = &self.shared_root {
            spec["root"] = serde_json::json!({"path": root, "readonly": true});
            if let Some(m) = spec["mounts"].as_array_mut() {
                m.push(
                    serde_json::json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}),
                );
            }
        }
        spec.to_string().into_bytes()
    }

    /// The key of the image's shared read-only view.
    fn view_key(&self) -> String {
        let hex = self.chain_id.trim_start_matches("sha256:");
        format!("crest-ro-{}", &hex[..hex.len().min(24)])
    }

    /// Make (or find) one read-only view of the image and return the host
    /// directory that holds it; every container shares it as its root.
    async fn shared_view(&self) -> Result<String, SeamError> {
        let key = self.view_key();
        let mut snaps = SnapshotsClient::new(self.channel.clone());
        let mut snap_labels = HashMap::new();
        snap_labels.insert("containerd.io/gc.root".to_string(), "crest".to_string());
        let mounts = match snaps
            .view(self.req(ViewSnapshotRequest {
                snapshotter: self.cfg.snapshotter.clone(),
                key: key.clone(),
                parent: self.chain_id.clone(),
                labels: snap_labels,
            }))
            .await
        {
            Ok(r) => r.into_inner().mounts,
            Err(s) if s.code() == Code::AlreadyExists => {
                snaps
                    .mounts(self.req(MountsRequest {
                        snapshotter: self.cfg.snapshotter.clone(),
                        key: key.clone(),
                    }))
                    .await
                    .map_err(|s| seam(format!("get mounts of snapshot {key}"), &s))?
                    .into_inner()
                    .mounts
            }
            Err(s) => return Err(seam(format!("make read-only view {key}"), &s)),
        };
        shared_root_of(&mounts).map_err(|why| {
            SeamError::new(
                BACKEND,
                SeamErrorKind::Rejected,
                format!(
                    "failed to share image {} read-only: {why} (rootfs = \"readonly\" needs a \
                     single-layer image; use rootfs = \"snapshot\")",
                    self.cfg.image
                ),
            )
        })
    }

    async fn mounts(&self, id: &str) -> Result<Vec<Mount>, SeamError> {
        let mut snaps = SnapshotsClient::new(self.channel.clone());
        let mut snap_labels = HashMap::new();
        snap_labels.insert("containerd.io/gc.root".to_string(), "crest".to_string());
        match snaps
            .prepare(self.req(PrepareSnapshotRequest {
                snapshotter: self.cfg.snapshotter.clone(),
                key: id.to_string(),
                parent: self.chain_id.clone(),
                labels: snap_labels,
            }))
            .await
        {
            Ok(r) => Ok(r.into_inner().mounts),
            Err(s) if s.code() == Code::AlreadyExists => snaps
                .mounts(self.req(MountsRequest {
                    snapshotter: self.cfg.snapshotter.clone(),
                    key: id.to_string(),
                }))
                .await
                .map(|r| r.into_inner().mounts)
                .map_err(|s| seam(format!("get mounts of snapshot {id}"), &s)),
            Err(s) => Err(seam(format!("prepare snapshot {id}"), &s)),
        }
    }

    async fn wait_exit(&self, id: &str, within_ms: u64) -> Result<bool, SeamError> {
        let mut tasks = TasksClient::new(self.channel.clone());
        let wait = tasks.wait(self.req(WaitRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        }));
        let deadline = self
            .clock
            .now()
            .add_millis(i64::try_from(within_ms).unwrap_or(i64::MAX));
        tokio::select! {
            r = wait => match r {
                Ok(_) => Ok(true),
                Err(s) if s.code() == Code::NotFound => Ok(true),
                Err(s) => Err(seam(format!("wait for task {id}"), &s)),
            },
            () = self.clock.sleep_until(deadline) => Ok(false),
        }
    }

    /// Run `args` as an extra process inside the running task `id` (a warm
    /// container) and wait for it; returns its exit status. The process is
    /// deleted afterwards, so nothing accumulates in the shim.
    ///
    /// # Errors
    /// [`SeamError`] when containerd refuses or the container is not running.
    pub async fn exec(&self, id: &str, exec_id: &str, args: &[String]) -> Result<u32, SeamError> {
        let process = serde_json::json!({
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "noNewPrivileges": true
        });
        let mut tasks = TasksClient::new(self.channel.clone());
        tasks
            .exec(self.req(ExecProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                spec: Some(prost_types::Any {
                    type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
                    value: process.to_string().into_bytes(),
                }),
                ..Default::default()
            }))
            .await
            .map_err(|s| seam(format!("exec {exec_id} in {id}"), &s))?;
        // Subscribe to the exit before starting, so a fast process is not missed.
        let mut waiter = tasks.clone();
        let wait = waiter.wait(self.req(WaitRequest {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
        }));
        let start = async {
            tasks
                .start(self.req(StartRequest {
                    container_id: id.to_string(),
                    exec_id: exec_id.to_string(),
                }))
                .await
        };
        let (w, st) = tokio::join!(wait, start);
        st.map_err(|s| seam(format!("start {exec_id} in {id}"), &s))?;
        let status = w
            .map_err(|s| seam(format!("wait for {exec_id} in {id}"), &s))?
            .into_inner()
            .exit_status;
        TasksClient::new(self.channel.clone())
            .delete_process(self.req(DeleteProcessRequest {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
            }))
            .await
            .map_err(|s| seam(format!("delete process {exec_id} in {id}"), &s))?;
        Ok(status)
    }

    /// Wait until task `id` exits by itself; returns its exit status.
    ///
    /// # Errors
    /// [`SeamError`] when containerd fails.
    pub async fn wait_task(&self, id: &str) -> Result<u32, SeamError> {
        TasksClient::new(self.channel.clone())
            .wait(self.req(WaitRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
            .map(|r| r.into_inner().exit_status)
            .map_err(|s| seam(format!("wait for task {id}"), &s))
    }

    /// The same runtime running another command (cron jobs: the job itself,
    /// or an idle loop for warm containers).
    pub fn with_command(&self, command: Vec<String>) -> Self {
        let mut me = self.clone();
        me.cfg.command = command;
        me
    }

    async fn kill(&self, id: &str, signal: u32) -> Result<bool, SeamError> {
        let r = TasksClient::new(self.channel.clone())
            .kill(self.req(KillRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
                signal,
                all: signal == 9,
            }))
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(s) if s.code() == Code::NotFound => Ok(false),
            // Already exited: "process already finished".
            Err(s) if s.code() == Code::FailedPrecondition => Ok(true),
            Err(s) => Err(seam(format!("signal {signal} task {id}"), &s)),
        }
    }

    async fn task_status(&self, id: &str) -> Result<Option<(TaskStatus, u32)>, SeamError> {
        match TasksClient::new(self.channel.clone())
            .get(self.req(GetRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
        {
            Ok(r) => Ok(r
                .into_inner()
                .process
                .map(|p| (task_status(p.status), p.pid))),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(seam(format!("get task {id}"), &s)),
        }
    }
}

fn proto_err(msg: String) -> SeamError {
    SeamError::new(BACKEND, SeamErrorKind::Protocol, msg)
}

fn task_status(s: i32) -> TaskStatus {
    match s {
        1 => TaskStatus::Created,
        2 => TaskStatus::Running,
        _ => TaskStatus::Stopped,
    }
}

/// The runc shims under `proc` serving containerd namespace `namespace` of
/// the daemon at `address`: (pid, the `-id` they were started for).
pub fn shim_processes(proc: &Path, namespace: &str, address: &str) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&raw);
        let args: Vec<&str> = text
            .split(|c: char| c == '\0' || c.is_whitespace())
            .filter(|a| !a.is_empty())
            .collect();
        let is_shim = args
            .first()
            .is_some_and(|a| a.rsplit('/').next() == Some("containerd-shim-runc-v2"));
        if !is_shim {
            continue;
        }
        let flag = |f: &str| {
            args.windows(2)
                .find(|w| w[0] == f)
                .map(|w| w[1].to_string())
        };
        if flag("-namespace").as_deref() == Some(namespace)
            && flag("-address").as_deref() == Some(address)
            && let Some(id) = flag("-id")
        {
            out.push((pid, id));
        }
    }
    out.sort();
    out
}

/// The host directory of a read-only image view, when the view is a plain
/// bind mount (a single-layer image); an overlay would need a host mount.
///
/// # Errors
/// What the view is instead.
pub fn shared_root_of(mounts: &[Mount]) -> Result<String, String> {
    match mounts {
        [m] if m.r#type == "bind" && !m.source.is_empty() => Ok(m.source.clone()),
        _ => Err(format!(
            "its view is {:?}, not one bind mount",
            mounts.iter().map(|m| m.r#type.as_str()).collect::<Vec<_>>()
        )),
    }
}

/// The OCI chain id of a layer stack (what the snapshotter names an unpacked
/// image by): `chain(L0) = diff(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))`.
pub fn chain_id(diff_ids: &[String]) -> Option<String> {
    let mut it = diff_ids.iter();
    let mut chain = it.next()?.clone();
    for d in it {
        let h = Sha256::digest(format!("{chain} {d}").as_bytes());
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        chain = format!("sha256:{hex}");
    }
    Some(chain)
}

/// The OCI runtime spec for one container, mirroring containerd's default
/// Unix spec (capabilities, masked paths, mounts) with a new network
/// namespace for CNI.
pub fn oci_spec(cfg: &ContainerdConfig, id: &str) -> serde_json::Value {
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    let mut env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    env.extend(cfg.env.iter().cloned());
    let mut resources = serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(m) = cfg.memory_limit_bytes {
        resources["memory"] = serde_json::json!({"limit": m});
    }
    serde_json::json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": cfg.command,
            "env": env,
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": id.chars().take(63).collect::<String>(),
        "annotations": match shim_group(id, cfg.shim_group_size) {
            Some(g) => serde_json::json!({"io.containerd.runc.v2.group": g}),
            None => serde_json::json!({}),
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
        ],
        "linux": {
            "resources": resources,
            "cgroupsPath": format!("/{}/{}", cfg.namespace, id),
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

impl<C: Clock + Clone + 'static> Runtime for ContainerdRuntime<C> {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn create(&self, spec: &InstanceSpec) -> Result<u32, SeamError> {
        let id = spec.id.as_str();
        let shared = self.shared_root.is_some();
        let mounts = if shared {
            Vec::new()
        } else {
            self.mounts(id).await?
        };
        let mut lbls = HashMap::new();
        lbls.insert(labels::APP.to_string(), spec.app.to_string());
        lbls.insert(labels::VERSION.to_string(), self.cfg.image.clone());
        if let Some(p) = &spec.plan_id {
            lbls.insert(labels::PLAN.to_string(), p.clone());
        }
        let container = Container {
            id: id.to_string(),
            labels: lbls,
            image: self.cfg.image.clone(),
            runtime: Some(ContainerRuntime {
                name: self.cfg.runtime.clone(),
                options: None,
            }),
            spec: Some(prost_types::Any {
                type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
                value: self.spec_json(id),
            }),
            snapshotter: if shared {
                String::new()
            } else {
                self.cfg.snapshotter.clone()
            },
            snapshot_key: if shared {
                String::new()
            } else {
                id.to_string()
            },
            ..Default::default()
        };
        match ContainersClient::new(self.channel.clone())
            .create(self.req(CreateContainerRequest {
                container: Some(container),
            }))
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::AlreadyExists => {}
            Err(s) => return Err(seam(format!("create container {id}"), &s)),
        }
        let Some(group) = shim_group(id, self.cfg.shim_group_size) else {
            return self.create_task(id, mounts).await;
        };
        let lock = self.group_lock(&group);
        let mut live = lock.lock().await;
        if *live == 0 {
            // The group's shim may not exist yet: make it with nobody racing.
            let pid = self.create_task(id, mounts).await?;
            *live += 1;
            return Ok(pid);
        }
        drop(live);
        let pid = self.create_task(id, mounts).await?;
        *lock.lock().await += 1;
        Ok(pid)
    }

    fn netns_path(&self, pid: u32) -> String {
        format!("/proc/{pid}/ns/net")
    }

    async fn start(&self, id: &str) -> Result<(), SeamError> {
        match TasksClient::new(self.channel.clone())
            .start(self.req(StartRequest {
                container_id: id.to_string(),
                exec_id: String::new(),
            }))
            .await
        {
            Ok(_) => Ok(()),
            Err(s) => {
                // A start that happened before a lost reply: running is success.
                if let Ok(Some((TaskStatus::Running, _))) = self.task_status(id).await {
                    return Ok(());
                }
                Err(seam(format!("start task {id}"), &s))
            }
        }
    }

    async fn stop(&self, id: &str) -> Result<(), SeamError> {
        let Some((status, _)) = self.task_status(id).await? else {
            return Ok(());
        };
        if status == TaskStatus::Stopped {
            return Ok(());
        }
        // A created-but-not-started init cannot handle SIGTERM: kill it.
        if status == TaskStatus::Running {
            if !self.kill(id, 15).await? {
                return Ok(());
            }
            if self.wait_exit(id, self.cfg.stop_grace_ms).await? {
                return Ok(());
            }
        }
        if !self.kill(id, 9).await? {
            return Ok(());
        }
        if self.wait_exit(id, 30_000).await? {
            Ok(())
        } else {
            Err(SeamError::new(
                BACKEND,
                SeamErrorKind::Unavailable,
                format!("task {id} did not exit 30 s after SIGKILL"),
            ))
        }
    }

    async fn remove(&self, id: &str) -> Result<(), SeamError> {
        let mut tasks = TasksClient::new(self.channel.clone());
        match tasks
            .delete(self.req(DeleteTaskRequest {
                container_id: id.to_string(),
            }))
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) if s.code() == Code::FailedPrecondition => {
                // Still running (a stop that never happened): kill, then delete.
                self.kill(id, 9).await?;
                self.wait_exit(id, 30_000).await?;
                match tasks
                    .delete(self.req(DeleteTaskRequest {
                        container_id: id.to_string(),
                    }))
                    .await
                {
                    Ok(_) => {}
                    Err(s) if s.code() == Code::NotFound => {}
                    Err(s) => return Err(seam(format!("delete task {id}"), &s)),
                }
            }
            Err(s) => return Err(seam(format!("delete task {id}"), &s)),
        }
        if let Some(group) = shim_group(id, self.cfg.shim_group_size) {
            let lock = self.group_lock(&group);
            let mut live = lock.lock().await;
            *live = live.saturating_sub(1);
        }
        match ContainersClient::new(self.channel.clone())
            .delete(self.req(DeleteContainerRequest { id: id.to_string() }))
            .await
        {
            Ok(_) => {}
            Err(s) if s.code() == Code::NotFound => {}
            Err(s) => return Err(seam(format!("delete container {id}"), &s)),
        }
        // In `readonly` mode there is no snapshot of its own (NotFound), but a
        // container made before a switch of mode still has one.
        self.remove_snapshot(id).await
    }

    /// Shims of this containerd and namespace whose container (or, grouped,
    /// whose whole group) no longer exists. A client that dies while
    /// containerd creates or deletes a task can leave the shim running with
    /// nothing in it, and containerd only cleans those up when it restarts
    /// (containerd issues #7733, #11392; seen here in the kill -9 trials).
    /// The processes are read first and the containers listed after, so a
    /// shim being started for a new container always finds it listed.
    async fn reap_orphans(&self) -> Result<Vec<String>, SeamError> {
        let shims = shim_processes(
            Path::new("/proc"),
            &self.cfg.namespace,
            &self.cfg.socket.display().to_string(),
        );
        if shims.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.cfg.shim_group_size;
        let key = |id: &str| shim_group(id, size).unwrap_or_else(|| id.to_string());
        // Every container of the namespace, crest's or not: only a shim no
        // container at all can be using is stopped.
        let live: std::collections::BTreeSet<String> = ContainersClient::new(self.channel.clone())
            .list(self.req(ListContainersRequest { filters: vec![] }))
            .await
            .map_err(|s| seam("list containers".into(), &s))?
            .into_inner()
            .containers
            .iter()
            .map(|c| key(&c.id))
            .collect();
        let mut reaped = Vec::new();
        for (pid, id) in shims {
            if live.contains(&key(&id)) {
                continue;
            }
            let ok = tokio::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                reaped.push(format!("shim {pid} of {id}"));
            }
        }
        Ok(reaped)
    }

    async fn list(&self, app: Option<&AppId>) -> Result<Vec<RuntimeInstance>, SeamError> {
        let filter = match app {
            Some(a) => format!("labels.\"{}\"=={}", labels::APP, a),
            None => format!("labels.\"{}\"", labels::APP),
        };
        let containers = ContainersClient::new(self.channel.clone())
            .list(self.req(ListContainersRequest {
                filters: vec![filter],
            }))
            .await
            .map_err(|s| seam("list containers".into(), &s))?
            .into_inner()
            .containers;
        let tasks = TasksClient::new(self.channel.clone())
            .list(self.req(ListTasksRequest {
                filter: String::new(),
            }))
            .await
            .map_err(|s| seam("list tasks".into(), &s))?
            .into_inner()
            .tasks;
        let by_id: HashMap<String, (TaskStatus, u32)> = tasks
            .into_iter()
            .map(|t| (t.id, (task_status(t.status), t.pid)))
            .collect();
        let mut out: Vec<RuntimeInstance> = containers
            .into_iter()
            .map(|c| {
                let t = by_id.get(&c.id).copied();
                RuntimeInstance {
                    labels: c.labels.into_iter().collect::<BTreeMap<_, _>>(),
                    status: t.map_or(TaskStatus::None, |(s, _)| s),
                    pid: t.map(|(_, p)| p),
                    id: c.id,
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

// `tonic` is re-exported by containerd-client; keep the import used in docs.
#[allow(unused_imports)]
use tonic as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shims_are_found_by_namespace_and_daemon() {
        let d = tempfile::tempdir().unwrap();
        let put = |pid: u32, args: &[&str]| {
            let p = d.path().join(pid.to_string());
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("cmdline"), args.join("\0") + "\0").unwrap();
        };
        let shim = "/usr/bin/containerd-shim-runc-v2";
        put(
            10,
            &[
                shim,
                "-namespace",
                "crest",
                "-id",
                "web-00001",
                "-address",
                "/run/c.sock",
            ],
        );
        put(
            11,
            &[
                shim,
                "-namespace",
                "other",
                "-id",
                "web-00002",
                "-address",
                "/run/c.sock",
            ],
        );
        put(
            12,
            &[
                shim,
                "-namespace",
                "crest",
                "-id",
                "web-00003",
                "-address",
                "/run/x.sock",
            ],
        );
        put(
            13,
            &[
                "/bin/sleep",
                "-namespace",
                "crest",
                "-id",
                "x",
                "-address",
                "/run/c.sock",
            ],
        );
        std::fs::create_dir(d.path().join("self")).unwrap();
        assert_eq!(
            shim_processes(d.path(), "crest", "/run/c.sock"),
            vec![(10, "web-00001".to_string())]
        );
    }

    #[test]
    fn only_a_bind_view_is_shared() {
        use super::Mount;
        let m = |t: &str, src: &str| Mount {
            r#type: t.into(),
            source: src.into(),
            ..Default::default()
        };
        assert_eq!(shared_root_of(&[m("bind", "/s/1/fs")]).unwrap(), "/s/1/fs");
        let e = shared_root_of(&[m("overlay", "overlay")]).unwrap_err();
        assert!(e.contains("overlay"), "{e}");
        assert!(shared_root_of(&[]).is_err());
        assert!(shared_root_of(&[m("bind", "/a"), m("bind", "/b")]).is_err());
    }

    #[test]
    fn chain_id_of_one_layer_is_its_diff_id() {
        assert_eq!(
            chain_id(&["sha256:ab".into()]).as_deref(),
            Some("sha256:ab")
        );
        assert_eq!(chain_id(&[]), None);
        // Two layers: sha256("sha256:a sha256:b").
        let c = chain_id(&["sha256:a".into(), "sha256:b".into()]).unwrap();
        assert_eq!(c.len(), "sha256:".len() + 64);
        assert_ne!(c, "sha256:b");
    }

    #[test]
    fn spec_has_a_new_netns_and_labels_nothing_global() {
        let cfg = ContainerdConfig {
            socket: "/x".into(),
            namespace: "crest-t".into(),
            image: "img".into(),
            snapshotter: default_snapshotter(),
            runtime: default_runtime(),
            command: vec!["/bin/sh".into()],
            env: vec![],
            stop_grace_ms: 100,
            memory_limit_bytes: Some(64 << 20),
            shim_group_size: 8,
            rootfs: RootfsMode::Snapshot,
        };
        let s = oci_spec(&cfg, "web-00001");
        let ns = s["linux"]["namespaces"].as_array().unwrap();
        assert!(
            ns.iter()
                .any(|n| n["type"] == "network" && n.get("path").is_none())
        );
        assert_eq!(s["linux"]["cgroupsPath"], "/crest-t/web-00001");
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(s["annotations"]["io.containerd.runc.v2.group"], "web-shim0");
        assert_eq!(shim_group("web-00017", 8).as_deref(), Some("web-shim2"));
        assert_eq!(shim_group("web-00017", 1), None);
    }
}
