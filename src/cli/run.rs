//! `crest run --schedule FILE`: execute verified holiday plans at their times.
//!
//! Each plan in the schedule is re-verified just before it starts (the
//! verification gate of `crest plan --verify`, on the plan document's own
//! forecast, capacity and gate settings) and then followed step by step by the
//! very driver the simulator uses — `crest_autoscaler::Autoscaler` with a
//! `SchedulePolicy` — handing `SetReplicas` actions to the actuator seam.
//!
//! The actuator is `crest_actuator::fleet::FleetActuator`, the one `crest
//! scale` uses, built from the same TOML config (`--config`): containerd +
//! CNI + HAProxy with a write-ahead journal, or, with `--dry-run`, the same
//! fleet logic over crest-actuator's printing backends, so the printed steps
//! are the ones production would take. Nothing is touched without either
//! `--config` or `--dry-run`.
//!
//! With a `[mesos]` section instead, the actuator is crest's Mesos framework
//! (`crest_actuator::mesos`), failing over with the framework id kept in the
//! journal; it applies each step at once and launches from offers, so after
//! the last plan crest waits (the section's `wait_s`) until every app runs
//! its last count, then disconnects without tearing down (tasks keep
//! running). Tested against a protocol-level double, not a real master.
//!
//! With `--prometheus URL --target-rps-per-instance N`, live demand joins the
//! plan: every `--period` the driver reads demand from Prometheus (an instant
//! query, `--demand-query`) and target tracking (HPA's algorithm) may ask for
//! more than the plan; the fleet follows the larger. Demand that cannot be
//! read (Prometheus down, stale or empty) is unknown, never zero: target
//! tracking then keeps the current count, so missing data never scales in.
//!
//! Time comes through the `Clock` seam: the wall clock, optionally sped up
//! (`--speed`) and shifted so a plan starts now (`--start-now`) to rehearse a
//! schedule.
//!
//! Schedule file: either one plan document (`crest plan --output`, JSON), or a
//! list of runs, with paths relative to the schedule file — JSON
//! `{"runs":[{"plan":"plan.json","force":false}, ...]}` or TOML (`.toml`)
//! `[[runs]]` tables with the same fields. Unknown fields are errors naming
//! the field and line.
//!
//! Exit codes: 0 every plan ran (or was already over), 1 bad input or a
//! failed action, 2 usage, 3 a plan failed its re-verification and was not
//! executed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::Args;
use crest_actuator::config::ScaleConfig;
use crest_actuator::dryrun::Sink;
use crest_autoscaler::policies::{CombinedPolicy, Guard, TargetTrackingPolicy};
use crest_autoscaler::{
    Autoscaler, PlanDocument, Policy, SchedulePolicy, TargetMetric, TargetTrackingConfig,
};
use crest_core::seams::{Actuator, Applied, FleetState, Metrics, MetricsSource, SeamError};
use crest_core::{Action, AppId, Clock, Replicas, Timestamp, WallClock};
use crest_planning::policy::{CrestPolicyConfig, crest_policy};
use crest_prometheus::{AppQueries, Client, ClientConfig, PrometheusMetrics};
use serde::Deserialize;

/// `println!` that tolerates a closed stdout (`| head`).
macro_rules! say {
    ($($arg:tt)*) => {
        // A closed pipe only ends the output, not the run.
        let _ = super::args::emit(&format!("{}\n", format_args!($($arg)*)));
    };
}

