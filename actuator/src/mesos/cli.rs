//! `crest scale` (and `crest run`) through Mesos: the `[mesos]` section of the
//! actuator config and the one-shot scale an operator runs from a shell.
//!
//! The CLI is short-lived while a framework is meant to live for weeks, so
//! every run is a *failover* of one long-lived framework: the framework id is
//! kept in the journal (SQLite `meta` table, key `mesos/<name>/framework_id`)
//! and the next run SUBSCRIBEs with it, so the master hands the running tasks
//! back (they are adopted through reconciliation, never launched twice). A
//! run ends with [`MesosActuator::shutdown`] — the connection closes and the
//! tasks keep running for `failover_timeout_s` — never with TEARDOWN, which
//! would kill every task.
//!
//! A scale is: subscribe, save the framework id, let implicit reconciliation
//! settle (no UPDATE for `reconcile_s`: the master answers it at once, and
//! changing the count before the adopted tasks are known would launch
//! replacements that are then killed again), set the desired count, wait until
//! exactly that many tasks of the app run (`wait_s`), disconnect. A shortfall
//! at the deadline is reported as a failure (exit code 1), not hidden.
//!
//! ```toml
//! journal = "/var/lib/crest/journal.sqlite"
//! [mesos]
//! master = "https://10.0.0.1:5050,https://10.0.0.2:5050"
//! role = "crest"
//! user = "crest"                        # default: the user running crest
//! principal = "crest"                   # HTTP basic authentication
//! secret_file = "/etc/crest/mesos.secret"   # or secret_env = "CREST_MESOS_SECRET"
//! ca_file = "/etc/crest/mesos-ca.pem"   # default: the system's roots
//! cpus = 1.0
//! mem_mb = 256
//! ports = 1                             # host ports from the offer: $PORT0
//! command = "exec /srv/web --port $PORT0"
//! ```
//!
//! A final ERROR from the master ("Framework has been removed": the failover
//! timeout passed or someone tore it down; "Framework failed over": another
//! crest subscribed with the id) ends the run with a message saying so. The
//! id stays in the journal until the operator runs `crest scale
//! --forget-framework` ([`forget_framework`]): the old framework's tasks are
//! then not adopted, and a new framework is registered.
//!
//! **Tested against the protocol-level double** (`tests/mesos/double.rs`,
//! driven through the real `crest` binary by the root test
//! `tests/cli_scale_mesos.rs`), **not against a real Mesos master**, which
//! cannot run on this machine.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crest_core::seams::{Actuator, InstancePhase, SeamError, SeamErrorKind};
use crest_core::{Action, AppId, Clock, Replicas, Timestamp, WallClock};
use serde::{Deserialize, Serialize};

use super::actuator::{MesosActuator, MesosConfig};
use super::client::Credentials;
use super::framework::{AppSpec, Framework};
use crate::error::ActuatorError;
use crate::journal::Journal;

/// The `[mesos]` section: where the master is, how the framework registers,
/// and how to run the app's tasks. Unset fields take the defaults of
/// [`MesosConfig::new`] and [`AppSpec::new`]; `master`, `cpus`, `mem_mb` and
/// `command` must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MesosSection {
    /// Master URLs, `http://host:port`, comma-separated.
    pub master: String,
    /// Framework name (also keys the saved framework id in the journal).
    pub name: String,
    /// Role offers come for.
    pub role: String,
    /// Unix user tasks run as on the agents (default: the user running
    /// crest; must not be empty).
    pub user: String,
    /// Seconds the master keeps the tasks while no crest is connected
    /// (> 0; default a week).
    pub failover_timeout_s: f64,
    /// Principal for HTTP basic authentication (also `FrameworkInfo.principal`).
    pub principal: Option<String>,
    /// File holding the secret (first line; trailing whitespace dropped).
    pub secret_file: Option<std::path::PathBuf>,
    /// Environment variable holding the secret.
    pub secret_env: Option<String>,
    /// CA bundle (PEM) trusted for `https://` masters (default: system roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// `Filters.refuse_seconds` on ACCEPT and DECLINE.
    pub refuse_seconds: f64,
    /// Longest wait of each phase, s: subscribing (with reconciliation), then
    /// the tasks converging (launches from offers, kills confirmed).
    pub wait_s: f64,
    /// Quiet time that ends reconciliation after subscribing, s.
    pub reconcile_s: f64,
    /// CPUs per task.
    pub cpus: f64,
    /// Memory per task, MB.
    pub mem_mb: f64,
    /// Shell command each task runs.
    pub command: String,
    /// Docker image for the Mesos containerizer (none: the agent's filesystem).
    pub image: Option<String>,
    /// CNI network to join (one IP per container).
    pub network: Option<String>,
    /// Tasks per executor container (1: one container per task).
    pub tasks_per_executor: u32,
    /// CPUs of a shared executor (`tasks_per_executor` > 1).
    pub executor_cpus: f64,
    /// Memory of a shared executor, MB (`tasks_per_executor` > 1).
    pub executor_mem_mb: f64,
    /// Host ports per task from the offers' `ports` (env `PORT0`...; the
    /// task's address is `IP:PORT0`). 0: none.
    pub ports: u32,
}

