//! End-to-end tests of the actuator against real services: a containerd of
//! the test's own (temp root, state and socket), runc, and the CNI bridge +
//! host-local plugins on a bridge and subnet of the test's own.
//!
//! They need root and the Debian packages containerd, runc and
//! containernetworking-plugins (CI installs them); when a binary is missing
//! they skip with a message. Each test gets a unique containerd namespace,
//! bridge and subnet, and cleans up everything, also on failure.
//!
//! Invariants checked after every scale, crash or fault ("consistent"):
//! tasks running == desired; every container has exactly one IP and every
//! allocated IP belongs to a live container; no two containers share an IP;
//! the journal's live instances are exactly the containers.

#![cfg(feature = "containerd")]
// The harness helpers panic on purpose: a broken environment fails the test loudly.
#![allow(clippy::unwrap_used)]
// Fault injection is timed against real daemons on the wall clock.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crest_actuator::backend::{Network, Runtime, TaskStatus};
use crest_actuator::cni::{CniConfig, CniNetwork, NetworkKind};
use crest_actuator::config::ScaleConfig;
use crest_actuator::containerd::{ContainerdConfig, ContainerdRuntime, RootfsMode};
use crest_actuator::exec::RetryPolicy;
use crest_actuator::fleet::{FleetActuator, FleetOptions, is_instance_of};
use crest_actuator::journal::Journal;
use crest_actuator::lb::{HaproxyLb, HaproxyLbConfig};
use crest_core::seams::LoadBalancer;
use crest_core::{AppId, WallClock};
use crest_haproxy::process::{HaproxyConfig, HaproxyProcess};
use rand::{Rng, SeedableRng};

/// One test at a time: each starts its own containerd and the machine has 2 cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const IMAGE: &str = "docker.io/crest/busybox:test";
const CMD: &str = "trap 'exit 0' TERM; busybox httpd -f -p 8080 -h /www & wait";

fn missing_tools() -> Option<String> {
    for b in [
        "/usr/bin/containerd",
        "/usr/bin/ctr",
        "/usr/sbin/runc",
        "/usr/lib/cni/bridge",
        "/usr/lib/cni/host-local",
        "/bin/busybox",
    ] {
        if !Path::new(b).exists() {
            return Some(format!("{b} is missing"));
        }
    }
    // SAFETY-free root check: /proc/self/status Uid line.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("1");
    if uid != "0" {
        return Some("not root".into());
    }
    None
}

macro_rules! need_services {
    () => {
        if let Some(why) = missing_tools() {
            crest_core::services::skip_or_fail(
                "e2e_actuator",
                &format!("needs containerd, runc, CNI plugins and root: {why}"),
            );
            return;
        }
    };
}

struct Env {
    dir: tempfile::TempDir,
    ns: String,
    bridge: String,
    subnet: String,
    cni_path: PathBuf,
    containerd: Option<Child>,
    haproxy: Option<HaproxyProcess>,
}

