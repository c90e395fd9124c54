//! `crest run --schedule FILE`: execute verified holiday plans at their times.
//!
//! Each plan in the schedule is re-verified just before it starts (the
//! verification gate of `crest plan --verify`, on the plan document's own
//! forecast, capacity and gate settings) and then followed step by step by the
//! very driver the simulator uses — `crest_autoscaler::Autoscaler` with a
//! `SchedulePolicy` — handing `SetReplicas` actions to the actuator seam.
//!
//! Time comes through the `Clock` seam: the wall clock, optionally sped up
//! (`--speed`) and shifted so a plan starts now (`--start-now`) to rehearse a
//! schedule. The only actuator here is a dry-run one that prints each action
//! and keeps the desired counts in memory (the real backends belong to
//! `crest-actuator`, which exposes no dry-run actuator yet); without
//! `--dry-run` the command refuses to start.
//!
//! Schedule file (JSON): either one plan document (`crest plan --output`), or
//! `{"runs":[{"plan":"plan.json","force":false}, ...]}` with paths relative to
//! the schedule file.
//!
//! Exit codes: 0 every plan ran (or was already over), 1 bad input, 2 usage,
//! 3 a plan failed its re-verification and was not executed.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use clap::Args;
use crest_autoscaler::{Autoscaler, PlanDocument, SchedulePolicy};
use crest_core::seams::{
    Actuator, Applied, FleetState, InstancePhase, InstanceState, Metrics, MetricsSource, SeamError,
};
use crest_core::{Action, AppId, Clock, Replicas, Timestamp, WallClock};
use serde::Deserialize;

/// `println!` that tolerates a closed stdout (`| head`).
macro_rules! say {
    ($($arg:tt)*) => {
        // A closed pipe only ends the output, not the run.
        let _ = super::plan::emit(&format!("{}\n", format_args!($($arg)*)));
    };
}

/// Arguments of `crest run`.
#[derive(Debug, Args)]
pub struct RunCmd {
    /// The schedule: a plan document, or {"runs":[{"plan":FILE,"force":bool}]} (JSON).
    #[arg(long, value_name = "FILE")]
    schedule: PathBuf,
    /// Print the actions instead of carrying them out (the only actuator available).
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

fn read_doc(path: &Path) -> anyhow::Result<PlanDocument> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read plan {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "failed to parse plan {} (expected a `crest plan --output` document)",
            path.display()
        )
    })
}