/// Arguments of `crest run`.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// The schedule: a plan document, or runs of plans: JSON
    /// {"runs":[{"plan":FILE,"force":bool}]} or TOML ([[runs]], by extension `.toml`).
    #[arg(long, value_name = "FILE")]
    schedule: PathBuf,
    /// Actuator backends (the `crest scale` TOML: [containerd] or [mesos], [network], [haproxy], [fleet], journal).
    #[arg(long, value_name = "ACTUATOR.toml")]
    config: Option<PathBuf>,
    /// The SQLite journal (overrides the config's `journal`).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Print the steps the actuator would take instead of carrying them out.
    #[arg(long)]
    dry_run: bool,
    /// Shift every plan so that it starts now (rehearse a schedule).
    #[arg(long)]
    start_now: bool,
    /// Clock speed: plan seconds per wall-clock second (rehearsals).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Re-verify each plan this long before it starts (30s, 10m, 1h).
    #[arg(long, default_value = "10m")]
    reverify_before: String,
    /// Execute plans even if they fail re-verification.
    #[arg(long)]
    force: bool,
    /// What re-verification replays scenarios on.
    #[arg(long, value_enum, default_value_t = super::plan::GateEngine::Sim)]
    engine: super::plan::GateEngine,
    /// Live demand from this Prometheus (with --target-rps-per-instance).
    #[arg(long, value_name = "URL", requires = "target_rps_per_instance")]
    prometheus: Option<String>,
    /// Target tracking on live demand per running instance, requests/s.
    #[arg(long, value_name = "RPS", requires = "prometheus")]
    target_rps_per_instance: Option<f64>,
    /// The demand query (`{app}` is the plan's app).
    #[arg(
        long,
        value_name = "PROMQL",
        default_value = r#"sum(rate(http_requests_total{app="{app}"}[30s]))"#
    )]
    demand_query: String,
    /// How often live demand is read (plan time; with --prometheus).
    #[arg(long, value_name = "DUR", default_value = "15s")]
    period: String,
    /// Run crest's rehearsed policy instead of the schedule: follow each
    /// plan's forecast scaled to live demand's level (both ways) with a
    /// margin and a climb-back rate for levels below the forecast, both
    /// learned from the document's empirical errors, the plan as a
    /// floor that shrinks with live demand, target tracking only ever adding
    /// instances — the policy `crest rehearse` replays (needs --prometheus).
    #[arg(long, requires = "prometheus")]
    track_level: bool,
    /// With --track-level: the quantile of the forecaster's lead-time level
    /// moves (the document's empirical errors) the margin covers.
    #[arg(
        long,
        value_name = "Q",
        default_value_t = crest_planning::policy::DEFAULT_LEVEL_QUANTILE,
        requires = "track_level"
    )]
    level_quantile: f64,
    /// With --track-level: also take in the step after the lead time when
    /// it rises above the forecast's band (as `crest rehearse
    /// --early-ramps`).
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = crest_planning::policy::DEFAULT_EARLY_RAMPS,
        action = clap::ArgAction::Set,
        requires = "track_level"
    )]
    early_ramps: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    runs: Vec<RawRun>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    plan: PathBuf,
    #[serde(default)]
    force: bool,
}

/// A plan to run and whether a failing gate may be overridden.
struct Run {
    source: PathBuf,
    doc: PlanDocument,
    force: bool,
}

/// A serde_json error with the offending line quoted (serde_json names the
/// line and column; the quote shows which field it is).
fn json_error(text: &str, e: &serde_json::Error) -> String {
    match text.lines().nth(e.line().saturating_sub(1)) {
        Some(l) if e.line() > 0 => {
            // At most 60 characters before the column (a compact document is
            // one long line), 20 after.
            let chars: Vec<char> = l.chars().collect();
            let col = e.column().min(chars.len());
            let from = col.saturating_sub(60);
            let to = (col + 20).min(chars.len());
            let mut quote: String = chars[from..to].iter().collect();
            if from > 0 {
                quote.insert_str(0, "...");
            }
            if to < chars.len() {
                quote.push_str("...");
            }
            format!("{e} (line {}: `{}`)", e.line(), quote.trim())
        }
        _ => e.to_string(),
    }
}

fn read_doc(path: &Path) -> anyhow::Result<PlanDocument> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read plan {}", path.display()))?;
    let doc: PlanDocument = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "failed to parse plan {} (expected a `crest plan --output` document): {}",
            path.display(),
            json_error(&text, &e)
        )
    })?;
    doc.validate()
        .with_context(|| format!("invalid plan {}", path.display()))?;
    Ok(doc)
}