impl Default for MesosSection {
    fn default() -> Self {
        let fw = MesosConfig::new("");
        let app = AppSpec::new(0.0, 0.0, "");
        MesosSection {
            master: fw.master,
            name: fw.name,
            role: fw.role,
            user: fw.user,
            failover_timeout_s: fw.failover_timeout_s,
            principal: None,
            secret_file: None,
            secret_env: None,
            ca_file: None,
            refuse_seconds: fw.refuse_seconds,
            wait_s: 300.0,
            reconcile_s: 1.0,
            cpus: app.cpus,
            mem_mb: app.mem_mb,
            command: app.command,
            image: app.image,
            network: app.network,
            tasks_per_executor: app.tasks_per_executor,
            executor_cpus: app.executor_cpus,
            executor_mem_mb: app.executor_mem_mb,
            ports: 1,
        }
    }
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn non_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Why a `master` list is not `http(s)://host:port[,...]`.
fn master_problem(list: &str) -> Option<String> {
    let mut schemes = BTreeSet::new();
    for m in list.split(',').map(str::trim) {
        let lower = m.to_ascii_lowercase();
        let skip = if lower.starts_with("http://") {
            7
        } else if lower.starts_with("https://") {
            8
        } else {
            return Some(format!("{m:?} does not start with http:// or https://"));
        };
        schemes.insert(skip);
        let rest = &m[skip..];
        let auth = rest.trim_end_matches('/');
        let port_ok = auth
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok || auth.contains('/') {
            return Some(format!("{m:?} is not http(s)://host:port"));
        }
    }
    if schemes.len() > 1 {
        return Some("masters mix http:// and https://".into());
    }
    // Each entry is http://host:port, so `MasterClient::new` accepts the list.
    None
}

impl MesosSection {
    /// Every problem of the section, each naming its field (`mesos.<field>`).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.master.trim().is_empty() {
            p.push("mesos.master: expected http://host:port or https://host:port (comma-separated for several masters), found nothing".to_string());
        } else if let Some(reason) = master_problem(&self.master) {
            p.push(format!(
                "mesos.master: expected http://host:port or https://host:port (comma-separated), found {:?} ({reason})",
                self.master
            ));
        }
        if self.name.trim().is_empty() {
            p.push("mesos.name: expected a framework name, found \"\"".into());
        }
        if self.role.trim().is_empty() {
            p.push("mesos.role: expected a role (\"*\" for the default), found \"\"".into());
        }
        for (field, v) in [("cpus", self.cpus), ("mem_mb", self.mem_mb)] {
            if !positive(v) {
                p.push(format!("mesos.{field}: expected a number > 0, found {v}"));
            }
        }
        if self.command.trim().is_empty() {
            p.push("mesos.command: expected the shell command each task runs".into());
        }
        if self.user.trim().is_empty() {
            p.push(
                "mesos.user: expected the Unix user tasks run as on the agents, found \"\" (agents cannot run tasks for an empty user; the default is the user running crest)"
                    .into(),
            );
        }
        if !positive(self.failover_timeout_s) {
            p.push(format!(
                "mesos.failover_timeout_s: expected a number > 0 (the master kills every task when crest disconnects otherwise; default {} = a week), found {}",
                super::actuator::DEFAULT_FAILOVER_TIMEOUT_S,
                self.failover_timeout_s
            ));
        }
        match (&self.principal, &self.secret_file, &self.secret_env) {
            (Some(pr), _, _) if pr.trim().is_empty() => {
                p.push("mesos.principal: expected a principal name, found \"\"".into());
            }
            (Some(_), None, None) => p.push(
                "mesos.principal: set, but no secret: expected secret_file or secret_env".into(),
            ),
            (Some(_), Some(_), Some(_)) => p.push(
                "mesos.secret_file, mesos.secret_env: expected one source for the secret, found both"
                    .into(),
            ),
            (None, f, e) if f.is_some() || e.is_some() => p.push(
                "mesos.principal: expected a principal with secret_file or secret_env".into(),
            ),
            _ => {}
        }
        if self
            .secret_env
            .as_deref()
            .is_some_and(|e| e.trim().is_empty())
        {
            p.push("mesos.secret_env: expected a variable name, found \"\"".into());
        }
        if self.ca_file.is_some() && !self.master.to_ascii_lowercase().contains("https://") {
            p.push("mesos.ca_file: set, but no master is https://".into());
        }
        for (field, v) in [
            ("refuse_seconds", self.refuse_seconds),
            ("reconcile_s", self.reconcile_s),
        ] {
            if !non_negative(v) {
                p.push(format!("mesos.{field}: expected a number >= 0, found {v}"));
            }
        }
        if !positive(self.wait_s) {
            p.push(format!(
                "mesos.wait_s: expected a number > 0, found {}",
                self.wait_s
            ));
        }
        if self.tasks_per_executor == 0 {
            p.push("mesos.tasks_per_executor: expected at least 1, found 0".into());
        } else if self.tasks_per_executor > 1 {
            for (field, v) in [
                ("executor_cpus", self.executor_cpus),
                ("executor_mem_mb", self.executor_mem_mb),
            ] {
                if !positive(v) {
                    p.push(format!(
                        "mesos.{field}: expected a number > 0 with tasks_per_executor > 1, found {v}"
                    ));
                }
            }
        }
        for (field, v) in [("image", &self.image), ("network", &self.network)] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
                p.push(format!(
                    "mesos.{field}: expected a name or no field, found \"\""
                ));
            }
        }
        p
    }

    /// How the app's tasks run.
    pub fn app_spec(&self) -> AppSpec {
        let mut spec = AppSpec::new(self.cpus, self.mem_mb, self.command.clone())
            .with_tasks_per_executor(self.tasks_per_executor);
        spec.executor_cpus = self.executor_cpus;
        spec.executor_mem_mb = self.executor_mem_mb;
        spec.image.clone_from(&self.image);
        spec.network.clone_from(&self.network);
        spec.ports = self.ports;
        spec
    }

    /// The credentials: the principal with the secret read from
    /// `secret_file` or `secret_env` (never logged or printed).
    ///
    /// # Errors
    /// [`ActuatorError::Io`] for an unreadable file, [`ActuatorError::BadFrameworkConfig`]
    /// for an unset variable or an empty secret.
    pub fn credentials(&self) -> Result<Option<Credentials>, ActuatorError> {
        let Some(principal) = &self.principal else {
            return Ok(None);
        };
        let secret = match (&self.secret_file, &self.secret_env) {
            (Some(path), _) => std::fs::read_to_string(path)
                .map_err(|source| ActuatorError::Io {
                    what: "read the mesos secret file",
                    path: path.clone(),
                    source,
                })?
                .lines()
                .next()
                .unwrap_or("")
                .trim_end()
                .to_owned(),
            (None, Some(var)) => {
                std::env::var(var).map_err(|_| ActuatorError::BadFrameworkConfig {
                    field: "secret_env",
                    problem: format!("environment variable {var} is not set"),
                })?
            }
            (None, None) => String::new(),
        };
        if secret.is_empty() {
            return Err(ActuatorError::BadFrameworkConfig {
                field: "secret",
                problem: format!(
                    "the secret for principal {principal} is empty (from {})",
                    self.secret_file.as_ref().map_or_else(
                        || format!("${}", self.secret_env.clone().unwrap_or_default()),
                        |p| p.display().to_string()
                    )
                ),
            });
        }
        Ok(Some(Credentials {
            principal: principal.clone(),
            secret,
        }))
    }

    /// The framework settings for `apps` (each run with [`Self::app_spec`]),
    /// resuming `framework_id`.
    pub fn framework_config<'a>(
        &self,
        apps: impl IntoIterator<Item = &'a AppId>,
        framework_id: Option<String>,
    ) -> MesosConfig {
        let mut c = MesosConfig::new(self.master.clone());
        c.ca_file.clone_from(&self.ca_file);
        c.name.clone_from(&self.name);
        c.role.clone_from(&self.role);
        c.user.clone_from(&self.user);
        c.failover_timeout_s = self.failover_timeout_s;
        c.refuse_seconds = self.refuse_seconds;
        c.framework_id = framework_id;
        for app in apps {
            c.apps.insert(app.clone(), self.app_spec());
        }
        c
    }

    /// The journal key of this framework's id.
    pub fn framework_id_key(&self) -> String {
        format!("mesos/{}/framework_id", self.name)
    }

    fn wait_ms(&self) -> i64 {
        (self.wait_s * 1000.0).ceil() as i64
    }
}

