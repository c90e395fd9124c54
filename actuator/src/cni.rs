//! One IP per container through the CNI plugin binaries: `bridge` (a Linux
//! bridge on the host, veth pairs) or `macvlan` (containers as MAC addresses
//! on a real NIC, so each IP is routable on the NIC's flat network), both
//! with `host-local` IPAM.
//!
//! The host reaches the containers through its own interface on the network,
//! named by `bridge` and holding the subnet's first address: the Linux bridge
//! itself, or for macvlan a macvlan of crest's on the master NIC (a host
//! cannot talk to its macvlan children through the master, only through a
//! sibling macvlan). HAProxy's health checks come from that address.
//!
//! crest calls the plugins exactly as a container runtime does (the CNI spec's
//! environment variables and the network config on stdin), in the network
//! namespace containerd created for the container's task
//! (`/proc/<pid>/ns/net`): crest hands out addresses only inside namespaces it
//! asked for. `isGateway` is off and IPAM has no default route, so a container
//! can reach the host's bridge address (where HAProxy's health checks come
//! from) and its neighbours, and nothing beyond the machine; IP forwarding is
//! never touched.
//!
//! host-local keeps one file per handed-out address in its `dataDir`, named by
//! the IP and holding the container id. That directory is the truth about
//! allocations: [`CniNetwork::allocations`] reads it, so reconciliation after a
//! crash can release every address whose container no longer exists.
//!
//! host-local reads *every* file of its store, under one lock, on each ADD
//! (is this container already allocated?) and each DEL (which file is it?):
//! with N addresses out, a call costs O(N) and all calls queue on the lock, so
//! a 0 -> 1,000 -> 0 scale does a million file reads in a single line. crest
//! therefore splits the subnet into shards of `ipam_shard_size` addresses,
//! each its own host-local store (network `<name>.s<k>`, its own directory
//! and lock) over a disjoint `rangeStart..rangeEnd` of the same subnet on the
//! same bridge: containers still share one L2 network and one prefix. A
//! container goes to the shard its id hashes to (the least-full one when that
//! is full); DEL looks the id up in that shard's files first (crest reads
//! them, without the lock) and scans all shards only when it is not there.
//! Subnets of up to `ipam_shard_size` addresses keep one store named `<name>`.
//!
//! ```text
//!  crest ── CNI_COMMAND=ADD, config on stdin ──► /usr/lib/cni/bridge ──► host-local (dataDir/<net>/<ip>)
//!        ◄── result JSON (ips[0].address) ─────┘   veth pair: bridge <-> eth0 in /proc/<pid>/ns/net
//! ```

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crest_core::seams::{SeamError, SeamErrorKind};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::backend::Network;

const BACKEND: &str = "cni";

/// Settings of the CNI network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CniConfig {
    /// Where the plugin binaries are (`CNI_PATH`).
    #[serde(default = "default_cni_path")]
    pub cni_path: PathBuf,
    /// Network name (host-local keeps its state in `data_dir/<name>`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The host's interface on the network (created by [`CniNetwork::prepare`]):
    /// the Linux bridge (`kind = "bridge"`) or crest's macvlan on `master`.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// How containers are attached.
    #[serde(default)]
    pub kind: NetworkKind,
    /// The NIC macvlan containers hang off (`kind = "macvlan"`).
    #[serde(default)]
    pub master: Option<String>,
    /// Subnet in CIDR form; the first address goes to the host side of the
    /// bridge, the rest to containers.
    pub subnet: String,
    /// host-local's state directory.
    pub data_dir: PathBuf,
    /// Interface name inside the container.
    #[serde(default = "default_ifname")]
    pub ifname: String,
    /// Addresses per host-local store (see the module docs); a subnet with
    /// more usable addresses is split into several stores.
    #[serde(default = "default_shard_size")]
    pub ipam_shard_size: u32,
    /// Raise the host's neighbour-table limits (`gc_thresh2`/`gc_thresh3`)
    /// when they are too small for the bridge's addresses (never lowers them).
    #[serde(default = "default_true")]
    pub fit_neighbour_table: bool,
}

fn default_true() -> bool {
    true
}