fn parse_schedule(path: &Path, text: &str) -> anyhow::Result<Option<RawSchedule>> {
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        return toml::from_str(text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("failed to read schedule {}: {e}", path.display()));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "failed to parse schedule {} as JSON: {}",
            path.display(),
            json_error(text, &e)
        )
    })?;
    if value.get("runs").is_none() {
        return Ok(None);
    }
    // Parse the text again (not the value) so errors keep their line.
    serde_json::from_str(text).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "failed to read schedule {}: {}",
            path.display(),
            json_error(text, &e)
        )
    })
}

fn load_schedule(path: &Path) -> anyhow::Result<Vec<Run>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read schedule {}", path.display()))?;
    let Some(raw) = parse_schedule(path, &text)? else {
        return Ok(vec![Run {
            doc: read_doc(path)?,
            source: path.to_path_buf(),
            force: false,
        }]);
    };
    let base = path.parent().unwrap_or(Path::new("."));
    raw.runs
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if r.plan.as_os_str().is_empty() {
                bail!(
                    "failed to read schedule {}: runs[{i}].plan: expected a file name, found \"\"",
                    path.display()
                );
            }
            let p = if r.plan.is_absolute() {
                r.plan
            } else {
                base.join(r.plan)
            };
            Ok(Run {
                doc: read_doc(&p).with_context(|| {
                    format!("failed to read schedule {}: runs[{i}].plan", path.display())
                })?,
                source: p,
                force: r.force,
            })
        })
        .collect()
}

/// The wall clock, shifted and sped up: plan time `origin` is wall time
/// `wall_origin`, and plan time runs `speed` times faster.
#[derive(Debug, Clone, Copy)]
struct ScaledClock {
    origin: Timestamp,
    wall_origin: Timestamp,
    speed: f64,
}

impl ScaledClock {
    /// The first wall-clock millisecond at which plan time has reached `t`
    /// (rounded up: rounding down would wake up to `speed` ms of plan time
    /// early, before the step it was waiting for).
    fn to_wall(self, t: Timestamp) -> Timestamp {
        let d = (t.millis() - self.origin.millis()) as f64 / self.speed;
        self.wall_origin.add_millis(d.ceil() as i64)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let d = (WallClock.now().millis() - self.wall_origin.millis()) as f64 * self.speed;
        self.origin.add_millis(d as i64)
    }

    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send {
        let me = *self;
        async move {
            // Never return before plan time `t`: the policy reads `now()`
            // right after, and must see the step it was woken for.
            while me.now() < t {
                let wall = me.to_wall(t).max(WallClock.now().add_millis(1));
                WallClock.sleep_until(wall).await;
            }
        }
    }
}

/// Wraps the actuator to print, at the plan time of the step, each action
/// handed to it, its outcome and (dry run) the backend steps it took. It
/// decides nothing: every call goes to the wrapped actuator.
#[derive(Clone)]
struct Reporting<A> {
    inner: A,
    /// The dry-run backends' lines; `None` for real backends.
    sink: Option<Sink>,
    /// Plan time of the step being executed.
    at: Arc<Mutex<String>>,
}

impl<A: Actuator> Actuator for Reporting<A> {
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send {
        self.inner.observe(app)
    }

    async fn apply(&self, action: &Action) -> Result<Applied, SeamError> {
        let result = self.inner.apply(action).await;
        let at = self.at.lock().map(|s| s.clone()).unwrap_or_default();
        let mode = if self.sink.is_some() {
            "dry-run"
        } else {
            "applied"
        };
        if let Some(sink) = &self.sink {
            for line in sink.take() {
                say!("{at}    would: {line}");
            }
        }
        let what = match action {
            Action::SetReplicas {
                app,
                replicas,
                plan_id,
            } => format!(
                "set {app} replicas -> {}{}",
                replicas.0,
                plan_id
                    .as_deref()
                    .map(|p| format!(" (plan {p})"))
                    .unwrap_or_default()
            ),
            other => other.to_string(),
        };
        match &result {
            Ok(a) => {
                say!("{at}  {mode}: {what}: {}", a.detail);
            }
            Err(e) => {
                say!("{at}  {mode}: {what}: FAILED: {e}");
            }
        }
        result
    }
}

/// Live metrics: none (the schedule policy does not read them), or demand
/// from Prometheus, where a failed read is an unknown demand (NaN) and a
/// printed line, never an error that stops the run nor a zero.
#[derive(Clone)]
enum LiveMetrics {
    None,
    Prometheus(Arc<PrometheusMetrics>),
}

