//! # crest-controller
//!
//! The long-running reconcile loop that closes crest's loop: alerts recorded
//! by `crest serve`, plans in force and live metrics decide, through the
//! autoscaler's `Combined` policy, how many instances each app should run,
//! and the actuator makes it so.
//!
//! Why a crate of its own: the autoscaler decides and must stay free of a
//! runtime; the server records and must never touch a fleet; the actuator
//! acts and decides nothing. This crate is the one place where the three
//! meet, and the binary (`crest serve --config F` with `[actuator]` and
//! `[[app]]` sections) runs it beside the server, in the same process and
//! over the same SQLite database.
//!
//! ```text
//!  alert ──► crest-server (decision, durable) ──watch──► wake ─┐
//!  period timer ───────────────────────────────────────────────┤
//!                                                              ▼
//!  per app: lease? ─► observe (actuator + LB) ─► floors: alerts (active_steps),
//!           plans in force (re-verified), metrics ─► CombinedPolicy (max of floors,
//!           min/max, max_step) ─► safety (no scale-in while an alert fires or within
//!           the cooldown; pause flag) ─► history + status (SQLite) ─► actuator.apply
//!           (lease renewed while it runs; lost lease: abandon, the holder reconciles)
//! ```
//!
//! Level-triggered, as Kubernetes controllers are: every tick compares the
//! desired count with what the actuator observes and applies again when they
//! differ, so a crash (kill -9) mid-scale-out is finished by the next holder
//! of the lease — the actuator's journal reconciles half-built instances.
//!
//! Safety rules and where they live:
//! - one controller per app: [`crest_server::apps::try_lease`] (a lease with
//!   expiry in `controller_lease`; a standby takes over once it expires);
//! - `max_instances`, `max_step`: the `Combined` policy's guard;
//! - scale-in only after `cooldown_s` since the last scale-out or firing
//!   alert, never while an alert for the app fires: [`AppLoop::tick`];
//! - kill switch: the `paused` flag `POST /v1/apps/APP/pause` writes;
//! - every decision and actuation step in `controller_history` with its
//!   reason (alert keys, plan id and step, metric).
//!
//! Live metrics come through [`MetricsSource`] when one is given (target
//! tracking); without one, alerts and plans drive the fleet.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crest_actuator::fleet::{is_healthy, is_instance_of};
use crest_autoscaler::{CombinedPolicy, FixedPolicy, Guard};
use crest_autoscaler::{Decision, Observation, Policy, TargetTrackingConfig, TargetTrackingPolicy};
use crest_core::seams::{Actuator, LoadBalancer, Metrics, MetricsSource, SeamError};
use crest_core::{Action, AppId, Clock, PlanReason, Replicas, Timestamp, WallClock};
use crest_server::apps::{self, Floor, LastDecision};
use crest_server::config::Mapping;
use rusqlite::Connection;
use tokio::sync::watch;

pub mod config;
pub mod error;
pub mod serve;

pub use config::{AppSpec, ControllerConfig, MetricsSpec};
pub use error::ControllerError;

/// A metrics source that has nothing: alerts and plans alone drive the fleet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricsSource for NoMetrics {
    async fn sample(&self, app: &AppId) -> Result<Metrics, SeamError> {
        Err(SeamError::new(
            "metrics",
            crest_core::seams::SeamErrorKind::NotFound,
            format!("no metrics source configured for {app}"),
        ))
    }
}

/// What the controller is built from, shared by every app's loop.
pub struct Controller<A, L, M> {
    actuator: A,
    lb: Option<L>,
    metrics: Option<M>,
    db: PathBuf,
    mapping: Mapping,
    holder: String,
    dry_run: bool,
    telemetry: Option<Arc<crest_server::metrics::Metrics>>,
    target_tracking: Vec<(AppId, TargetTrackingConfig)>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
}

