//! The `crest scale` configuration file (TOML) and the wiring from it to a
//! concrete [`FleetActuator`].
//!
//! ```toml
//! journal = "/var/lib/crest/journal.sqlite"
//! [containerd]                 # ContainerdConfig
//! socket = "/run/containerd/containerd.sock"
//! image = "docker.io/crest/busybox:test"
//! command = ["/bin/sh", "-c", "trap 'exit 0' TERM; busybox httpd -f -p 8080 -h /www & wait"]
//! [network]                    # CniConfig (optional: no network when absent)
//! subnet = "10.213.0.0/20"
//! data_dir = "/var/lib/crest/cni"
//! [haproxy]                    # HaproxyLbConfig (optional: backend = app id)
//! socket = "/run/haproxy/admin.sock"
//! [fleet]                      # FleetOptions (all optional)
//! concurrency = 64
//! ```
//!
//! Or, instead of `[containerd]` (exactly one backend for a real scale), a
//! Mesos framework (`crate::mesos::cli::MesosSection`; the framework id is
//! kept in the journal so each run fails over and adopts the running tasks —
//! tested against a protocol-level double, not a real Mesos master):
//!
//! ```toml
//! journal = "/var/lib/crest/journal.sqlite"
//! [mesos]
//! master = "http://10.0.0.1:5050,http://10.0.0.2:5050"   # any master; 307s lead to the leader
//! role = "crest"
//! cpus = 0.5
//! mem_mb = 128
//! command = "exec /srv/web --port 8080"
//! wait_s = 300                 # longest wait for the tasks to run (shortfall: exit 1)
//! ```
//!
//! `examples/scale.toml` at the repository root lists every option with its
//! default and when to change it.
//!
//! Unknown fields are errors that name the field (serde's path), so a typo
//! never silently falls back to a default.

use std::path::{Path, PathBuf};

use crest_core::{AppId, WallClock};
use serde::{Deserialize, Serialize};

use crate::cni::CniConfig;
#[cfg(feature = "containerd")]
use crate::cni::CniNetwork;
use crate::dryrun::{DryRunLoadBalancer, DryRunNetwork, DryRunRuntime, Sink};
use crate::error::ActuatorError;
use crate::fleet::{FleetActuator, FleetOptions, ScaleReport};
use crate::journal::Journal;
#[cfg(feature = "containerd")]
use crate::lb::HaproxyLb;
use crate::lb::HaproxyLbConfig;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// The journal (SQLite); `--journal` overrides it.
    #[serde(default)]
    pub journal: Option<PathBuf>,
    /// The containerd backend.
    #[cfg(feature = "containerd")]
    #[serde(default)]
    pub containerd: Option<crate::containerd::ContainerdConfig>,
    /// The CNI network (none when absent).
    #[serde(default)]
    pub network: Option<CniConfig>,
    /// The HAProxy load balancer (none when absent).
    #[serde(default)]
    pub haproxy: Option<HaproxyLbConfig>,
    /// Execution options.
    #[serde(default)]
    pub fleet: FleetOptions,
    /// The Mesos backend (instead of `[containerd]`).
    #[cfg(feature = "mesos")]
    #[serde(default)]
    pub mesos: Option<crate::mesos::cli::MesosSection>,
}