/// How containers are attached to the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// A Linux bridge on the host and a veth pair per container (at most
    /// 1,024 containers per bridge).
    #[default]
    Bridge,
    /// A macvlan (bridge mode) per container on the `master` NIC: the
    /// container is a MAC of its own on the NIC's network, its IP routable
    /// there (a flat, VLAN-style network) with no bridge or veth on the host.
    Macvlan,
}

/// A Linux bridge takes at most this many ports (`BR_MAX_PORTS`).
pub const BRIDGE_MAX_PORTS: u32 = 1024;

/// The neighbour-table limits (`gc_thresh2`, `gc_thresh3`) a host needs to
/// reach `addresses` containers on one bridge, given the current ones; `None`
/// when they already fit.
///
/// The host keeps one ARP entry per container it talks to (HAProxy's health
/// checks talk to all of them). Above `gc_thresh2` (512 by default) the kernel
/// evicts entries within seconds and above `gc_thresh3` (1,024) it refuses new
/// ones: measured here, 1,000 containers registered and only 494 passed their
/// health checks. Headroom of 256 is kept for the host's other neighbours.
pub fn neighbour_limits(addresses: u32, thresh2: u32, thresh3: u32) -> Option<(u32, u32)> {
    let need2 = addresses.saturating_add(256);
    let new2 = thresh2.max(need2);
    // The hard limit stays at twice the need, and never below the soft one.
    let need3 = (2 * need2).max(new2);
    (thresh2 < need2 || thresh3 < need3).then(|| (new2, thresh3.max(need3)))
}

const NEIGH: &str = "/proc/sys/net/ipv4/neigh/default";

fn default_shard_size() -> u32 {
    256
}

fn default_cni_path() -> PathBuf {
    PathBuf::from("/usr/lib/cni")
}
fn default_name() -> String {
    "crest".into()
}
fn default_bridge() -> String {
    "crest0".into()
}
fn default_ifname() -> String {
    "eth0".into()
}

/// A parsed IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Subnet {
    /// Parse `a.b.c.d/p` (IPv4, prefix 8..=30).
    ///
    /// # Errors
    /// A message naming what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("expected a.b.c.d/prefix, found {s:?}"))?;
        let addr: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("expected an IPv4 address, found {a:?}"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("expected a prefix length, found {p:?}"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "expected a prefix length in 8..=30, found {prefix}"
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    /// The first host address (the bridge's, on the host side).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// Usable container addresses.
    pub fn capacity(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 3
    }
}

/// One host-local store: a network name and its slice of the subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// CNI network name (host-local's directory under `data_dir`).
    pub name: String,
    /// First address handed out.
    pub first: Ipv4Addr,
    /// Last address handed out.
    pub last: Ipv4Addr,
    netconf: String,
}

impl Shard {
    /// Addresses in the shard.
    pub fn size(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }
}

/// Split the usable addresses of `subnet` (after the bridge's) into
/// consecutive shards of at most `size` addresses; one shard named `name`
/// when they all fit in one.
pub fn shard_ranges(subnet: Subnet, name: &str, size: u32) -> Vec<(String, Ipv4Addr, Ipv4Addr)> {
    let first = u32::from(subnet.gateway()) + 1;
    let last = first + subnet.capacity() - 1;
    let size = size.max(1);
    let count = subnet.capacity().div_ceil(size);
    (0..count)
        .map(|k| {
            let lo = first + k * size;
            let hi = last.min(lo + (size - 1));
            let n = if count == 1 {
                name.to_string()
            } else {
                format!("{name}.s{k}")
            };
            (n, Ipv4Addr::from(lo), Ipv4Addr::from(hi))
        })
        .collect()
}