impl<A, L, M> Controller<A, L, M>
where
    A: Actuator + 'static,
    L: LoadBalancer + 'static,
    M: MetricsSource + 'static,
{
    /// A controller acting through `actuator`, reading the balancer `lb` for
    /// readiness, over the state database `db` (the server's), with the
    /// server's alert `mapping` (app bounds for alert floors). `holder` names
    /// this instance in leases and history.
    pub fn new(
        actuator: A,
        lb: Option<L>,
        metrics: Option<M>,
        db: &Path,
        mapping: Mapping,
        holder: impl Into<String>,
    ) -> Self {
        Controller {
            actuator,
            lb,
            metrics,
            db: db.to_path_buf(),
            mapping,
            holder: holder.into(),
            dry_run: false,
            telemetry: None,
            target_tracking: Vec::new(),
            log: Arc::new(|l: &str| eprintln!("{l}")),
        }
    }

    /// Dry run: decide and hand actions to the (printing) actuator, but take
    /// no lease and write no state.
    #[must_use]
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Report per-app replicas and decision latency into the server's metrics.
    #[must_use]
    pub fn with_telemetry(mut self, m: Arc<crest_server::metrics::Metrics>) -> Self {
        self.telemetry = Some(m);
        self
    }

    /// Track a live metric for `app` (needs a metrics source).
    #[must_use]
    pub fn with_target_tracking(mut self, app: AppId, cfg: TargetTrackingConfig) -> Self {
        self.target_tracking.push((app, cfg));
        self
    }

    /// Where the controller's lines go (decisions, actuation, errors).
    #[must_use]
    pub fn with_log(mut self, log: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.log = Arc::new(log);
        self
    }

    /// The loop of one app, ready to [`AppLoop::tick`] or [`AppLoop::run`].
    ///
    /// # Errors
    /// [`ControllerError::Db`] when the database cannot be opened,
    /// [`ControllerError::Config`] when the app's bounds are invalid.
    pub fn app_loop(self: &Arc<Self>, spec: AppSpec) -> Result<AppLoop<A, L, M>, ControllerError> {
        let conn = Connection::open(&self.db).map_err(ControllerError::db("open"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(ControllerError::db("set the busy timeout"))?;
        apps::ensure_schema(&conn).map_err(ControllerError::db("create the controller tables"))?;
        let guard = Guard {
            min: Replicas(spec.min_instances),
            max: Replicas(spec.max_instances),
            max_step_up: spec.max_step,
            max_step_down: spec.max_step,
            scale_in_cooldown_s: spec.cooldown_s,
        };
        let bad = |e: crest_autoscaler::AutoscalerError| ControllerError::Config {
            file: "(controller)".into(),
            message: format!("app {}: {e}", spec.app),
        };
        let alerts = Cell::default();
        let plans = Cell::default();
        let mut policy = CombinedPolicy::try_new(spec.app.to_string(), guard)
            .map_err(bad)?
            .with(FloorPolicy {
                name: "alert",
                cell: alerts.clone(),
            })
            .with(FloorPolicy {
                name: "plan",
                cell: plans.clone(),
            });
        let mut tracking = false;
        if let Some((_, cfg)) = self.target_tracking.iter().find(|(a, _)| *a == spec.app) {
            policy.push(Box::new(
                TargetTrackingPolicy::try_new(cfg.clone()).map_err(bad)?,
            ));
            tracking = true;
        }
        policy.push(Box::new(FixedPolicy::new(Replicas(spec.base))));
        let cooldown_from = if self.dry_run {
            None
        } else {
            apps::cooldown_from(&conn, &spec.app)
                .map_err(ControllerError::db("read the cooldown"))?
        };
        Ok(AppLoop {
            ctl: Arc::clone(self),
            verdicts: vec![None; spec.plans.len()],
            spec,
            conn: Mutex::new(conn),
            policy: Mutex::new(policy),
            alerts,
            plans,
            tracking,
            cooldown_from,
            alert_was_firing: false,
            reconcile_first: true,
            last_logged: None,
            had_lease: false,
        })
    }

    /// Run every app's loop until `stop` turns true; `wake` changes when
    /// alerts made new decisions (the server's `decisions_signal`).
    ///
    /// # Errors
    /// As [`Controller::app_loop`], before anything runs.
    pub async fn run(
        self: Arc<Self>,
        specs: Vec<AppSpec>,
        wake: watch::Receiver<u64>,
        stop: watch::Receiver<bool>,
    ) -> Result<(), ControllerError>
    where
        A: Clone,
    {
        let mut loops = Vec::new();
        for s in specs {
            loops.push(self.app_loop(s)?);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for l in loops {
            tasks.spawn(l.run(wake.clone(), stop.clone()));
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// A policy member whose floor the loop sets each tick (alerts, plans).
#[derive(Clone, Default)]
struct Cell(Arc<Mutex<Option<u32>>>);

impl Cell {
    fn set(&self, v: Option<u32>) {
        if let Ok(mut g) = self.0.lock() {
            *g = v;
        }
    }
    fn get(&self) -> Option<u32> {
        self.0.lock().ok().and_then(|g| *g)
    }
}

struct FloorPolicy {
    name: &'static str,
    cell: Cell,
}

impl Policy for FloorPolicy {
    fn name(&self) -> &str {
        self.name
    }
    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        self.recommend(obs).unwrap_or(Decision {
            desired: obs.fleet.desired,
            reason: PlanReason::Baseline,
            evaluate_next: None,
        })
    }
    fn recommend(&mut self, _obs: &Observation<'_>) -> Option<Decision> {
        self.cell.get().map(|n| Decision {
            desired: Replicas(n),
            reason: PlanReason::Manual {
                note: self.name.into(),
            },
            evaluate_next: None,
        })
    }
}

/// What one tick saw and did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    /// Another controller holds the lease (its name): this one only waits.
    pub standby: Option<String>,
    /// Replicas asked for before this tick (the actuator's desired count).
    pub current: u32,
    /// Replicas decided.
    pub desired: u32,
    /// Instances running or starting.
    pub observed: u32,
    /// Instances passing the balancer's health check.
    pub ready: u32,
    /// Floors in force.
    pub floors: Vec<Floor>,
    /// Why this count.
    pub reason: String,
    /// The kill switch is on: nothing was applied.
    pub paused: bool,
    /// What actuation did (`Err`: why it failed), when it ran.
    pub actuation: Option<Result<String, String>>,
}

/// One app's reconcile loop.
pub struct AppLoop<A, L, M> {
    ctl: Arc<Controller<A, L, M>>,
    spec: AppSpec,
    conn: Mutex<Connection>,
    policy: Mutex<CombinedPolicy>,
    alerts: Cell,
    plans: Cell,
    tracking: bool,
    /// Per plan document: None until re-verified, then whether it may run.
    verdicts: Vec<Option<bool>>,
    cooldown_from: Option<Timestamp>,
    alert_was_firing: bool,
    reconcile_first: bool,
    last_logged: Option<(u32, u32, String, bool)>,
    had_lease: bool,
}

#[allow(clippy::disallowed_methods)] // decision latency is measured in wall time
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

fn reason_text(r: &PlanReason) -> String {
    match r {
        PlanReason::Reactive {
            metric,
            value,
            target,
        } => format!("metric {metric} {value:.3} (target {target:.3})"),
        PlanReason::Bound { which } => format!("bound {which}"),
        other => serde_json::to_string(other).unwrap_or_else(|_| format!("{other:?}")),
    }
}

impl<A, L, M> AppLoop<A, L, M>
where
    A: Actuator + 'static,
    L: LoadBalancer + 'static,
    M: MetricsSource + 'static,
{
    /// The app.
    pub fn app(&self) -> &AppId {
        &self.spec.app
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock only means a panic mid-call; SQLite rolled it back.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn log(&self, line: &str) {
        (self.ctl.log)(line);
    }

    fn history(
        &self,
        at: Timestamp,
        kind: &str,
        current: u32,
        desired: u32,
        reason: &str,
        detail: &str,
    ) {
        if self.ctl.dry_run {
            return;
        }
        if let Err(e) = apps::append_history(
            &self.db(),
            &self.spec.app,
            at,
            kind,
            current,
            desired,
            reason,
            detail,
            &self.ctl.holder,
        ) {
            self.log(&format!(
                "crest control: {}: failed to journal {kind}: {e}",
                self.spec.app
            ));
        }
    }

    /// The plan floor in force now: re-verifies each plan document once,
    /// `reverify_before_s` before its first step (or at the first tick after).
    fn plan_floor(&mut self, now: Timestamp) -> Option<(u32, String, String)> {
        let mut best: Option<(u32, String, String)> = None;
        let mut consider = |n: u32, detail: String, id: String| {
            if best.as_ref().is_none_or(|(b, _, _)| n > *b) {
                best = Some((n, detail, id));
            }
        };
        for k in 0..self.spec.plans.len() {
            let (path, doc) = &self.spec.plans[k];
            let start = crest_autoscaler::verify::plan_start(&doc.plan, now);
            if now < start.add_secs(-self.spec.reverify_before_s) {
                continue;
            }
            if self.verdicts[k].is_none() {
                let (ok, detail) = match crest_planning::gate::run_gate(
                    doc,
                    crest_planning::gate::GateEngine::Planner,
                ) {
                    Ok(v) => (
                        v.passed || self.spec.force_plans,
                        format!(
                            "{}: P(SLO breach) {:.3} (gate {:.3}) -> {}{}",
                            path.display(),
                            v.breach_probability,
                            v.max_breach_probability,
                            if v.passed { "PASS" } else { "FAIL" },
                            if !v.passed && self.spec.force_plans {
                                " (forced)"
                            } else {
                                ""
                            }
                        ),
                    ),
                    Err(e) => (
                        false,
                        format!("{}: re-verification failed: {e}", path.display()),
                    ),
                };
                let kind = if ok { "plan_verified" } else { "plan_refused" };
                self.history(now, kind, 0, 0, &format!("plan {}", doc.plan.id), &detail);
                self.log(&format!(
                    "crest control: {}: plan {} {kind}: {detail}",
                    self.spec.app, doc.plan.id
                ));
                self.verdicts[k] = Some(ok);
            }
            if self.verdicts[k] != Some(true) {
                continue;
            }
            if let Some(step) = doc.plan.step_at(now) {
                consider(
                    step.replicas.0,
                    format!(
                        "plan {} step at {} ({})",
                        doc.plan.id,
                        step.at,
                        reason_text(&step.reason)
                    ),
                    doc.plan.id.clone(),
                );
            }
        }
        if self.spec.stored_plans
            && let Ok(stored) = apps::stored_plans(&self.db(), &self.spec.app)
        {
            for p in stored {
                if let Some(step) = p.step_at(now) {
                    consider(
                        step.replicas.0,
                        format!(
                            "plan {} step at {} ({}; stored, not re-verified)",
                            p.id,
                            step.at,
                            reason_text(&step.reason)
                        ),
                        p.id.clone(),
                    );
                }
            }
        }
        best
    }

    async fn ready(&self, fleet: &crest_core::seams::FleetState) -> u32 {
        let Some(lb) = &self.ctl.lb else {
            return fleet.running().0;
        };
        match lb.servers(self.spec.app.as_str()).await {
            Ok(s) => u32::try_from(
                s.iter()
                    .filter(|s| is_instance_of(&self.spec.app, &s.name) && is_healthy(&s.status))
                    .count(),
            )
            .unwrap_or(u32::MAX),
            Err(_) => 0,
        }
    }

    /// One evaluation at `now`: lease, observe, decide, journal, act.
    ///
    /// # Errors
    /// When the database fails or the fleet cannot be observed (nothing is
    /// applied then; the next tick tries again).
    pub async fn tick(&mut self, now: Timestamp) -> Result<TickReport, ControllerError> {
        self.tick_from(now, stopwatch()).await
    }

    async fn tick_from(
        &mut self,
        now: Timestamp,
        woke: std::time::Instant,
    ) -> Result<TickReport, ControllerError> {
        let app = self.spec.app.clone();
        let holder = self.ctl.holder.clone();
        if !self.ctl.dry_run {
            let got = apps::try_lease(&self.db(), &app, &holder, now, self.spec.lease_ttl_ms)
                .map_err(ControllerError::db("take the lease"))?;
            if !got {
                self.had_lease = false;
                let other = apps::lease_holder(&self.db(), &app)
                    .ok()
                    .flatten()
                    .map_or_else(|| "?".to_string(), |(h, _)| h);
                return Ok(TickReport {
                    standby: Some(other),
                    current: 0,
                    desired: 0,
                    observed: 0,
                    ready: 0,
                    floors: Vec::new(),
                    reason: "standby: another controller holds the lease".into(),
                    paused: false,
                    actuation: None,
                });
            }
            if !self.had_lease {
                self.had_lease = true;
                self.reconcile_first = true;
                self.history(now, "lease", 0, 0, "lease acquired", &holder);
                self.log(&format!("crest control: {app}: lease acquired by {holder}"));
                // A previous holder may have died: its state is ours now.
                let stored = apps::cooldown_from(&self.db(), &app)
                    .map_err(ControllerError::db("read the cooldown"))?;
                self.cooldown_from = stored.max(self.cooldown_from);
            }
        }

        let fleet =
            self.ctl
                .actuator
                .observe(&app)
                .await
                .map_err(|e| ControllerError::Observe {
                    app: app.to_string(),
                    message: e.to_string(),
                })?;
        let current = fleet.desired.0;
        let observed = fleet.provisioned().0;
        let ready = self.ready(&fleet).await;
        let paused = !self.ctl.dry_run
            && apps::paused(&self.db(), &app)
                .map_err(ControllerError::db("read the pause flag"))?;

        // Floors, each with where it comes from.
        let mut floors = vec![Floor {
            source: "baseline".into(),
            replicas: self.spec.base,
            detail: format!("base {}", self.spec.base),
        }];
        let alert = match self.ctl.mapping.bounds(&app) {
            Some(b) => apps::alert_floor(&self.db(), &app, b)
                .map_err(ControllerError::db("read the active alerts"))?,
            None => None,
        };
        if let Some((n, keys)) = &alert {
            floors.push(Floor {
                source: "alert".into(),
                replicas: n.0,
                detail: keys.join(","),
            });
        }
        self.alerts.set(alert.as_ref().map(|(n, _)| n.0));
        let plan = self.plan_floor(now);
        if let Some((n, detail, _)) = &plan {
            floors.push(Floor {
                source: "plan".into(),
                replicas: *n,
                detail: detail.clone(),
            });
        }
        self.plans.set(plan.as_ref().map(|(n, _, _)| *n));
        let mut metrics = Metrics {
            at: now,
            running: fleet.running().0,
            p99_ms: f64::NAN,
            ..Metrics::default()
        };
        // Missing live data must never shrink the fleet: the policy then sees
        // an unknown demand (NaN), on which target tracking keeps the current
        // count, and the combined policy never goes below a member.
        if self.tracking
            && let Some(src) = &self.ctl.metrics
        {
            match src.sample(&app).await {
                Ok(m) => metrics = m,
                Err(e) => {
                    metrics.demand_rps = f64::NAN;
                    metrics.throughput_rps = f64::NAN;
                    metrics.utilisation = f64::NAN;
                    self.log(&format!("crest control: {app}: metrics: {e}"));
                }
            }
        }

        let (decision, winner) = {
            let mut policy = self
                .policy
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let d = policy.decide(&Observation {
                now,
                fleet: &fleet,
                metrics: &metrics,
                plan: None,
            });
            (d, policy.last_winner().unwrap_or("none").to_string())
        };
        let mut desired = decision.desired.0;
        let mut reason = match winner.as_str() {
            "alert" => format!(
                "alert {}",
                alert.as_ref().map(|(_, k)| k.join(",")).unwrap_or_default()
            ),
            "plan" => plan.as_ref().map(|(_, d, _)| d.clone()).unwrap_or_default(),
            "fixed" => format!("baseline {}", self.spec.base),
            "none" => "no floor".into(),
            _ => reason_text(&decision.reason),
        };
        if winner == "target-tracking"
            || self.tracking && matches!(decision.reason, PlanReason::Reactive { .. })
        {
            floors.push(Floor {
                source: "metric".into(),
                replicas: desired,
                detail: reason_text(&decision.reason),
            });
        }
        if let PlanReason::Bound { which } = &decision.reason {
            reason = format!("{reason}; held by {which}");
        }
        // Safety: no scale-in while an alert for the app fires, nor within
        // the cooldown after the last scale-out or firing alert.
        // The cooldown runs from the last tick an alert fired, and from the
        // first tick that saw it resolved (the wake-up its resolve causes).
        if alert.is_some() || self.alert_was_firing {
            self.cooldown_from = Some(now);
        }
        self.alert_was_firing = alert.is_some();
        if desired < current {
            if let Some((_, keys)) = &alert {
                reason = format!("scale-in held: alert {} firing", keys.join(","));
                desired = current;
            } else if let Some(from) = self.cooldown_from
                && now < from.add_secs(self.spec.cooldown_s)
            {
                reason = format!(
                    "scale-in held: cooldown until {}",
                    from.add_secs(self.spec.cooldown_s)
                );
                desired = current;
            }
        }
        if desired > current {
            self.cooldown_from = Some(now);
        }
        let latency = woke.elapsed().as_secs_f64();

        let last = LastDecision {
            at_ms: now.millis(),
            current,
            desired,
            reason: reason.clone(),
        };
        let changed =
            self.last_logged.as_ref() != Some(&(current, desired, reason.clone(), paused));
        if changed {
            let kind = if paused && desired != current {
                "paused"
            } else {
                "decision"
            };
            self.history(
                now,
                kind,
                current,
                desired,
                &reason,
                &format!("observed {observed}, ready {ready}"),
            );
            self.log(&format!(
                "crest control: {app}: {kind}: {current} -> {desired} ({reason}); observed {observed}, ready {ready}"
            ));
            self.last_logged = Some((current, desired, reason.clone(), paused));
        }
        if !self.ctl.dry_run {
            apps::put_status(
                &self.db(),
                &app,
                desired,
                observed,
                ready,
                &floors,
                changed.then_some(&last),
                &holder,
                self.cooldown_from,
                now,
            )
            .map_err(ControllerError::db("write the app status"))?;
        }
        if let Some(t) = &self.ctl.telemetry {
            t.app_replicas(app.as_str(), desired, observed, ready, paused);
            t.decision_latency(app.as_str(), latency);
        }

        // Level-triggered: act whenever what is asked differs from what is.
        // This loop's own applies finish before the next tick, so an instance
        // still starting, draining or failed here was left half-done by a
        // controller that died (kill -9): apply again and the actuator's
        // journal reconciles it. The first tick under a new lease always
        // applies, for the same reason.
        let all_running = fleet
            .instances
            .iter()
            .all(|i| i.phase == crest_core::seams::InstancePhase::Running);
        let first = std::mem::take(&mut self.reconcile_first);
        let needs = first || desired != current || fleet.running().0 != desired || !all_running;
        let mut actuation = None;
        if needs && !paused {
            let action = Action::SetReplicas {
                app: app.clone(),
                replicas: Replicas(desired),
                plan_id: if winner == "plan" {
                    plan.as_ref().map(|(_, _, id)| id.clone())
                } else {
                    None
                },
            };
            if self.ctl.dry_run {
                self.log(&format!("would: {action} ({reason})"));
            }
            self.history(
                now,
                "actuate",
                current,
                desired,
                &reason,
                &action.to_string(),
            );
            let r = self.apply_leased(&action).await;
            let at = WallClock.now();
            match &r {
                Ok(detail) => {
                    self.history(at, "actuated", current, desired, &reason, detail);
                    self.log(&format!("crest control: {app}: actuated: {detail}"));
                }
                Err(e) => {
                    self.history(at, "actuate_failed", current, desired, &reason, e);
                    self.log(&format!("crest control: {app}: actuation failed: {e}"));
                }
            }
            actuation = Some(r);
        }
        Ok(TickReport {
            standby: None,
            current,
            desired,
            observed,
            ready,
            floors,
            reason,
            paused,
            actuation,
        })
    }

    /// Apply with the lease renewed every third of its lifetime; if it is
    /// lost (this controller stalled and another took over), abandon the
    /// actuation: the new holder reconciles whatever was half done.
    async fn apply_leased(&mut self, action: &Action) -> Result<String, String> {
        let ctl = Arc::clone(&self.ctl);
        let fut = ctl.actuator.apply(action);
        tokio::pin!(fut);
        if ctl.dry_run {
            return fut.await.map(|a| a.detail).map_err(|e| e.to_string());
        }
        let every = (self.spec.lease_ttl_ms / 3).max(50);
        loop {
            let next = WallClock.now().add_millis(every);
            tokio::select! {
                r = &mut fut => return r.map(|a| a.detail).map_err(|e| e.to_string()),
                () = WallClock.sleep_until(next) => {
                    let now = WallClock.now();
                    let renewed = apps::try_lease(&self.db(), &self.spec.app, &ctl.holder, now, self.spec.lease_ttl_ms);
                    match renewed {
                        Ok(true) => {}
                        Ok(false) => {
                            self.had_lease = false;
                            return Err("lease lost to another controller: actuation abandoned (the new holder reconciles)".into());
                        }
                        Err(e) => {
                            self.had_lease = false;
                            return Err(format!("lease renewal failed ({e}): actuation abandoned"));
                        }
                    }
                }
            }
        }
    }

    /// Tick every period, and at once when `wake` changes, until `stop` turns
    /// true; then give the lease up so a standby takes over at once.
    pub async fn run(mut self, mut wake: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
        let mut wake_alive = true;
        loop {
            if *stop.borrow() {
                break;
            }
            let woke = stopwatch();
            match self.tick_from(WallClock.now(), woke).await {
                Ok(r) => {
                    if let Some(h) = &r.standby
                        && self.last_logged.as_ref().is_none_or(|l| l.2 != "standby")
                    {
                        self.log(&format!(
                            "crest control: {}: standby, lease held by {h}",
                            self.spec.app
                        ));
                        self.last_logged = Some((0, 0, "standby".into(), false));
                    }
                }
                Err(e) => self.log(&format!("crest control: {}: {e}", self.spec.app)),
            }
            let wait = if self.had_lease || self.ctl.dry_run {
                self.spec.period_ms
            } else {
                // Standby: look again well within the lease's lifetime.
                self.spec
                    .period_ms
                    .min(u64::try_from(self.spec.lease_ttl_ms / 3).unwrap_or(1000))
            };
            let next = WallClock
                .now()
                .add_millis(i64::try_from(wait).unwrap_or(15_000));
            tokio::select! {
                () = WallClock.sleep_until(next) => {}
                r = wake.changed(), if wake_alive => {
                    if r.is_err() {
                        wake_alive = false;
                    }
                }
                _ = stop.changed() => {}
            }
        }
        if !self.ctl.dry_run && self.had_lease {
            let _ = apps::release_lease(&self.db(), &self.spec.app, &self.ctl.holder);
            self.history(
                WallClock.now(),
                "lease",
                0,
                0,
                "lease released (shutdown)",
                &self.ctl.holder,
            );
        }
    }
}