impl ScaleConfig {
    /// Read and validate a config file.
    ///
    /// # Errors
    /// [`ActuatorError::Io`] when unreadable, [`ActuatorError::Config`] with
    /// every problem when invalid.
    pub fn load(path: &Path) -> Result<Self, ActuatorError> {
        let text = std::fs::read_to_string(path).map_err(|source| ActuatorError::Io {
            what: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse and validate config text (`path` only names it in errors).
    ///
    /// # Errors
    /// [`ActuatorError::Config`] listing every problem.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ActuatorError> {
        let cfg: ScaleConfig = toml::from_str(text).map_err(|e| ActuatorError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut problems = Vec::new();
        if cfg.fleet.concurrency == 0 {
            problems.push("fleet.concurrency: expected at least 1, found 0".to_string());
        }
        if cfg.fleet.weight == 0 || cfg.fleet.weight > 256 {
            problems.push(format!(
                "fleet.weight: expected 1..=256, found {}",
                cfg.fleet.weight
            ));
        }
        if let Some(n) = &cfg.network
            && let Err(e) = crate::cni::Subnet::parse(&n.subnet)
        {
            problems.push(format!("network.subnet: {e}"));
        }
        if cfg.network.as_ref().is_some_and(|n| {
            n.kind == crate::cni::NetworkKind::Macvlan
                && n.master.as_deref().is_none_or(str::is_empty)
        }) {
            problems.push(
                "network.master: expected the NIC macvlan containers attach to (kind = \"macvlan\")"
                    .to_string(),
            );
        }
        if cfg.network.as_ref().is_some_and(|n| n.ipam_shard_size == 0) {
            problems.push("network.ipam_shard_size: expected at least 1, found 0".to_string());
        }
        #[cfg(feature = "containerd")]
        if let Some(c) = &cfg.containerd
            && c.command.is_empty()
        {
            problems.push("containerd.command: expected a non-empty argv".to_string());
        }
        #[cfg(feature = "mesos")]
        if let Some(m) = &cfg.mesos {
            problems.extend(m.problems());
        }
        #[cfg(all(feature = "mesos", feature = "containerd"))]
        if cfg.mesos.is_some() && cfg.containerd.is_some() {
            problems.push(
                "mesos, containerd: expected one backend section, found both [mesos] and [containerd]"
                    .to_string(),
            );
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ActuatorError::Config {
                path: path.to_path_buf(),
                message: problems.join("; "),
            })
        }
    }
}

/// The fleet actuator over the printing backends.
pub type DryFleet = FleetActuator<DryRunRuntime, DryRunNetwork, DryRunLoadBalancer, WallClock>;

/// The fleet actuator over the real backends.
#[cfg(feature = "containerd")]
pub type RealFleet = FleetActuator<
    crate::containerd::ContainerdRuntime<WallClock>,
    CniNetwork,
    HaproxyLb,
    WallClock,
>;

/// The configured real backends (containerd; the CNI network, its bridge
/// prepared, and HAProxy when configured) over the journal at `journal`.
///
/// # Errors
/// When the config lacks `[containerd]`, a backend cannot be reached or the
/// journal cannot be opened.
#[cfg(feature = "containerd")]
pub async fn real_fleet(cfg: &ScaleConfig, journal: &Path) -> Result<RealFleet, ActuatorError> {
    let ctd = cfg
        .containerd
        .clone()
        .ok_or_else(|| ActuatorError::Config {
            path: PathBuf::from("(config)"),
            message: "[containerd]: expected a section for a real scale (or use --dry-run)".into(),
        })?;
    let runtime = crate::containerd::ContainerdRuntime::connect(ctd, WallClock)
        .await
        .map_err(|e| ActuatorError::backend("connect to containerd", e))?;
    let network = match &cfg.network {
        Some(n) => {
            let net = CniNetwork::new(n.clone()).map_err(|message| ActuatorError::Config {
                path: PathBuf::from("(config)"),
                message,
            })?;
            let changed = net
                .prepare()
                .await
                .map_err(|e| ActuatorError::backend("prepare the bridge", e))?;
            // A host setting changed for crest's network: the operator must
            // see it (this module is the binary's wiring, stderr is its log).
            for c in changed {
                eprintln!("crest: {c}");
            }
            Some(net)
        }
        None => None,
    };
    Ok(FleetActuator::new(
        runtime,
        network,
        cfg.haproxy.as_ref().map(HaproxyLb::new),
        Journal::open(journal)?,
        WallClock,
        cfg.fleet.clone(),
    ))
}

/// The same fleet logic over printing backends (their lines go to `sink`),
/// an in-memory journal, one instance at a time for a stable order of
/// printed steps, and no waits.
///
/// # Errors
/// When the in-memory journal fails.
pub fn dry_fleet(cfg: &ScaleConfig, sink: &Sink) -> Result<DryFleet, ActuatorError> {
    let mut opts = cfg.fleet.clone();
    opts.concurrency = 1;
    opts.ramp_step_ms = 0;
    opts.drain_ms = 0;
    opts.health_wait_ms = 0; // printing backends run no health checks
    Ok(FleetActuator::new(
        DryRunRuntime::new(sink.clone()),
        cfg.network
            .as_ref()
            .map(|_| DryRunNetwork::new(sink.clone())),
        Some(DryRunLoadBalancer::new(sink.clone())),
        Journal::in_memory()?,
        WallClock,
        opts,
    ))
}

/// Scale `app` to `replicas` through the configured real backends.
///
/// # Errors
/// When a backend cannot be reached or the journal fails; per-instance
/// failures are in the report.
#[cfg(feature = "containerd")]
pub async fn scale_real(
    cfg: &ScaleConfig,
    journal: &Path,
    app: &AppId,
    replicas: u32,
    plan_id: Option<&str>,
) -> Result<ScaleReport, ActuatorError> {
    real_fleet(cfg, journal)
        .await?
        .scale(app, replicas, plan_id)
        .await
}

/// Dry run: the same fleet logic over printing backends, starting from
/// `from` running instances. Returns the report and the printed steps.
///
/// # Errors
/// When the in-memory journal fails.
pub async fn scale_dry(
    cfg: &ScaleConfig,
    app: &AppId,
    from: u32,
    replicas: u32,
    plan_id: Option<&str>,
) -> Result<(ScaleReport, Vec<String>), ActuatorError> {
    let sink = Sink::default();
    let fleet = dry_fleet(cfg, &sink)?;
    if from > 0 {
        fleet.scale(app, from, None).await?;
        sink.take();
    }
    let report = fleet.scale(app, replicas, plan_id).await?;
    Ok((report, sink.take()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let p = Path::new("c.toml");
        let e = ScaleConfig::parse("[fleet]\nconcurency = 3\n", p).unwrap_err();
        assert!(e.to_string().contains("concurency"), "{e}");
        let e = ScaleConfig::parse(
            "[network]\nsubnet = \"10.0.0.0/24\"\ndata_dir = \"/x\"\nipam_shard_size = 0\n",
            p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("network.ipam_shard_size"), "{e}");
        let e = ScaleConfig::parse("[fleet]\nconcurrency = 0\nweight = 300\n", p).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("fleet.concurrency") && s.contains("fleet.weight"),
            "{s}"
        );
        assert!(ScaleConfig::parse("", p).is_ok());
    }

    #[cfg(feature = "mesos")]
    #[test]
    fn mesos_section_is_read_and_checked() {
        let p = Path::new("m.toml");
        let ok = "journal = \"j.sqlite\"\n[mesos]\nmaster = \"http://127.0.0.1:5050\"\ncpus = 1\nmem_mb = 128\ncommand = \"sleep 1000\"\n";
        let cfg = ScaleConfig::parse(ok, p).unwrap();
        let m = cfg.mesos.unwrap();
        assert_eq!(m.master, "http://127.0.0.1:5050");
        assert_eq!(m.wait_s, 300.0);
        let e = ScaleConfig::parse(&ok.replace("master = \"http://127.0.0.1:5050\"\n", ""), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("mesos.master: expected http://host:port"), "{e}");
        assert!(e.contains("m.toml"), "{e}");
        let e = ScaleConfig::parse(&format!("{ok}cpu = 2\n"), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `cpu`"), "{e}");
        #[cfg(feature = "containerd")]
        {
            let both = format!(
                "{ok}[containerd]\nsocket = \"/c.sock\"\nimage = \"i\"\ncommand = [\"/bin/true\"]\n"
            );
            let e = ScaleConfig::parse(&both, p).unwrap_err().to_string();
            assert!(e.contains("found both [mesos] and [containerd]"), "{e}");
        }
    }

    #[tokio::test]
    async fn dry_run_prints_the_real_steps_in_order() {
        let cfg = ScaleConfig::parse(
            "[network]\nsubnet = \"10.213.0.0/24\"\ndata_dir = \"/nonexistent\"\n[fleet]\nramp_steps = 2\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let app = AppId::try_new("web").unwrap();
        let (r, lines) = scale_dry(&cfg, &app, 0, 2, Some("p1")).await.unwrap();
        assert_eq!(r.started, vec!["web-00001", "web-00002"]);
        assert_eq!(r.running, 2);
        assert!(
            lines[0]
                .starts_with("containerd: prepare snapshot, create container and task web-00001")
        );
        assert!(lines[0].contains("crest.plan=p1"));
        assert!(lines[1].starts_with("cni: ADD web-00001"));
        assert!(
            lines
                .iter()
                .any(|l| l == "haproxy: set weight web/web-00002 100")
        );
        let (r, lines) = scale_dry(&cfg, &app, 3, 1, None).await.unwrap();
        assert_eq!(r.stopped, vec!["web-00002", "web-00003"]);
        assert_eq!(lines[0], "haproxy: set server web/web-00003 state drain");
    }
}