impl MetricsSource for LiveMetrics {
    async fn sample(&self, app: &AppId) -> Result<Metrics, SeamError> {
        let unknown = Metrics {
            p99_ms: f64::NAN,
            ..Metrics::default()
        };
        match self {
            LiveMetrics::None => Ok(unknown),
            LiveMetrics::Prometheus(p) => match p.sample(app).await {
                Ok(m) => Ok(m),
                Err(e) => {
                    say!("{app}: live demand unknown ({e}): holding, no scale-in on missing data");
                    Ok(Metrics {
                        demand_rps: f64::NAN,
                        throughput_rps: f64::NAN,
                        utilisation: f64::NAN,
                        ..unknown
                    })
                }
            },
        }
    }
}

/// What `--prometheus` asks for: the source, the target and the period.
struct Live {
    metrics: LiveMetrics,
    target: Option<f64>,
    period_s: Option<i64>,
}

fn live(cmd: &RunCmd) -> anyhow::Result<Live> {
    let (Some(url), Some(target)) = (&cmd.prometheus, cmd.target_rps_per_instance) else {
        return Ok(Live {
            metrics: LiveMetrics::None,
            target: None,
            period_s: None,
        });
    };
    if !(target.is_finite() && target > 0.0) {
        bail!("failed to read --target-rps-per-instance {target}: expected requests/s > 0");
    }
    let period_s = super::args::parse_duration_s(&cmd.period)?;
    if period_s < 1 {
        bail!(
            "failed to read --period {}: expected at least 1s",
            cmd.period
        );
    }
    let client = Client::new(&ClientConfig::new(url.clone()))
        .with_context(|| format!("failed to use --prometheus {url}"))?;
    let queries = AppQueries {
        demand: cmd.demand_query.clone(),
        p99_ms: None,
        ready: None,
    };
    Ok(Live {
        metrics: LiveMetrics::Prometheus(Arc::new(PrometheusMetrics::new(
            client,
            std::collections::BTreeMap::new(),
            Some(queries),
        ))),
        target: Some(target),
        period_s: Some(period_s),
    })
}

/// The schedule alone, the schedule with target tracking beside it, or
/// (`--track-level`) crest's rehearsed policy on the document's forecast.
fn run_policy(
    target: Option<f64>,
    level: Option<(f64, bool)>,
    doc: &PlanDocument,
) -> anyhow::Result<Box<dyn Policy>> {
    let Some(t) = target else {
        return Ok(Box::new(SchedulePolicy::new()));
    };
    let guard = Guard {
        min: Replicas(0),
        max: Replicas(u32::MAX),
        max_step_up: u32::MAX,
        max_step_down: u32::MAX,
        scale_in_cooldown_s: 0,
    };
    let net = TargetTrackingConfig::new(TargetMetric::RpsPerInstance, t);
    if let Some((q, early_ramps)) = level {
        let cfg = CrestPolicyConfig::from_document(doc, q, early_ramps, net, guard);
        say!(
            "crest policy: level tracking with margin {:.3} (quantile {q} of {}), levels below the forecast expected at level^{:.3}, early ramps {}",
            cfg.level.margin,
            doc.empirical
                .as_ref()
                .map_or("no empirical errors in the document", |e| e.source.as_str()),
            cfg.level.reversion,
            if early_ramps { "taken in" } else { "off" }
        );
        return Ok(crest_policy(&cfg, &doc.forecast)?);
    }
    let tracking = TargetTrackingPolicy::try_new(net)?;
    Ok(Box::new(
        CombinedPolicy::try_new("plan+live", guard)?
            .with(SchedulePolicy::new())
            .with(tracking),
    ))
}