/// The network config host-local and bridge get on stdin for one store.
fn netconf(cfg: &CniConfig, subnet: Subnet, name: &str, first: Ipv4Addr, last: Ipv4Addr) -> String {
    let mut conf = match cfg.kind {
        NetworkKind::Bridge => serde_json::json!({
            "type": "bridge",
            "bridge": cfg.bridge,
            "isGateway": false,
            "isDefaultGateway": false,
            "ipMasq": false,
            "hairpinMode": false,
        }),
        NetworkKind::Macvlan => serde_json::json!({
            "type": "macvlan",
            "master": cfg.master.clone().unwrap_or_default(),
            "mode": "bridge",
        }),
    };
    conf["cniVersion"] = "1.0.0".into();
    conf["name"] = name.into();
    conf["ipam"] = serde_json::json!({
            "type": "host-local",
            "dataDir": cfg.data_dir,
            "ranges": [[{
                "subnet": format!("{}/{}", subnet.addr, subnet.prefix),
                "rangeStart": first.to_string(),
                "rangeEnd": last.to_string(),
                "gateway": subnet.gateway().to_string(),
            }]],
            "routes": [],
    });
    conf.to_string()
}

/// The CNI network backend.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    cfg: CniConfig,
    subnet: Subnet,
    shards: Vec<Shard>,
}

#[derive(Deserialize)]
struct CniResult {
    #[serde(default)]
    ips: Vec<CniIp>,
}

#[derive(Deserialize)]
struct CniIp {
    address: String,
}

#[derive(Deserialize)]
struct CniErr {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

impl CniNetwork {
    /// A network from its settings.
    ///
    /// # Errors
    /// A message when the subnet does not parse.
    pub fn new(cfg: CniConfig) -> Result<Self, String> {
        let subnet = Subnet::parse(&cfg.subnet).map_err(|e| format!("network.subnet: {e}"))?;
        if cfg.ipam_shard_size == 0 {
            return Err("network.ipam_shard_size: expected at least 1".into());
        }
        if cfg.kind == NetworkKind::Macvlan && cfg.master.as_deref().is_none_or(str::is_empty) {
            return Err(
                "network.master: expected the NIC macvlan containers attach to (kind = \"macvlan\")"
                    .into(),
            );
        }
        let shards = shard_ranges(subnet, &cfg.name, cfg.ipam_shard_size)
            .into_iter()
            .map(|(name, first, last)| {
                let netconf = netconf(&cfg, subnet, &name, first, last);
                Shard {
                    name,
                    first,
                    last,
                    netconf,
                }
            })
            .collect();
        Ok(CniNetwork {
            cfg,
            subnet,
            shards,
        })
    }

    /// The host-local stores, in address order.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shard container `id` goes to first (FNV-1a of the id: stable
    /// across runs and versions, unlike std's hasher).
    pub fn home_shard(&self, id: &str) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        usize::try_from(h % self.shards.len() as u64).unwrap_or(0)
    }

    /// The settings.
    pub fn config(&self) -> &CniConfig {
        &self.cfg
    }

    /// The subnet.
    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// Create the bridge with the host's address on it (idempotent), so the
    /// host (HAProxy) reaches the containers without any gateway or forwarding,
    /// and (with `fit_neighbour_table`) make the host's neighbour table big
    /// enough for the subnet. Returns the host settings it changed, for the
    /// operator to see.
    ///
    /// # Errors
    /// [`SeamError`] when `ip` fails or a limit cannot be read or written.
    pub async fn prepare(&self) -> Result<Vec<String>, SeamError> {
        let br = &self.cfg.bridge;
        let exists = run_ip(&["link", "show", "dev", br]).await.is_ok();
        if !exists {
            let master = self.cfg.master.as_deref().unwrap_or_default();
            let add: &[&str] = match self.cfg.kind {
                NetworkKind::Bridge => &["link", "add", "name", br, "type", "bridge"],
                NetworkKind::Macvlan => &[
                    "link", "add", "name", br, "link", master, "type", "macvlan", "mode", "bridge",
                ],
            };
            // A concurrent crest may have won the race; "exists" is fine.
            if let Err(e) = run_ip(add).await
                && run_ip(&["link", "show", "dev", br]).await.is_err()
            {
                return Err(e);
            }
        }
        let addr = format!("{}/{}", self.subnet.gateway(), self.subnet.prefix);
        run_ip(&["addr", "replace", &addr, "dev", br]).await?;
        run_ip(&["link", "set", "dev", br, "up"]).await?;
        if self.cfg.fit_neighbour_table {
            self.fit_neighbour_table()
        } else {
            Ok(Vec::new())
        }
    }