/// What a Mesos scale did: one JSON line on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MesosScaleReport {
    /// Always `"mesos"`.
    pub backend: String,
    /// The app.
    pub app: String,
    /// Running tasks before (after reconciliation).
    pub from: u32,
    /// Asked for.
    pub to: u32,
    /// Running at the end.
    pub running: u32,
    /// Tasks launched by this run (running at the end).
    pub started: Vec<String>,
    /// Tasks that ran before and are gone at the end.
    pub stopped: Vec<String>,
    /// Tasks adopted from earlier runs through reconciliation.
    pub adopted: u32,
    /// The framework id (saved in the journal for the next run).
    pub framework_id: String,
    /// What went wrong, by what (`convergence` for a shortfall at the deadline).
    pub failed: BTreeMap<String, String>,
}

fn backend_err(what: String, e: ActuatorError) -> ActuatorError {
    ActuatorError::backend(what, e.into())
}

fn updates(fw: &Framework) -> u64 {
    fw.stats().events.get("UPDATE").copied().unwrap_or(0)
}

fn ms_left(deadline: Timestamp) -> i64 {
    (deadline.millis() - WallClock.now().millis()).max(0)
}

/// Subscribe (resuming the framework id saved in `journal`) and save the id.
/// Returns the actuator, subscribed, with reconciliation settled.
///
/// # Errors
/// When the journal fails or no SUBSCRIBED arrives within `wait_s`.
pub async fn connect<'a>(
    cfg: &MesosSection,
    journal: &Journal,
    apps: impl IntoIterator<Item = &'a AppId>,
) -> Result<MesosActuator<WallClock>, ActuatorError> {
    let deadline = WallClock.now().add_millis(cfg.wait_ms());
    let key = cfg.framework_id_key();
    let saved = journal.get_meta(&key)?;
    let resumed = saved.as_ref().map(|id| {
        format!(
            "; failing over as framework {id} (journal {}, key {key})",
            journal.path().display()
        )
    });
    let mut fw_cfg = cfg.framework_config(apps, saved.clone());
    fw_cfg.credentials = cfg.credentials()?;
    let actuator = MesosActuator::start(fw_cfg, WallClock)
        .map_err(|e| backend_err(format!("start the mesos framework for {}", cfg.master), e))?;
    let waited = actuator
        .wait_until(ms_left(deadline), |_, c| {
            c.fatal.is_some() || (c.subscriptions >= 1 && c.stream_id.is_some())
        })
        .await;
    if let Some(fatal) = actuator.connection().fatal {
        actuator.shutdown().await;
        let hint = match &saved {
            Some(id) if super::actuator::is_final_error(&fatal) => format!(
                "; framework {id} stays saved in journal {} (key {key}) so no tasks are forgotten silently: \
                 run `crest scale --forget-framework` to drop it and register a new framework \
                 (its old tasks are not adopted; check the master for them)",
                journal.path().display()
            ),
            _ => String::new(),
        };
        return Err(ActuatorError::backend(
            format!(
                "subscribe to mesos master {}{}",
                cfg.master,
                resumed.as_deref().unwrap_or_default()
            ),
            SeamError::new("mesos", SeamErrorKind::Rejected, format!("{fatal}{hint}")),
        ));
    }
    if let Err(e) = waited {
        // The connection's last error says why (refused, ERROR event, ...);
        // the timeout itself adds nothing.
        let why = actuator
            .connection()
            .last_error
            .unwrap_or_else(|| format!("no SUBSCRIBED event ({e})"));
        actuator.shutdown().await;
        return Err(ActuatorError::backend(
            format!(
                "subscribe to mesos master {} within {} s{}",
                cfg.master,
                cfg.wait_s,
                resumed.as_deref().unwrap_or_default()
            ),
            SeamError::new("mesos", SeamErrorKind::Unavailable, why),
        ));
    }
    let Some(id) = actuator.framework_id() else {
        actuator.shutdown().await;
        return Err(ActuatorError::backend(
            "subscribe to mesos",
            SeamError::new(
                "mesos",
                SeamErrorKind::Protocol,
                "SUBSCRIBED without a framework id",
            ),
        ));
    };
    // Saved before any task is launched: a crash from here on fails over.
    journal.set_meta(&key, &id)?;
    if resumed.is_some() {
        // Implicit reconciliation (sent on SUBSCRIBED) reports our running
        // tasks; wait until its UPDATEs stop coming.
        let quiet_ms = (cfg.reconcile_s * 1000.0).ceil() as i64;
        loop {
            let seen = actuator.inspect(updates);
            let left = ms_left(deadline);
            if quiet_ms == 0 || left == 0 {
                break;
            }
            let changed = actuator
                .wait_until(quiet_ms.min(left), |fw, _| updates(fw) != seen)
                .await;
            if changed.is_err() {
                break;
            }
        }
    }
    Ok(actuator)
}