impl Env {
    fn new(tag: &str, k: u8) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("crest-e2e-")
            .tempdir()
            .unwrap();
        let pid = std::process::id();
        let env = Env {
            ns: format!("crest-e2e-{tag}-{pid}"),
            bridge: format!("cre{}{k}", pid % 10_000),
            subnet: format!("10.215.{}.0/24", k),
            cni_path: PathBuf::from("/usr/lib/cni"),
            containerd: None,
            haproxy: None,
            dir,
        };
        std::fs::write(
            env.path("containerd.toml"),
            format!(
                "version = 2\nroot = \"{r}\"\nstate = \"{s}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{a}\"\n[ttrpc]\n  address = \"{a}.ttrpc\"\n",
                r = env.path("root").display(),
                s = env.path("state").display(),
                a = env.sock().display()
            ),
        )
        .unwrap();
        let mut env = env;
        env.start_containerd();
        let image = env.path("image.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-test-image.sh");
        let ok = Command::new("bash")
            .arg(&script)
            .arg(&image)
            .arg(IMAGE)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "build-test-image.sh failed");
        env.ctr(&["images", "import", image.to_str().unwrap()]);
        env
    }

    /// Start HAProxy on 127.0.0.1 with an empty backend `backend`.
    fn start_haproxy(&mut self, backend: &str) {
        let bin = crest_haproxy::process::haproxy_binary().expect("haproxy is installed");
        let cfg = HaproxyConfig {
            backend: backend.into(),
            servers: vec![],
            check_inter_ms: None,
            timeout_server_ms: 2_000,
        };
        self.haproxy = Some(HaproxyProcess::start(&bin, self.dir.path(), &cfg).unwrap());
    }

    fn lb_config(&self) -> Option<HaproxyLbConfig> {
        self.haproxy.as_ref().map(|h| HaproxyLbConfig {
            socket: h.socket.display().to_string(),
            check_inter_ms: 200,
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn sock(&self) -> PathBuf {
        self.path("containerd.sock")
    }

    fn start_containerd(&mut self) {
        let _ = std::fs::remove_file(self.sock());
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.path("containerd.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("containerd.log")).unwrap())
            .spawn()
            .unwrap();
        self.containerd = Some(child);
        for _ in 0..200 {
            if self.sock().exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("containerd did not create its socket");
    }

    fn kill_containerd(&mut self) {
        if let Some(mut c) = self.containerd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn ctr(&self, args: &[&str]) -> String {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(self.sock())
            .arg("-n")
            .arg(&self.ns)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ctd_config(&self) -> ContainerdConfig {
        ContainerdConfig {
            socket: self.sock(),
            namespace: self.ns.clone(),
            image: IMAGE.into(),
            snapshotter: "overlayfs".into(),
            runtime: "io.containerd.runc.v2".into(),
            command: vec!["/bin/sh".into(), "-c".into(), CMD.into()],
            env: vec![],
            stop_grace_ms: 2_000,
            memory_limit_bytes: None,
            shim_group_size: 1,
            rootfs: RootfsMode::Snapshot,
        }
    }

    fn cni_config(&self) -> CniConfig {
        CniConfig {
            cni_path: self.cni_path.clone(),
            name: self.ns.clone(),
            bridge: self.bridge.clone(),
            subnet: self.subnet.clone(),
            data_dir: self.path("cni"),
            ifname: "eth0".into(),
            ipam_shard_size: 256,
            fit_neighbour_table: true,
            kind: NetworkKind::Bridge,
            master: None,
        }
    }

    fn options(&self) -> FleetOptions {
        FleetOptions {
            concurrency: 8,
            ramp_steps: 1,
            drain_ms: 0,
            retry: RetryPolicy {
                attempts: 10,
                base_ms: 100,
                max_ms: 1_000,
            },
            health_wait_ms: 10_000,
            ..FleetOptions::default()
        }
    }

    fn config_file(&self) -> PathBuf {
        let p = self.path("scale.toml");
        let mut cfg = ScaleConfig {
            journal: Some(self.path("journal.sqlite")),
            containerd: Some(self.ctd_config()),
            network: Some(self.cni_config()),
            haproxy: self.lb_config(),
            fleet: self.options(),
            #[cfg(feature = "mesos")]
            mesos: None,
        };
        cfg.fleet.concurrency = 4;
        std::fs::write(&p, toml::to_string(&cfg).unwrap()).unwrap();
        p
    }

    async fn fleet(&self, opts: FleetOptions) -> Fleet {
        self.fleet_with(self.ctd_config(), self.cni_config(), opts)
            .await
    }

    async fn fleet_with(&self, ctd: ContainerdConfig, cni: CniConfig, opts: FleetOptions) -> Fleet {
        let rt = ContainerdRuntime::connect(ctd, WallClock).await.unwrap();
        let net = CniNetwork::new(cni).unwrap();
        net.prepare().await.unwrap();
        FleetActuator::new(
            rt,
            Some(net),
            self.lb_config().as_ref().map(HaproxyLb::new),
            Journal::open(self.path("journal.sqlite")).unwrap(),
            WallClock,
            opts,
        )
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if self.containerd.is_some() {
            for id in self.ctr(&["tasks", "ls", "-q"]).lines() {
                self.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            }
            std::thread::sleep(Duration::from_millis(300));
            for id in self.ctr(&["containers", "ls", "-q"]).lines() {
                self.ctr(&["tasks", "delete", "-f", id]);
                self.ctr(&["containers", "delete", id]);
            }
            self.ctr(&["images", "rm", IMAGE]);
            let _ = Command::new("ctr")
                .arg("-a")
                .arg(self.sock())
                .args(["namespaces", "remove", &self.ns])
                .output();
        }
        self.kill_containerd();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        let root = self.path("root");
        let _ = Command::new("umount")
            .arg("-R")
            .arg(&root)
            .stderr(Stdio::null())
            .output();
    }
}

type Fleet = FleetActuator<ContainerdRuntime<WallClock>, CniNetwork, HaproxyLb, WallClock>;

/// Servers of `backend` that pass their health check, once `want` do or
/// after 5 s.
async fn servers_up(env: &Env, backend: &str, want: usize) -> usize {
    let lb = HaproxyLb::new(&env.lb_config().unwrap());
    let mut up = 0;
    for _ in 0..50 {
        let s = lb.servers(backend).await.unwrap();
        up = s.iter().filter(|s| s.status == "UP").count();
        if up == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    up
}

/// Check the invariants; returns the running container ids.
async fn assert_consistent(env: &Env, fleet: &Fleet, app: &AppId, want: usize) -> Vec<String> {
    let containers = fleet.runtime().list(None).await.unwrap();
    let ids: BTreeSet<String> = containers.iter().map(|c| c.id.clone()).collect();
    assert_eq!(containers.len(), want, "containers: {ids:?}");
    assert!(
        containers.iter().all(|c| c.status == TaskStatus::Running),
        "all running: {containers:?}"
    );
    let net = CniNetwork::new(env.cni_config()).unwrap();
    let allocs = net.allocations().await.unwrap();
    let alloc_ids: BTreeSet<String> = allocs.keys().cloned().collect();
    assert_eq!(alloc_ids, ids, "IPs belong exactly to live containers");
    let mut seen = BTreeMap::new();
    for (id, ips) in &allocs {
        assert_eq!(ips.len(), 1, "{id} has one IP: {ips:?}");
        assert!(
            seen.insert(ips[0].clone(), id.clone()).is_none(),
            "IP {} twice",
            ips[0]
        );
    }
    let live: BTreeSet<String> = fleet
        .journal()
        .live(app)
        .unwrap()
        .into_keys()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(live, ids, "journal agrees with containerd");
    if let Some(cfg) = env.lb_config() {
        let lb = HaproxyLb::new(&cfg);
        let servers: BTreeSet<String> = lb
            .servers(app.as_str())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .filter(|n| is_instance_of(app, n))
            .collect();
        assert_eq!(
            servers, ids,
            "balancer entries are exactly the running containers"
        );
    }
    // Below the IPAM: on a bridge network each container is one veth port
    // (its other end lives in the container's netns, which dies with the
    // task); a torn-down or half-made container must leave no port behind.
    let brif = std::path::Path::new("/sys/class/net")
        .join(&env.cni_config().bridge)
        .join("brif");
    // A namespace whose last process died is torn down by the kernel
    // asynchronously (with its veth end): allow it up to 5 s.
    if brif.is_dir() {
        let mut ports: Vec<String> = Vec::new();
        for _ in 0..50 {
            ports = std::fs::read_dir(&brif)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            if ports.len() == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(ports.len(), want, "veth ports on the bridge: {ports:?}");
    }
    ids.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_and_in_leaves_nothing_behind() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("basic", 1);
    env.start_haproxy("web");
    let mut opts = env.options();
    opts.health_wait_ms = 10_000;
    let fleet = env.fleet(opts).await;
    let app = AppId::try_new("web").unwrap();

    let r = fleet.scale(&app, 8, Some("plan-7")).await.unwrap();
    assert_eq!(r.started.len(), 8, "{r:?}");
    assert!(r.failed.is_empty() && r.unhealthy.is_empty(), "{r:?}");
    let ids = assert_consistent(&env, &fleet, &app, 8).await;
    // Labels land on the containers.
    let info = env.ctr(&["containers", "info", &ids[0]]);
    assert!(info.contains("\"crest.plan\": \"plan-7\"") && info.contains("\"crest.app\": \"web\""));
    // HAProxy's health checks reach every container through the bridge.
    assert_eq!(
        servers_up(&env, "web", 8).await,
        8,
        "all registered servers pass their health check"
    );
    // Re-applying the same count is a no-op.
    let r = fleet.scale(&app, 8, None).await.unwrap();
    assert!(r.started.is_empty() && r.stopped.is_empty());

    let r = fleet.scale(&app, 3, None).await.unwrap();
    assert_eq!(r.stopped.len(), 5);
    assert_consistent(&env, &fleet, &app, 3).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
    assert!(
        env.ctr(&["snapshots", "ls"]).lines().count() <= 2,
        "only the image's snapshot remains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cni_failure_for_one_container_is_reported_cleaned_and_rolled_back() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("cnifail", 2);
    // A CNI path whose `bridge` fails ADD for exactly one container id.
    let cni = env.path("cni-bin");
    std::fs::create_dir_all(&cni).unwrap();
    for p in std::fs::read_dir("/usr/lib/cni").unwrap().flatten() {
        if p.file_name() != "bridge" {
            std::os::unix::fs::symlink(p.path(), cni.join(p.file_name())).unwrap();
        }
    }
    std::fs::write(
        cni.join("bridge"),
        "#!/bin/sh\ncase \"$CNI_COMMAND:$CNI_CONTAINERID\" in\n  ADD:web-00003|ADD:api-00002) echo '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"injected failure\"}'; exit 1;;\nesac\nexec /usr/lib/cni/bridge\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(cni.join("bridge"))
        .status()
        .unwrap();
    env.cni_path = cni;

    let fleet = env.fleet(env.options()).await;
    let app = AppId::try_new("web").unwrap();
    let r = fleet.scale(&app, 5, None).await.unwrap();
    assert_eq!(
        r.failed.keys().collect::<Vec<_>>(),
        vec!["web-00003"],
        "{r:?}"
    );
    assert!(r.failed["web-00003"].contains("injected failure"));
    assert_eq!(r.running, 4);
    assert_consistent(&env, &fleet, &app, 4).await;
    // The next scale fills the gap with a new instance.
    let r = fleet.scale(&app, 5, None).await.unwrap();
    assert_eq!(r.started, vec!["web-00006"]);
    assert_consistent(&env, &fleet, &app, 5).await;
    fleet.scale(&app, 0, None).await.unwrap();

    // With rollback, one failure undoes the whole scale-out.
    let mut opts = env.options();
    opts.rollback = true;
    let fleet = env.fleet(opts).await;
    let api = AppId::try_new("api").unwrap();
    let r = fleet.scale(&api, 4, None).await.unwrap();
    assert!(r.failed.contains_key("api-00002"), "{r:?}");
    assert_eq!(r.rolled_back.len(), 3, "{r:?}");
    assert!(r.started.is_empty());
    assert_consistent(&env, &fleet, &api, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_restart_mid_scale_out_ends_consistent() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("restart", 3);
    let mut opts = env.options();
    opts.concurrency = 2;
    let fleet = env.fleet(opts).await;
    let app = AppId::try_new("web").unwrap();
    let f2 = fleet.clone();
    let a2 = app.clone();
    let job = tokio::spawn(async move { f2.scale(&a2, 12, None).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    env.kill_containerd();
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.start_containerd();
    let r = job.await.unwrap().unwrap();
    eprintln!(
        "during restart: started {} failed {:?}",
        r.started.len(),
        r.failed
    );
    // Whatever failed mid-restart, the next scale reconciles and completes.
    let r = fleet.scale(&app, 12, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_consistent(&env, &fleet, &app, 12).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

/// The child side of the kill -9 test: runs one `scale` from env vars.
#[test]
#[ignore = "the child process of kill9_at_random_points_never_leaks_or_duplicates, which runs it"]
fn kill9_child() {
    let cfg = std::env::var("CREST_E2E_CFG").expect(
        "kill9_child is run by kill9_at_random_points_never_leaks_or_duplicates (CREST_E2E_CFG)",
    );
    let n = std::env::var("CREST_E2E_N").expect(
        "kill9_child is run by kill9_at_random_points_never_leaks_or_duplicates (CREST_E2E_N)",
    );
    let cfg = ScaleConfig::load(Path::new(&cfg)).unwrap();
    let app = AppId::try_new("web").unwrap();
    let journal = cfg.journal.clone().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(crest_actuator::config::scale_real(
        &cfg,
        &journal,
        &app,
        n.parse().unwrap(),
        None,
    ))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_points_never_leaks_or_duplicates() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("kill9", 4);
    env.start_haproxy("web");
    let namespaces_before = net_namespaces();
    let cfg = env.config_file();
    let app = AppId::try_new("web").unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0007);
    let trials: u32 = std::env::var("CREST_KILL9_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22);
    let mut killed_mid_run = 0;
    let mut current = 0usize;
    // One reader connection: it sees each commit of the child (WAL) at once,
    // where opening the file per poll took milliseconds.
    let reader = Journal::open(env.path("journal.sqlite")).unwrap();
    let steps = || reader.step_count().unwrap_or(0);
    for trial in 0..trials {
        // A target other than the current size, and a kill right after a
        // random journal record of the run: the kill lands between any two
        // steps (intent written and not done, done and not marked, ...).
        let target: usize = loop {
            let t = rng.random_range(0..=8);
            if t != current {
                break t;
            }
        };
        // Records a run writes at least: 10 per start, 6 per stop.
        let records = if target > current {
            10 * (target - current)
        } else {
            6 * (current - target)
        };
        // Not the last two records: the run ends right after its last one
        // (a scale-in has no health wait), and the kill must beat the exit.
        let kill_after = steps() + rng.random_range(1..(records as u64 - 2));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "kill9_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CREST_E2E_CFG", &cfg)
            .env("CREST_E2E_N", target.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut at = 0;
        for _ in 0..30_000 {
            at = steps();
            if at >= kill_after || child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // Let plugin processes orphaned by the kill finish their call.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let fleet = env.fleet(env.options()).await;
        let r = fleet
            .scale(&app, u32::try_from(target).unwrap(), None)
            .await
            .unwrap();
        assert!(r.failed.is_empty(), "trial {trial}: {r:?}");
        assert_consistent(&env, &fleet, &app, target).await;
        eprintln!(
            "trial {trial}: {current} -> {target}, killed after journal record {at} (aimed at \
             {kill_after}); torn down {:?}, released {:?}, unhealthy {:?}",
            r.reconcile.torn_down, r.reconcile.released_ips, r.unhealthy
        );
        current = target;
    }
    eprintln!("{killed_mid_run} of {trials} trials killed crest mid-run");
    // A kill aimed two records before the end can still lose the race with
    // the run's exit on a loaded machine; at least 20 must land mid-run.
    assert!(
        killed_mid_run >= trials.min(20),
        "only {killed_mid_run} of {trials} kills landed mid-run"
    );
    let fleet = env.fleet(env.options()).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
    // A kill while containerd created or deleted a task can leave its shim
    // running with nothing in it; reconciliation reaps those.
    assert_eq!(shims_left(&env).await, 0, "no shim outlives its container");
    // A container's network namespace is its task's (never bind-mounted), so
    // it dies with the last process in it: none may be left after the trials.
    let mut leaked = Vec::new();
    for _ in 0..50 {
        leaked = net_namespaces()
            .difference(&namespaces_before)
            .cloned()
            .collect();
        if leaked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        leaked.is_empty(),
        "network namespaces left behind: {leaked:?}"
    );
}

/// Every network namespace some process is in (`net:[inode]`).
fn net_namespaces() -> BTreeSet<String> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .filter_map(|e| std::fs::read_link(e.path().join("ns/net")).ok())
                .map(|l| l.to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Shims of this test's containerd still running after up to 5 s.
async fn shims_left(env: &Env) -> usize {
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = shims_of(env);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_shims_are_reaped_and_live_ones_kept() {
    need_services!();
    let _g = SERIAL.lock().await;
    let env = Env::new("reap", 14);
    let fleet = env.fleet(env.options()).await;
    let app = AppId::try_new("web").unwrap();
    fleet.scale(&app, 2, None).await.unwrap();
    let ids = assert_consistent(&env, &fleet, &app, 2).await;
    // Processes shaped like shims of this containerd and namespace: one
    // started for a container that is gone, one for a live container.
    let fake = |id: &str| {
        let title = format!(
            "/usr/bin/containerd-shim-runc-v2 -namespace {} -id {id} -address {}",
            env.ns,
            env.sock().display()
        );
        Command::new("perl")
            .arg("-e")
            .arg(format!("$0 = \"{title}\"; sleep 60"))
            .spawn()
            .unwrap()
    };
    let mut orphan = fake("web-09999");
    let mut kept = fake(&ids[0]);
    tokio::time::sleep(Duration::from_millis(200)).await; // perl sets its title
    let r = fleet.reconcile(&app).await.unwrap();
    assert_eq!(
        r.reaped,
        vec![format!("shim {} of web-09999", orphan.id())],
        "{r:?}"
    );
    assert!(
        orphan.wait().unwrap().code().is_none(),
        "killed by a signal"
    );
    assert!(
        kept.try_wait().unwrap().is_none(),
        "a live container's shim stays"
    );
    let _ = kept.kill();
    let _ = kept.wait();
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
    assert_eq!(shims_left(&env).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_warm_pool_avoids_churn() {
    need_services!();
    let _g = SERIAL.lock().await;
    let env = Env::new("cron", 5);
    let app = AppId::try_new("job").unwrap();
    let rt = ContainerdRuntime::connect(env.ctd_config(), WallClock)
        .await
        .unwrap();
    let job: Vec<String> = ["/bin/sh", "-c", "echo run > /dev/null"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let runs = 40;
    let cold =
        crest_actuator::cron::run_cold(&rt.with_command(job.clone()), &WallClock, &app, runs)
            .await
            .unwrap();
    let idle = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done".to_string(),
    ];
    let warm =
        crest_actuator::cron::run_warm(&rt.with_command(idle), &WallClock, &app, 2, runs, &job)
            .await
            .unwrap();
    eprintln!("cron churn: {}", serde_json::to_string(&cold).unwrap());
    eprintln!("cron churn: {}", serde_json::to_string(&warm).unwrap());
    assert_eq!((cold.failed_runs, warm.failed_runs), (0, 0));
    assert_eq!(cold.containers_created, runs);
    assert_eq!(warm.containers_created, 2);
    assert!(
        warm.runs_ms < cold.runs_ms,
        "warm {} ms vs cold {} ms",
        warm.runs_ms,
        cold.runs_ms
    );
    assert!(env.ctr(&["containers", "ls", "-q"]).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_socket_gone_mid_scale_out_ends_consistent() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("lbgone", 6);
    env.start_haproxy("web");
    let mut opts = env.options();
    opts.concurrency = 2;
    opts.retry = RetryPolicy {
        attempts: 3,
        base_ms: 50,
        max_ms: 200,
    };
    let fleet = env.fleet(opts).await;
    let app = AppId::try_new("web").unwrap();
    fleet.scale(&app, 3, None).await.unwrap();
    let f2 = fleet.clone();
    let a2 = app.clone();
    let job = tokio::spawn(async move { f2.scale(&a2, 10, None).await });
    // Pull the socket as soon as the first new instance is registered: with
    // concurrency 2, at least five of the seven starts are still to come, so
    // the outage always lands mid-scale-out (a fixed sleep raced a fast machine).
    let lb = HaproxyLb::new(&env.lb_config().unwrap());
    for _ in 0..2000 {
        let n = lb.servers("web").await.map_or(0, |s| s.len());
        if n > 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sock = env.haproxy.as_ref().unwrap().socket.clone();
    std::fs::remove_file(&sock).unwrap();
    let r = job.await.unwrap().unwrap();
    eprintln!(
        "socket gone: started {}, failed {}",
        r.started.len(),
        r.failed.len()
    );
    assert!(
        !r.failed.is_empty(),
        "the vanished socket must show up as failures"
    );
    assert!(
        r.failed.values().any(|e| e.contains("haproxy")),
        "{:?}",
        r.failed
    );
    // HAProxy comes back empty (a restart loses runtime servers); the next
    // scale re-registers running instances and finishes half-done ones.
    env.haproxy.as_mut().unwrap().restart().unwrap();
    let r = fleet.scale(&app, 10, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert!(!r.reconcile.reregistered.is_empty(), "{r:?}");
    assert_consistent(&env, &fleet, &app, 10).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

/// Host mounts under this test's containerd root.
fn host_mounts_under(root: &Path) -> usize {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&root))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_rootfs_is_shared_serves_and_adds_no_host_mount() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("rofs", 7);
    env.start_haproxy("web");
    let mut ctd = env.ctd_config();
    ctd.rootfs = RootfsMode::Readonly;
    let fleet = env.fleet_with(ctd, env.cni_config(), env.options()).await;
    let app = AppId::try_new("web").unwrap();
    let before = host_mounts_under(&env.path("root"));

    let r = fleet.scale(&app, 6, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    let ids = assert_consistent(&env, &fleet, &app, 6).await;
    assert_eq!(
        host_mounts_under(&env.path("root")),
        before,
        "six containers on a shared read-only root add no host mount"
    );
    // They serve: HAProxy's health checks pass through the bridge.
    assert_eq!(
        servers_up(&env, "web", 6).await,
        6,
        "every container serves HTTP"
    );
    // The image cannot be changed from inside; scratch space is writable.
    let rt = fleet.runtime();
    let sh = |c: &str| vec!["/bin/sh".to_string(), "-c".to_string(), c.to_string()];
    assert_ne!(
        rt.exec(&ids[0], "w-root", &sh("echo x > /www/x"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        rt.exec(&ids[0], "w-tmp", &sh("echo x > /tmp/x"))
            .await
            .unwrap(),
        0
    );
    // No per-container snapshot: only the image's and its shared view.
    let snaps = env.ctr(&["snapshots", "ls"]);
    assert!(
        !snaps.lines().any(|l| l.starts_with("web-")),
        "no per-container snapshot: {snaps}"
    );

    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_ipam_overflows_and_survives_a_shard_size_change() {
    need_services!();
    let _g = SERIAL.lock().await;
    let env = Env::new("shard", 8);
    // 29 usable addresses in four host-local stores of 8, 8, 8 and 5: 24
    // containers cannot all stay in the shard their id hashes to.
    let mut cni = env.cni_config();
    cni.subnet = "10.215.8.0/27".into();
    cni.ipam_shard_size = 8;
    let net = CniNetwork::new(cni.clone()).unwrap();
    assert_eq!(net.shards().len(), 4);
    let mut ctd = env.ctd_config();
    ctd.rootfs = RootfsMode::Readonly;
    let fleet = env
        .fleet_with(ctd.clone(), cni.clone(), env.options())
        .await;
    let app = AppId::try_new("web").unwrap();
    let r = fleet.scale(&app, 24, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    let ids = assert_consistent(&env, &fleet, &app, 24).await;
    let allocs = net.allocations().await.unwrap();
    let in_shard = |ip: &str, k: usize| {
        let ip: std::net::Ipv4Addr = ip.parse().unwrap();
        let s = &net.shards()[k];
        s.first <= ip && ip <= s.last
    };
    let away = ids
        .iter()
        .filter(|id| !in_shard(&allocs[*id][0], net.home_shard(id)))
        .count();
    assert!(away > 0, "some containers overflowed their home shard");
    for k in 0..4 {
        let dir = env.path("cni").join(&net.shards()[k].name);
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("10."))
            .count();
        assert!(files <= net.shards()[k].size() as usize, "{dir:?}");
    }
    // Scale in through a config with one store: the addresses live in the
    // four old stores and are all released there.
    drop(fleet);
    cni.ipam_shard_size = 256;
    let fleet = env.fleet_with(ctd, cni, env.options()).await;
    let r = fleet.scale(&app, 10, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_consistent(&env, &fleet, &app, 10).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

/// Shim processes serving this test's containerd.
fn shims_of(env: &Env) -> usize {
    let addr = format!("-address {}", env.sock().display());
    let out = Command::new("ps")
        .args(["-C", "containerd-shim-runc-v2", "-o", "args="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&addr))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_shims_are_one_per_group_and_exit_when_empty() {
    need_services!();
    let _g = SERIAL.lock().await;
    let env = Env::new("shims", 9);
    let mut ctd = env.ctd_config();
    ctd.shim_group_size = 8;
    ctd.rootfs = RootfsMode::Readonly;
    let mut opts = env.options();
    opts.concurrency = 48;
    let fleet = env.fleet_with(ctd, env.cni_config(), opts).await;
    let app = AppId::try_new("web").unwrap();
    // web-00001..web-00047 fall in groups 0..=5 (seq / 8), all started at
    // once: six shims, not one per racing first create of a group.
    let r = fleet.scale(&app, 47, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_consistent(&env, &fleet, &app, 47).await;
    assert_eq!(shims_of(&env), 6, "one shim per group");
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
    assert_eq!(
        shims_left(&env).await,
        0,
        "every shim exits with its last container"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_down_during_scale_in_stops_nothing_it_may_route_to() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("lbdown", 10);
    env.start_haproxy("web");
    let mut opts = env.options();
    opts.retry = RetryPolicy {
        attempts: 2,
        base_ms: 20,
        max_ms: 50,
    };
    let fleet = env.fleet(opts).await;
    let app = AppId::try_new("web").unwrap();
    fleet.scale(&app, 6, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 6).await;
    // HAProxy dies (kill -9): it cannot be asked to drain anything.
    let pid = env.haproxy.as_ref().unwrap().pid().to_string();
    Command::new("kill").args(["-9", &pid]).status().unwrap();
    let r = fleet.scale(&app, 2, None).await.unwrap();
    assert_eq!(r.failed.len(), 4, "{r:?}");
    assert!(r.stopped.is_empty(), "{r:?}");
    assert!(
        r.failed.values().all(|e| e.contains("drain")),
        "{:?}",
        r.failed
    );
    // No container was stopped while the balancer might still send it traffic.
    let containers = fleet.runtime().list(None).await.unwrap();
    assert_eq!(containers.len(), 6);
    assert!(
        containers.iter().all(|c| c.status == TaskStatus::Running),
        "{containers:?}"
    );
    // HAProxy is back, empty: the next scale finishes the scale-in and
    // registers the survivors again.
    env.haproxy.as_mut().unwrap().restart().unwrap();
    let r = fleet.scale(&app, 2, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_consistent(&env, &fleet, &app, 2).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

/// Puts the host's neighbour-table limits back as they were.
struct NeighRestore(Vec<(PathBuf, String)>);

impl Drop for NeighRestore {
    fn drop(&mut self) {
        // gc_thresh2 first, then gc_thresh3: never leave 3 below 2.
        for (p, v) in &self.0 {
            let _ = std::fs::write(p, v);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_fits_the_neighbour_table_to_the_bridge() {
    need_services!();
    let _g = SERIAL.lock().await;
    let dir = Path::new("/proc/sys/net/ipv4/neigh/default");
    let read = |k: &str| -> u32 {
        std::fs::read_to_string(dir.join(k))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let _restore = NeighRestore(
        ["gc_thresh2", "gc_thresh3"]
            .iter()
            .map(|k| (dir.join(k), read(k).to_string()))
            .collect(),
    );
    // The kernel's defaults, as on a fresh machine.
    std::fs::write(dir.join("gc_thresh2"), "512").unwrap();
    std::fs::write(dir.join("gc_thresh3"), "1024").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cfg = |subnet: &str, fit: bool| CniConfig {
        cni_path: PathBuf::from("/usr/lib/cni"),
        name: "neigh".into(),
        bridge: format!("crn{}", std::process::id() % 10_000),
        subnet: subnet.into(),
        data_dir: tmp.path().to_path_buf(),
        ifname: "eth0".into(),
        ipam_shard_size: 256,
        fit_neighbour_table: fit,
        kind: NetworkKind::Bridge,
        master: None,
    };
    // A /24 fits the defaults: nothing changes.
    let small = CniNetwork::new(cfg("10.215.11.0/24", true)).unwrap();
    assert!(small.prepare().await.unwrap().is_empty());
    // Opted out: nothing changes either.
    let off = CniNetwork::new(cfg("10.215.16.0/21", false)).unwrap();
    assert!(off.prepare().await.unwrap().is_empty());
    assert_eq!((read("gc_thresh2"), read("gc_thresh3")), (512, 1024));
    // A /21 (2,045 addresses, a bridge takes 1,024 ports) does not fit.
    let big = CniNetwork::new(cfg("10.215.16.0/21", true)).unwrap();
    let changed = big.prepare().await.unwrap();
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(
        changed[0].contains("gc_thresh3 from 1024 to 2560"),
        "{changed:?}"
    );
    assert_eq!((read("gc_thresh2"), read("gc_thresh3")), (1280, 2560));
    // Idempotent.
    assert!(big.prepare().await.unwrap().is_empty());
    big.teardown_bridge().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_never_pass_health_checks_are_reported() {
    need_services!();
    let _g = SERIAL.lock().await;
    let mut env = Env::new("unhealthy", 12);
    env.start_haproxy("web");
    // Runs, but serves nothing on the registered port.
    let mut ctd = env.ctd_config();
    ctd.command = [
        "/bin/sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 1; done",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut opts = env.options();
    opts.health_wait_ms = 1_500;
    let fleet = env.fleet_with(ctd, env.cni_config(), opts).await;
    let app = AppId::try_new("web").unwrap();
    let r = fleet.scale(&app, 3, None).await.unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(r.unhealthy, r.started, "{r:?}");
    assert_eq!(r.unhealthy.len(), 3);
    // Kept, running and registered: a slow starter may yet pass.
    assert_consistent(&env, &fleet, &app, 3).await;
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_gives_each_container_an_address_on_the_nic_network() {
    need_services!();
    let _g = SERIAL.lock().await;
    // The test's own "NIC": one end of a veth pair (nothing leaves the host).
    let nic = format!("crm{}", std::process::id() % 10_000);
    let peer = format!("{nic}p");
    let ip = |args: &[&str]| Command::new("ip").args(args).status().unwrap().success();
    assert!(ip(&[
        "link", "add", &nic, "type", "veth", "peer", "name", &peer
    ]));
    struct DelLink(String);
    impl Drop for DelLink {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["link", "del", &self.0]).status();
        }
    }
    let _nic = DelLink(nic.clone());
    assert!(ip(&["link", "set", &nic, "up"]) && ip(&["link", "set", &peer, "up"]));

    let mut env = Env::new("macvlan", 13);
    env.start_haproxy("web");
    let mut cni = env.cni_config();
    cni.kind = NetworkKind::Macvlan;
    cni.master = Some(nic.clone());
    let fleet = env.fleet_with(env.ctd_config(), cni, env.options()).await;
    let app = AppId::try_new("web").unwrap();
    let r = fleet.scale(&app, 4, None).await.unwrap();
    assert!(r.failed.is_empty() && r.unhealthy.is_empty(), "{r:?}");
    let ids = assert_consistent(&env, &fleet, &app, 4).await;
    // Each container is a macvlan of the NIC, not a veth on a bridge; the
    // host reaches it through crest's own macvlan (HAProxy's checks passed).
    let links = String::from_utf8(
        Command::new("ip")
            .args(["-d", "link", "show", "dev", &env.cni_config().bridge])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(links.contains("macvlan mode bridge"), "{links}");
    let pid = fleet
        .runtime()
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == ids[0])
        .and_then(|c| c.pid)
        .unwrap();
    let inside = String::from_utf8(
        Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-n",
                "ip",
                "-d",
                "link",
                "show",
                "eth0",
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(inside.contains("macvlan"), "{inside}");
    assert!(
        !String::from_utf8_lossy(
            &Command::new("ip")
                .args(["link", "show", "cni0"])
                .output()
                .unwrap()
                .stdout
        )
        .contains("cni0"),
        "no bridge was made"
    );
    fleet.scale(&app, 0, None).await.unwrap();
    assert_consistent(&env, &fleet, &app, 0).await;
    // A macvlan network needs its NIC: said at construction, naming the field.
    let mut bad = env.cni_config();
    bad.kind = NetworkKind::Macvlan;
    assert!(CniNetwork::new(bad).unwrap_err().contains("network.master"));
}