    fn fit_neighbour_table(&self) -> Result<Vec<String>, SeamError> {
        let path = |k: &str| PathBuf::from(NEIGH).join(k);
        let read = |k: &str| -> Result<u32, SeamError> {
            let p = path(k);
            std::fs::read_to_string(&p)
                .map_err(|e| {
                    SeamError::new(
                        BACKEND,
                        SeamErrorKind::Rejected,
                        format!("failed to read {}", p.display()),
                    )
                    .with_source(e)
                })?
                .trim()
                .parse()
                .map_err(|_| {
                    SeamError::new(
                        BACKEND,
                        SeamErrorKind::Protocol,
                        format!("failed to parse {}", p.display()),
                    )
                })
        };
        let (t2, t3) = (read("gc_thresh2")?, read("gc_thresh3")?);
        let addresses = match self.cfg.kind {
            NetworkKind::Bridge => self.subnet.capacity().min(BRIDGE_MAX_PORTS),
            NetworkKind::Macvlan => self.subnet.capacity(),
        };
        let Some((n2, n3)) = neighbour_limits(addresses, t2, t3) else {
            return Ok(Vec::new());
        };
        let mut changed = Vec::new();
        // thresh3 first: it must never end below thresh2.
        for (k, old, new) in [("gc_thresh3", t3, n3), ("gc_thresh2", t2, n2)] {
            if new == old {
                continue;
            }
            let p = path(k);
            std::fs::write(&p, new.to_string()).map_err(|e| {
                SeamError::new(
                    BACKEND,
                    SeamErrorKind::Rejected,
                    format!("failed to raise {} to {new}", p.display()),
                )
                .with_source(e)
            })?;
            changed.push(format!(
                "raised net.ipv4.neigh.default.{k} from {old} to {new} for the {addresses} \
                 addresses of {}",
                self.cfg.subnet
            ));
        }
        Ok(changed)
    }

    /// Delete the host's interface on the network: the bridge, or crest's
    /// macvlan (the plugins never do).
    ///
    /// # Errors
    /// [`SeamError`] when `ip` fails for another reason than a missing bridge.
    pub async fn teardown_bridge(&self) -> Result<(), SeamError> {
        if run_ip(&["link", "show", "dev", &self.cfg.bridge])
            .await
            .is_ok()
        {
            run_ip(&["link", "del", "dev", &self.cfg.bridge]).await?;
        }
        Ok(())
    }

    fn shard_dir(&self, k: usize) -> PathBuf {
        self.cfg.data_dir.join(&self.shards[k].name)
    }