/// `crest scale --forget-framework`: drop the framework id saved in the
/// journal (an explicit operator action after a final ERROR), so the next
/// run registers a new framework. Returns the id dropped.
///
/// # Errors
/// When the journal fails.
pub fn forget_framework(
    cfg: &MesosSection,
    journal_path: &Path,
) -> Result<Option<String>, ActuatorError> {
    Journal::open(journal_path)?.remove_meta(&cfg.framework_id_key())
}

fn active_tasks(a: &MesosActuator<WallClock>, app: &AppId) -> BTreeSet<String> {
    a.inspect(|fw| {
        fw.fleet(app, Timestamp(0))
            .instances
            .into_iter()
            .filter(|i| matches!(i.phase, InstancePhase::Starting | InstancePhase::Running))
            .map(|i| i.id.to_string())
            .collect()
    })
}

/// Scale `app` to `replicas` tasks on Mesos: fail over with the framework id
/// saved in the journal at `journal_path` (or register and save one), wait
/// for exactly `replicas` running tasks (at most `wait_s`), and disconnect
/// without TEARDOWN so the tasks keep running.
///
/// # Errors
/// When the journal fails, the master cannot be subscribed to, or the action
/// is refused; a shortfall at the deadline is in the report's `failed`.
pub async fn scale_mesos(
    cfg: &MesosSection,
    journal_path: &Path,
    app: &AppId,
    replicas: u32,
    plan_id: Option<&str>,
) -> Result<MesosScaleReport, ActuatorError> {
    let journal = Journal::open(journal_path)?;
    let actuator = connect(cfg, &journal, [app]).await?;
    let deadline = WallClock.now().add_millis(cfg.wait_ms());
    let before = active_tasks(&actuator, app);
    let running_now =
        |a: &MesosActuator<WallClock>| a.inspect(|fw| fw.fleet(app, Timestamp(0)).running().0);
    let from = running_now(&actuator);
    journal.set_desired(app, replicas, plan_id)?;
    let action = Action::SetReplicas {
        app: app.clone(),
        replicas: Replicas(replicas),
        plan_id: plan_id.map(str::to_owned),
    };
    if let Err(e) = actuator.apply(&action).await {
        actuator.shutdown().await;
        return Err(ActuatorError::backend(format!("scale {app} on mesos"), e));
    }
    let mut failed = BTreeMap::new();
    let converged = actuator
        .wait_until(ms_left(deadline), |fw, _| {
            let f = fw.fleet(app, Timestamp(0));
            f.running() == Replicas(replicas) && f.instances.len() == replicas as usize
        })
        .await;
    let running = running_now(&actuator);
    if converged.is_err() {
        let last = actuator
            .connection()
            .last_error
            .map(|l| format!("; last error: {l}"))
            .unwrap_or_default();
        failed.insert(
            "convergence".to_string(),
            format!(
                "{running} of {replicas} tasks running after {} s ({} short){last}",
                cfg.wait_s,
                i64::from(replicas) - i64::from(running)
            ),
        );
    }
    let after = active_tasks(&actuator, app);
    let framework_id = actuator.framework_id().unwrap_or_default();
    let adopted = u32::try_from(before.len()).unwrap_or(u32::MAX);
    actuator.shutdown().await;
    Ok(MesosScaleReport {
        backend: "mesos".into(),
        app: app.to_string(),
        from,
        to: replicas,
        running,
        started: after.difference(&before).cloned().collect(),
        stopped: before.difference(&after).cloned().collect(),
        adopted,
        framework_id,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MesosSection, String> {
        let s: MesosSection = toml::from_str(text).map_err(|e| e.to_string())?;
        let p = s.problems();
        if p.is_empty() {
            Ok(s)
        } else {
            Err(p.join("; "))
        }
    }

    const MIN: &str =
        "master = \"http://127.0.0.1:5050\"\ncpus = 0.5\nmem_mb = 64\ncommand = \"sleep 1000\"\n";

    #[test]
    fn defaults_come_from_the_framework_and_app_spec() {
        let s = parse(MIN).unwrap();
        let fw = MesosConfig::new("x");
        assert_eq!(s.name, fw.name);
        assert_eq!(s.role, fw.role);
        assert_eq!(s.failover_timeout_s, fw.failover_timeout_s);
        assert_eq!(s.refuse_seconds, fw.refuse_seconds);
        assert_eq!(s.wait_s, 300.0);
        let spec = s.app_spec();
        assert_eq!(spec, AppSpec::new(0.5, 64.0, "sleep 1000").with_ports(1));
        assert_eq!(s.user, MesosConfig::new("x").user);
        assert!(!s.user.is_empty(), "the invoking user");
        assert_eq!(s.failover_timeout_s, 604_800.0);
        let c = s.framework_config([&AppId::try_new("web").unwrap()], Some("f1".into()));
        assert_eq!(c.framework_id.as_deref(), Some("f1"));
        assert_eq!(c.apps.len(), 1);
        assert_eq!(s.framework_id_key(), "mesos/crest/framework_id");
    }

    #[test]
    fn every_field_is_read() {
        let s = parse(&format!(
            "{MIN}name = \"n\"\nrole = \"r\"\nuser = \"u\"\nfailover_timeout_s = 60\nrefuse_seconds = 2\nwait_s = 9\nreconcile_s = 0\nimage = \"busybox\"\nnetwork = \"net\"\ntasks_per_executor = 4\nexecutor_cpus = 0.2\nexecutor_mem_mb = 16\n"
        ))
        .unwrap();
        let spec = s.app_spec();
        assert_eq!(spec.tasks_per_executor, 4);
        assert_eq!(spec.executor_cpus, 0.2);
        assert_eq!(spec.executor_mem_mb, 16.0);
        assert_eq!(spec.image.as_deref(), Some("busybox"));
        assert_eq!(spec.network.as_deref(), Some("net"));
        let c = s.framework_config([], None);
        assert_eq!(
            (c.name.as_str(), c.role.as_str(), c.user.as_str()),
            ("n", "r", "u")
        );
        assert_eq!((c.failover_timeout_s, c.refuse_seconds), (60.0, 2.0));
        assert_eq!(s.wait_ms(), 9000);
        let s = parse(&format!("{MIN}ports = 3\n")).unwrap();
        assert_eq!(s.app_spec().ports, 3);
    }

    #[test]
    fn credentials_come_from_a_file_or_the_environment_and_tls_from_https() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cret  \nignored\n").unwrap();
        let https = MIN.replace("http://", "https://");
        let s = parse(&format!(
            "{https}principal = \"crest\"\nsecret_file = {:?}\nca_file = \"/etc/ca.pem\"\n",
            f.display().to_string()
        ))
        .unwrap();
        let creds = s.credentials().unwrap().unwrap();
        assert_eq!(
            (creds.principal.as_str(), creds.secret.as_str()),
            ("crest", "s3cret")
        );
        let c = s.framework_config([], None);
        assert_eq!(c.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        // an unset variable is named, its value never shown
        let s = parse(&format!(
            "{MIN}principal = \"crest\"\nsecret_env = \"CREST_TEST_SURELY_UNSET_VAR\"\n"
        ))
        .unwrap();
        let e = s.credentials().unwrap_err().to_string();
        assert!(e.contains("CREST_TEST_SURELY_UNSET_VAR is not set"), "{e}");
        std::fs::write(&f, "\n").unwrap();
        let s = parse(&format!(
            "{MIN}principal = \"crest\"\nsecret_file = {:?}\n",
            f.display().to_string()
        ))
        .unwrap();
        assert!(s.credentials().unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse("cpus = 1\nmem_mb = 1\ncommand = \"x\"\n").unwrap_err();
        assert!(e.contains("mesos.master: expected http://host:port"), "{e}");
        assert!(parse(&MIN.replace("http://127.0.0.1:5050", "https://m:5050")).is_ok());
        let e = parse(&MIN.replace("http://127.0.0.1:5050", "ftp://m:5050")).unwrap_err();
        assert!(
            e.contains("mesos.master") && e.contains("ftp://m:5050"),
            "{e}"
        );
        let e = parse(&MIN.replace("http://127.0.0.1:5050", "http://a:5050,https://b:5050"))
            .unwrap_err();
        assert!(e.contains("mix http:// and https://"), "{e}");
        let e = parse(&format!("{MIN}user = \"\"\nfailover_timeout_s = 0\n")).unwrap_err();
        assert!(
            e.contains("mesos.user")
                && e.contains("mesos.failover_timeout_s: expected a number > 0"),
            "{e}"
        );
        let e = parse(&format!("{MIN}principal = \"crest\"\n")).unwrap_err();
        assert!(
            e.contains("mesos.principal") && e.contains("no secret"),
            "{e}"
        );
        let e = parse(&format!("{MIN}secret_env = \"S\"\n")).unwrap_err();
        assert!(e.contains("mesos.principal"), "{e}");
        let e = parse(&format!("{MIN}ca_file = \"/ca.pem\"\n")).unwrap_err();
        assert!(e.contains("mesos.ca_file"), "{e}");
        let e = parse("master = \"http://m:5050\"\n").unwrap_err();
        for f in ["mesos.cpus", "mesos.mem_mb", "mesos.command"] {
            assert!(e.contains(f), "{f} in {e}");
        }
        let e = parse(&format!("{MIN}wait_s = 0\ntasks_per_executor = 0\n")).unwrap_err();
        assert!(
            e.contains("mesos.wait_s") && e.contains("mesos.tasks_per_executor"),
            "{e}"
        );
        let e = parse(&format!("{MIN}tasks_per_executor = 3\nexecutor_cpus = 0\n")).unwrap_err();
        assert!(e.contains("mesos.executor_cpus"), "{e}");
        let e = parse(&format!("{MIN}master_url = \"x\"\n")).unwrap_err();
        assert!(e.contains("master_url"), "{e}");
    }
}
