//! One IP per container through the CNI plugin binaries (bridge + host-local).
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
    /// Linux bridge to create and attach to.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// Subnet in CIDR form; the first address goes to the host side of the
    /// bridge, the rest to containers.
    pub subnet: String,
    /// host-local's state directory.
    pub data_dir: PathBuf,
    /// Interface name inside the container.
    #[serde(default = "default_ifname")]
    pub ifname: String,
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

/// The CNI network backend.
#[derive(Debug, Clone)]
pub struct CniNetwork {
    cfg: CniConfig,
    subnet: Subnet,
    netconf: String,
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
        let gw = subnet.gateway();
        let start = Ipv4Addr::from(u32::from(gw) + 1);
        let netconf = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": cfg.name,
            "type": "bridge",
            "bridge": cfg.bridge,
            "isGateway": false,
            "isDefaultGateway": false,
            "ipMasq": false,
            "hairpinMode": false,
            "ipam": {
                "type": "host-local",
                "dataDir": cfg.data_dir,
                "ranges": [[{
                    "subnet": format!("{}/{}", subnet.addr, subnet.prefix),
                    "rangeStart": start.to_string(),
                    "gateway": gw.to_string(),
                }]],
                "routes": [],
            }
        })
        .to_string();
        Ok(CniNetwork {
            cfg,
            subnet,
            netconf,
        })
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
    /// host (HAProxy) reaches the containers without any gateway or forwarding.
    ///
    /// # Errors
    /// [`SeamError`] when `ip` fails.
    pub async fn prepare(&self) -> Result<(), SeamError> {
        let br = &self.cfg.bridge;
        let exists = run_ip(&["link", "show", "dev", br]).await.is_ok();
        if !exists {
            // A concurrent crest may have won the race; "exists" is fine.
            if let Err(e) = run_ip(&["link", "add", "name", br, "type", "bridge"]).await
                && run_ip(&["link", "show", "dev", br]).await.is_err()
            {
                return Err(e);
            }
        }
        let addr = format!("{}/{}", self.subnet.gateway(), self.subnet.prefix);
        run_ip(&["addr", "replace", &addr, "dev", br]).await?;
        run_ip(&["link", "set", "dev", br, "up"]).await?;
        Ok(())
    }

    /// Delete the bridge (the plugins never do).
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

    fn state_dir(&self) -> PathBuf {
        self.cfg.data_dir.join(&self.cfg.name)
    }

    async fn invoke(&self, command: &str, id: &str, netns: &str) -> Result<Vec<u8>, SeamError> {
        let plugin = self.cfg.cni_path.join("bridge");
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
            stdin
                .write_all(self.netconf.as_bytes())
                .await
                .map_err(|e| {
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
            format!(
                "failed to {command} container {id} on network {}: {msg}",
                self.cfg.name
            ),
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
        let out = self.invoke("ADD", id, netns).await?;
        let res: CniResult = serde_json::from_slice(&out).map_err(|e| {
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

    async fn detach(&self, id: &str, netns: Option<&str>) -> Result<(), SeamError> {
        self.invoke("DEL", id, netns.unwrap_or(""))
            .await
            .map(|_| ())
    }

    async fn allocations(&self) -> Result<BTreeMap<String, Vec<String>>, SeamError> {
        read_allocations(&self.state_dir())
    }
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

    #[test]
    fn netconf_has_no_gateway_role_and_no_routes() {
        let n = CniNetwork::new(CniConfig {
            cni_path: default_cni_path(),
            name: "t".into(),
            bridge: "t0".into(),
            subnet: "10.213.0.0/24".into(),
            data_dir: PathBuf::from("/tmp/x"),
            ifname: "eth0".into(),
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&n.netconf).unwrap();
        assert_eq!(v["isGateway"], false);
        assert_eq!(v["ipMasq"], false);
        assert_eq!(v["ipam"]["routes"], serde_json::json!([]));
        assert_eq!(v["ipam"]["ranges"][0][0]["rangeStart"], "10.213.0.2");
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