    /// Every host-local store of this network under `data_dir`, including
    /// ones left by an earlier shard size: `<name>` and `<name>.s<k>`.
    fn store_dirs(&self) -> Result<Vec<PathBuf>, SeamError> {
        let entries = match std::fs::read_dir(&self.cfg.data_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(SeamError::new(
                    BACKEND,
                    SeamErrorKind::Unavailable,
                    format!("failed to read {}", self.cfg.data_dir.display()),
                )
                .with_source(e));
            }
        };
        let prefix = format!("{}.s", self.cfg.name);
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n == self.cfg.name
                    || n.strip_prefix(&prefix)
                        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|e| e.path())
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Addresses handed out per shard (file names only, no reads).
    fn shard_fill(&self, k: usize) -> u32 {
        std::fs::read_dir(self.shard_dir(k)).map_or(0, |d| {
            let n = d
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().parse::<Ipv4Addr>().is_ok())
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
    }

    /// The order in which to try shards for a new container: its home shard,
    /// then (when that is full) the others, least full first.
    fn shard_order(&self, id: &str) -> Vec<usize> {
        let home = self.home_shard(id);
        if self.shards.len() == 1 || self.shard_fill(home) < self.shards[home].size() {
            let n = self.shards.len();
            return (0..n).map(|i| (home + i) % n).collect();
        }
        let mut rest: Vec<(u32, usize)> = (0..self.shards.len())
            .filter(|&k| k != home)
            .map(|k| (self.shard_fill(k), k))
            .collect();
        rest.sort_unstable();
        rest.into_iter().map(|(_, k)| k).chain([home]).collect()
    }

    async fn invoke(
        &self,
        shard: usize,
        command: &str,
        id: &str,
        netns: &str,
    ) -> Result<Vec<u8>, SeamError> {
        let s = &self.shards[shard];
        self.invoke_with(&s.netconf, &s.name, command, id, netns)
            .await
    }

    async fn invoke_with(
        &self,
        netconf: &str,
        net_name: &str,
        command: &str,
        id: &str,
        netns: &str,
    ) -> Result<Vec<u8>, SeamError> {
        let plugin = self.cfg.cni_path.join(match self.cfg.kind {
            NetworkKind::Bridge => "bridge",
            NetworkKind::Macvlan => "macvlan",
        });
        let mut child = tokio::process::Command::new(&plugin)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", &self.cfg.ifname)
            .env("CNI_PATH", &self.cfg.cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                SeamError::new(
                    BACKEND,
                    SeamErrorKind::Rejected,
                    format!("failed to run CNI plugin {}", plugin.display()),
                )
                .with_source(e)
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(netconf.as_bytes()).await.map_err(|e| {
                SeamError::new(
                    BACKEND,
                    SeamErrorKind::Unavailable,
                    "failed to write CNI config",
                )
                .with_source(e)
            })?;
        }
        let out = child.wait_with_output().await.map_err(|e| {
            SeamError::new(
                BACKEND,
                SeamErrorKind::Unavailable,
                "failed to wait for CNI plugin",
            )
            .with_source(e)
        })?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let (kind, msg) = match serde_json::from_slice::<CniErr>(&out.stdout) {
            Ok(e) => {
                let kind = match e.code {
                    11 => SeamErrorKind::Unavailable, // "try again later"
                    _ if e.msg.contains("no IP addresses available") => SeamErrorKind::Exhausted,
                    _ => SeamErrorKind::Rejected,
                };
                (kind, format!("code {}: {} {}", e.code, e.msg, e.details))
            }
            Err(_) => (
                SeamErrorKind::Rejected,
                format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
        };
        Err(SeamError::new(
            BACKEND,
            kind,
            format!("failed to {command} container {id} on network {net_name}: {msg}"),
        ))
    }
}

async fn run_ip(args: &[&str]) -> Result<(), SeamError> {
    let out = tokio::process::Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            SeamError::new(BACKEND, SeamErrorKind::Rejected, "failed to run `ip`").with_source(e)
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SeamError::new(
            BACKEND,
            SeamErrorKind::Rejected,
            format!(
                "failed to run `ip {}`: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ))
    }
}

/// Read host-local's state directory: container id -> IPs.
///
/// # Errors
/// [`SeamError`] when the directory exists but cannot be read.
pub fn read_allocations(dir: &Path) -> Result<BTreeMap<String, Vec<String>>, SeamError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(SeamError::new(
                BACKEND,
                SeamErrorKind::Unavailable,
                format!("failed to read {}", dir.display()),
            )
            .with_source(e));
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<std::net::IpAddr>().is_err() {
            continue; // lock, last_reserved_ip.0
        }
        // A file may vanish between listing and reading (a concurrent DEL).
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        let id = text.lines().next().unwrap_or("").trim().to_string();
        out.entry(id).or_default().push(name);
    }
    Ok(out)
}

impl Network for CniNetwork {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn attach(&self, id: &str, netns: &str) -> Result<String, SeamError> {
        let mut last = None;
        for k in self.shard_order(id) {
            match self.invoke(k, "ADD", id, netns).await {
                Ok(out) => return parse_result(id, &out),
                Err(e) if e.kind == SeamErrorKind::Exhausted && self.shards.len() > 1 => {
                    // The bridge plugin made the interface before IPAM said
                    // no: remove it so the next shard can make it again.
                    self.invoke(k, "DEL", id, netns).await?;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            SeamError::new(
                BACKEND,
                SeamErrorKind::Exhausted,
                "no shard to allocate from",
            )
        }))
    }