/// Run `crest run`.
pub fn run(cmd: RunCmd) -> anyhow::Result<ExitCode> {
    if !cmd.dry_run && cmd.config.is_none() {
        bail!(
            "nothing to act through: pass --config ACTUATOR.toml (the `crest scale` backends) or --dry-run; nothing was done"
        );
    }
    if !(cmd.speed.is_finite() && cmd.speed > 0.0) {
        bail!(
            "failed to read --speed {}: expected a number > 0",
            cmd.speed
        );
    }
    let reverify_s = super::args::parse_duration_s(&cmd.reverify_before)?;
    if !(0.0..=1.0).contains(&cmd.level_quantile) {
        bail!(
            "failed to read --level-quantile {}: expected a quantile in 0..=1",
            cmd.level_quantile
        );
    }
    let mut runs = load_schedule(&cmd.schedule)?;
    runs.sort_by_key(|r| r.doc.plan.steps().first().map(|s| s.at));
    let cfg = match &cmd.config {
        Some(p) => ScaleConfig::load(p)?,
        None => ScaleConfig::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    let at = Arc::new(Mutex::new(String::new()));
    if cmd.dry_run {
        let sink = Sink::default();
        let actuator = Reporting {
            inner: crest_actuator::config::dry_fleet(&cfg, &sink)?,
            sink: Some(sink),
            at,
        };
        return rt.block_on(run_all(&cmd, runs, reverify_s, actuator));
    }
    let journal = cmd
        .journal
        .clone()
        .or_else(|| cfg.journal.clone())
        .context("no journal: pass --journal PATH or set `journal` in the actuator config")?;
    if let Some(mesos) = &cfg.mesos {
        return rt.block_on(run_mesos(&cmd, mesos, &journal, runs, reverify_s, at));
    }
    rt.block_on(async {
        let actuator = Reporting {
            inner: crest_actuator::config::real_fleet(&cfg, &journal).await?,
            sink: None,
            at,
        };
        run_all(&cmd, runs, reverify_s, actuator).await
    })
}

/// One framework connection shared by the drivers of every plan (the
/// `Reporting` wrapper is cloned per plan; a Mesos framework is not), noting
/// the apps whose count was set.
struct Shared<A> {
    inner: Arc<A>,
    applied: Arc<Mutex<std::collections::BTreeSet<AppId>>>,
}

impl<A> Clone for Shared<A> {
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
            applied: self.applied.clone(),
        }
    }
}

impl<A: Actuator> Actuator for Shared<A> {
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send {
        self.inner.observe(app)
    }

    async fn apply(&self, action: &Action) -> Result<Applied, SeamError> {
        let applied = self.inner.apply(action).await?;
        if let Action::SetReplicas { app, .. } = action
            && let Ok(mut set) = self.applied.lock()
        {
            set.insert(app.clone());
        }
        Ok(applied)
    }
}

/// The schedule through the Mesos framework, then wait for the last counts.
async fn run_mesos(
    cmd: &RunCmd,
    mesos: &crest_actuator::mesos::MesosSection,
    journal: &Path,
    runs: Vec<Run>,
    reverify_s: i64,
    at: Arc<Mutex<String>>,
) -> anyhow::Result<ExitCode> {
    let apps: std::collections::BTreeSet<AppId> =
        runs.iter().map(|r| r.doc.plan.app.clone()).collect();
    let journal = crest_actuator::journal::Journal::open(journal)?;
    let framework = Arc::new(crest_actuator::mesos::cli::connect(mesos, &journal, &apps).await?);
    let applied = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let actuator = Reporting {
        inner: Shared {
            inner: framework.clone(),
            applied: applied.clone(),
        },
        sink: None,
        at,
    };
    let result = run_all(cmd, runs, reverify_s, actuator).await;
    // Only apps this run set a count for (others' tasks are left alone).
    let apps = applied.lock().map(|s| s.clone()).unwrap_or_default();
    // Launches come from offers after `apply`: wait for the last counts
    // before disconnecting.
    let wait_ms = (mesos.wait_s * 1000.0).ceil() as i64;
    let converged = framework
        .wait_until(wait_ms, |fw, _| {
            apps.iter().all(|app| {
                let f = fw.fleet(app, Timestamp(0));
                f.running() == f.desired && f.instances.len() == f.desired.0 as usize
            })
        })
        .await;
    let mut short = Vec::new();
    for app in &apps {
        let f = framework.inspect(|fw| fw.fleet(app, Timestamp(0)));
        say!(
            "mesos: {app}: {} of {} tasks running (framework {})",
            f.running().0,
            f.desired.0,
            framework.framework_id().unwrap_or_default()
        );
        if f.running() != f.desired {
            short.push(app.to_string());
        }
    }
    match Arc::try_unwrap(framework) {
        // Disconnect only: the tasks keep running under failover_timeout_s.
        Ok(f) => f.shutdown().await,
        Err(f) => drop(f),
    }
    let code = result?;
    if converged.is_err() {
        bail!(
            "failed to converge on mesos within {} s: {} short of their last count",
            mesos.wait_s,
            short.join(", ")
        );
    }
    Ok(code)
}