fn load_schedule(path: &Path) -> anyhow::Result<Vec<Run>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read schedule {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("failed to parse schedule {} as JSON", path.display()))?;
    if value.get("runs").is_some() {
        let raw: RawSchedule = serde_json::from_value(value)
            .with_context(|| format!("failed to read schedule {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        raw.runs
            .into_iter()
            .map(|r| {
                let p = if r.plan.is_absolute() {
                    r.plan
                } else {
                    base.join(r.plan)
                };
                Ok(Run {
                    doc: read_doc(&p)?,
                    source: p,
                    force: r.force,
                })
            })
            .collect()
    } else {
        Ok(vec![Run {
            doc: read_doc(path)?,
            source: path.to_path_buf(),
            force: false,
        }])
    }
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
    fn to_wall(self, t: Timestamp) -> Timestamp {
        let d = (t.millis() - self.origin.millis()) as f64 / self.speed;
        self.wall_origin.add_millis(d as i64)
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let d = (WallClock.now().millis() - self.wall_origin.millis()) as f64 * self.speed;
        self.origin.add_millis(d as i64)
    }

    fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send {
        WallClock.sleep_until(self.to_wall(t))
    }
}

/// Prints actions and remembers the desired count per app. A legitimate dry
/// run: nothing outside this process is touched.
#[derive(Debug, Clone, Default)]
struct DryRunActuator {
    desired: Arc<Mutex<BTreeMap<AppId, u32>>>,
    clock_label: Arc<Mutex<String>>,
}

impl Actuator for DryRunActuator {
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send {
        let n = self
            .desired
            .lock()
            .map(|m| m.get(app).copied().unwrap_or(0))
            .unwrap_or(0);
        let state = FleetState {
            app: app.clone(),
            at: WallClock.now(),
            desired: Replicas(n),
            instances: (0..n)
                .map(|i| InstanceState {
                    id: crest_core::action::InstanceId(format!("{app}-dry-{i}")),
                    phase: InstancePhase::Running,
                    addr: None,
                })
                .collect(),
        };
        std::future::ready(Ok(state))
    }

    fn apply(&self, action: &Action) -> impl Future<Output = Result<Applied, SeamError>> + Send {
        let result = match action {
            Action::SetReplicas {
                app,
                replicas,
                plan_id,
            } => {
                let before = self
                    .desired
                    .lock()
                    .map(|mut m| m.insert(app.clone(), replicas.0))
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                let at = self
                    .clock_label
                    .lock()
                    .map(|s| s.clone())
                    .unwrap_or_default();
                say!(
                    "{at}  dry-run: set {app} replicas {before} -> {}{}",
                    replicas.0,
                    plan_id
                        .as_deref()
                        .map(|p| format!(" (plan {p})"))
                        .unwrap_or_default()
                );
                Ok(Applied {
                    action: action.clone(),
                    changed: before != replicas.0,
                    detail: format!("dry-run: {before} -> {}", replicas.0),
                })
            }
            other => {
                say!("dry-run: {other:?}");
                Ok(Applied {
                    action: other.clone(),
                    changed: false,
                    detail: "dry-run".into(),
                })
            }
        };
        std::future::ready(result)
    }
}

/// No live metrics in a dry run: the schedule policy does not read them.
#[derive(Debug, Clone, Copy)]
struct NoMetrics;

impl MetricsSource for NoMetrics {
    fn sample(&self, _app: &AppId) -> impl Future<Output = Result<Metrics, SeamError>> + Send {
        std::future::ready(Ok(Metrics {
            p99_ms: f64::NAN,
            ..Metrics::default()
        }))
    }
}

/// Run `crest run`.
pub fn run(cmd: RunCmd) -> anyhow::Result<ExitCode> {
    if !cmd.dry_run {
        bail!(
            "only --dry-run is available: crest-actuator exposes no backend for `crest run` yet; nothing was done"
        );
    }
    if !(cmd.speed.is_finite() && cmd.speed > 0.0) {
        bail!(
            "failed to read --speed {}: expected a number > 0",
            cmd.speed
        );
    }
    let reverify_s = super::plan::parse_duration_s(&cmd.reverify_before)?;
    let mut runs = load_schedule(&cmd.schedule)?;
    runs.sort_by_key(|r| r.doc.plan.steps().first().map(|s| s.at));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    rt.block_on(run_all(cmd, runs, reverify_s))
}

async fn run_all(cmd: RunCmd, runs: Vec<Run>, reverify_s: i64) -> anyhow::Result<ExitCode> {
    let wall_now = WallClock.now();
    let actuator = DryRunActuator::default();
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
            "{}  re-verified ({} scenarios, {} engine): P(SLO breach) {:.3} (gate {:.3}) -> {}",
            clock.now(),
            verdict.scenarios,
            verdict.engine,
            verdict.breach_probability,
            verdict.max_breach_probability,
            if verdict.passed { "PASS" } else { "FAIL" }
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
            NoMetrics,
            actuator.clone(),
            SchedulePolicy::new(),
        )
        .with_plan(plan.clone());
        let mut t = first.max(clock.now());
        loop {
            clock.sleep_until(t).await;
            if let Ok(mut l) = actuator.clock_label.lock() {
                *l = t.to_string();
            }
            let decision = driver.step().await.context("failed to apply a plan step")?;
            match decision.evaluate_next {
                Some(next) if next > t => t = next,
                _ => break,
            }
        }
        say!("plan {} done", plan.id);
    }
    Ok(if refused > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