    async fn detach(&self, id: &str, netns: Option<&str>) -> Result<(), SeamError> {
        let ns = netns.unwrap_or("");
        let home = self.home_shard(id);
        if read_allocations(&self.shard_dir(home))?.contains_key(id) {
            return self.invoke(home, "DEL", id, ns).await.map(|_| ());
        }
        // Not at home: it overflowed, or came from another shard size.
        let mut found = false;
        for dir in self.store_dirs()? {
            if !read_allocations(&dir)?.contains_key(id) {
                continue;
            }
            found = true;
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match self.shards.iter().position(|s| s.name == name) {
                Some(k) => self.invoke(k, "DEL", id, ns).await?,
                // A store of an earlier shard size: host-local releases by
                // container id whatever the range, so any range will do.
                None => {
                    let s = &self.shards[home];
                    let conf = netconf(&self.cfg, self.subnet, &name, s.first, s.last);
                    self.invoke_with(&conf, &name, "DEL", id, ns).await?
                }
            };
        }
        if !found && netns.is_some() {
            // Nothing allocated; DEL still removes the interface.
            self.invoke(home, "DEL", id, ns).await?;
        }
        Ok(())
    }

    async fn allocations(&self) -> Result<BTreeMap<String, Vec<String>>, SeamError> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dir in self.store_dirs()? {
            for (id, ips) in read_allocations(&dir)? {
                out.entry(id).or_default().extend(ips);
            }
        }
        Ok(out)
    }
}