async fn run_all<A: Actuator + Clone>(
    cmd: &RunCmd,
    runs: Vec<Run>,
    reverify_s: i64,
    actuator: Reporting<A>,
) -> anyhow::Result<ExitCode> {
    let live = live(cmd)?;
    let wall_now = WallClock.now();
    let mut refused = 0;
    for run in runs {
        let plan = &run.doc.plan;
        let Some(first) = plan.steps().first().map(|s| s.at) else {
            say!("{}: empty plan, skipped", run.source.display());
            continue;
        };
        let last = plan.steps().last().map_or(first, |s| s.at);
        // With --start-now the plan's first step is "now" in plan time.
        let clock = ScaledClock {
            origin: if cmd.start_now {
                first.add_secs(-reverify_s)
            } else {
                wall_now
            },
            wall_origin: WallClock.now(),
            speed: cmd.speed,
        };
        let now = clock.now();
        if last < now && !cmd.start_now {
            say!(
                "{}: plan {} ended before now (last step {last}), skipped",
                run.source.display(),
                plan.id
            );
            continue;
        }
        say!(
            "plan {} for {}: {} steps from {first} to {last}",
            plan.id,
            plan.app,
            plan.steps().len()
        );
        clock.sleep_until(first.add_secs(-reverify_s)).await;
        let d = &run.doc;
        let verdict =
            super::plan::run_gate(cmd.engine, d).context("failed to re-verify the plan")?;
        say!(
            "{}  re-verified ({} scenarios, {} engine): P(SLO breach) {:.3} (gate {:.3}) -> {}{}",
            clock.now(),
            verdict.scenarios,
            verdict.engine,
            verdict.breach_probability,
            verdict.max_breach_probability,
            if verdict.passed { "PASS" } else { "FAIL" },
            if verdict.passed || verdict.kinds.is_empty() {
                String::new()
            } else {
                format!(" (breaches: {})", verdict.failed_kinds())
            }
        );
        if !(verdict.passed || cmd.force || run.force) {
            say!(
                "plan {} not executed: it failed re-verification (use --force)",
                plan.id
            );
            refused += 1;
            continue;
        }
        let mut driver = Autoscaler::new(
            plan.app.clone(),
            clock,
            live.metrics.clone(),
            actuator.clone(),
            run_policy(
                live.target,
                cmd.track_level
                    .then_some((cmd.level_quantile, cmd.early_ramps)),
                d,
            )?,
        )
        .with_plan(plan.clone());
        // Live demand is read until the plan's window ends (its forecast's
        // end), not only until its last step.
        let window_end = last.max(d.forecast.time_at(d.forecast.horizon()));
        let mut t = first.max(clock.now());
        loop {
            clock.sleep_until(t).await;
            if let Ok(mut l) = actuator.at.lock() {
                *l = t.to_string();
            }
            let decision = driver
                .step()
                .await
                .with_context(|| format!("failed to apply plan {} at {t}", plan.id))?;
            let next = decision
                .evaluate_next
                .filter(|n| *n > t)
                .or_else(|| plan.steps().iter().map(|s| s.at).find(|a| *a > t));
            t = match (next, live.period_s) {
                // Live demand: read it every period until the plan's end.
                (Some(n), Some(p)) => n.min(t.add_secs(p)),
                (None, Some(p)) if t < window_end => t.add_secs(p).min(window_end),
                (Some(n), None) => n,
                _ => break,
            };
        }
        say!("plan {} done", plan.id);
    }
    Ok(if refused > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