fn parse_result(id: &str, out: &[u8]) -> Result<String, SeamError> {
    let res: CniResult = serde_json::from_slice(out).map_err(|e| {
        SeamError::new(
            BACKEND,
            SeamErrorKind::Protocol,
            format!("failed to parse the CNI result for {id}"),
        )
        .with_source(e)
    })?;
    let addr = res.ips.first().map(|i| i.address.clone()).ok_or_else(|| {
        SeamError::new(
            BACKEND,
            SeamErrorKind::Protocol,
            format!("CNI result for {id} has no IP"),
        )
    })?;
    Ok(addr.split('/').next().unwrap_or(&addr).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_parses_and_masks() {
        let s = Subnet::parse("10.213.7.9/20").unwrap();
        assert_eq!(s.addr, Ipv4Addr::new(10, 213, 0, 0));
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        assert_eq!(s.capacity(), 4093);
        assert!(Subnet::parse("10.0.0.0").is_err());
        assert!(Subnet::parse("10.0.0.0/31").is_err());
        assert!(Subnet::parse("x/20").is_err());
    }

    fn config(name: &str, bridge: &str, subnet: &str) -> CniConfig {
        CniConfig {
            cni_path: default_cni_path(),
            name: name.into(),
            bridge: bridge.into(),
            subnet: subnet.into(),
            data_dir: PathBuf::from("/tmp/x"),
            ifname: "eth0".into(),
            ipam_shard_size: 256,
            fit_neighbour_table: true,
            kind: NetworkKind::Bridge,
            master: None,
        }
    }

    #[test]
    fn macvlan_netconf_hangs_off_the_master_with_the_same_ipam() {
        let mut c = config("flat", "crest-mv0", "10.213.0.0/24");
        c.kind = NetworkKind::Macvlan;
        assert!(
            CniNetwork::new(c.clone())
                .unwrap_err()
                .contains("network.master")
        );
        c.master = Some("eth1".into());
        let n = CniNetwork::new(c).unwrap();
        let v: serde_json::Value = serde_json::from_str(&n.shards()[0].netconf).unwrap();
        assert_eq!(v["type"], "macvlan");
        assert_eq!(v["master"], "eth1");
        assert_eq!(v["mode"], "bridge");
        assert!(v.get("bridge").is_none() && v.get("isGateway").is_none());
        assert_eq!(v["ipam"]["type"], "host-local");
        assert_eq!(v["ipam"]["ranges"][0][0]["gateway"], "10.213.0.1");
    }

    #[test]
    fn netconf_has_no_gateway_role_and_no_routes() {
        let n = CniNetwork::new(config("t", "t0", "10.213.0.0/24")).unwrap();
        assert_eq!(n.shards().len(), 1);
        assert_eq!(n.shards()[0].name, "t");
        let v: serde_json::Value = serde_json::from_str(&n.shards()[0].netconf).unwrap();
        assert_eq!(v["isGateway"], false);
        assert_eq!(v["ipMasq"], false);
        assert_eq!(v["ipam"]["routes"], serde_json::json!([]));
        assert_eq!(v["ipam"]["ranges"][0][0]["rangeStart"], "10.213.0.2");
        assert_eq!(v["ipam"]["ranges"][0][0]["rangeEnd"], "10.213.0.254");
    }

    #[test]
    fn a_big_subnet_is_split_into_stores_on_one_bridge() {
        let n = CniNetwork::new(config("web", "br9", "10.214.0.0/20")).unwrap();
        assert_eq!(n.shards().len(), 16);
        assert_eq!(n.shards()[3].name, "web.s3");
        assert_eq!(n.shards()[15].last, Ipv4Addr::new(10, 214, 15, 254));
        for s in n.shards() {
            let v: serde_json::Value = serde_json::from_str(&s.netconf).unwrap();
            assert_eq!(v["bridge"], "br9");
            assert_eq!(v["ipam"]["ranges"][0][0]["subnet"], "10.214.0.0/20");
        }
        // Ids spread over the shards, and always land in the same one.
        let homes: std::collections::BTreeSet<usize> = (0..200)
            .map(|i| n.home_shard(&format!("web-{i:05}")))
            .collect();
        assert_eq!(homes.len(), 16);
        assert_eq!(n.home_shard("web-00042"), n.home_shard("web-00042"));
        let mut bad = n.config().clone();
        bad.ipam_shard_size = 0;
        assert!(
            CniNetwork::new(bad)
                .unwrap_err()
                .contains("ipam_shard_size")
        );
    }

    #[test]
    fn neighbour_limits_fit_the_bridge_and_never_shrink() {
        // A /24 fits the kernel's defaults (512, 1024).
        assert_eq!(neighbour_limits(253, 512, 1024), None);
        // 1,000 containers do not; a bridge stops at 1,024 ports.
        assert_eq!(neighbour_limits(1024, 512, 1024), Some((1280, 2560)));
        assert_eq!(neighbour_limits(1000, 512, 1024), Some((1256, 2512)));
        // Higher limits an operator set stay.
        assert_eq!(neighbour_limits(4093, 90_000, 100_000), None);
        assert_eq!(neighbour_limits(1024, 90_000, 1024), Some((90_000, 90_000)));
    }

    proptest::proptest! {
        #[test]
        fn shards_tile_the_usable_range_exactly(prefix in 16u8..=30, size in 1u32..600) {
            let subnet = Subnet::parse(&format!("10.0.0.0/{prefix}")).unwrap();
            let shards = shard_ranges(subnet, "n", size);
            let first = u32::from(subnet.gateway()) + 1;
            let mut next = first;
            let mut names = std::collections::BTreeSet::new();
            for (name, lo, hi) in &shards {
                proptest::prop_assert_eq!(u32::from(*lo), next);
                proptest::prop_assert!(lo <= hi);
                proptest::prop_assert!(u32::from(*hi) - u32::from(*lo) < size);
                proptest::prop_assert!(names.insert(name.clone()));
                next = u32::from(*hi) + 1;
            }
            // Up to the broadcast address, excluded.
            proptest::prop_assert_eq!(next - first, subnet.capacity());
            proptest::prop_assert_eq!(shards.len() == 1, subnet.capacity() <= size);
        }
    }

    #[test]
    fn allocations_skip_lock_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("10.1.0.2"), "web-00001\r\neth0").unwrap();
        std::fs::write(d.path().join("10.1.0.3"), "web-00002\r\neth0").unwrap();
        std::fs::write(d.path().join("lock"), "").unwrap();
        std::fs::write(d.path().join("last_reserved_ip.0"), "10.1.0.3").unwrap();
        let a = read_allocations(d.path()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a["web-00001"], vec!["10.1.0.2".to_string()]);
        assert!(
            read_allocations(&d.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
