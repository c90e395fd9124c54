//! # crest-sim
//!
//! A discrete-event simulator of one app's fleet behind a load balancer,
//! driven by crest's own autoscaler. It answers "will this plan (or policy)
//! hold?" before anything real is touched, and an operator's what-if
//! questions from the command line (`crest sim --scenario FILE.toml`).
//!
//! ```text
//!  Traffic (Poisson / NHPP from a Series / Cox / flash crowds)
//!     │ arrivals
//!     ▼
//!  Balancer (shared queue + maxconn | weighted RR | least-conn | random)
//!     │                                 ▲ SimLoadBalancer
//!     ▼                                 │
//!  Instances (concurrency, service dist, slow-down, timeouts, crashes, zones)
//!     ▲ launches (lead time, image pull, API rate limit)   │ counters
//!  Provisioner ◄── SimActuator ◄── Autoscaler::step() ◄── SimMetrics
//!                      (Evaluate event, VirtualClock, any crest Policy)
//! ```
//!
//! Traffic kinds in scenario files: `poisson`, `series` (inline values),
//! `crest` (a synthetic daily cycle with holiday crests) and `history` (a
//! file or bundled dataset through a loader the caller passes; the `crest`
//! binary passes crest-datasets').
//!
//! Start with [`run`] / [`run_with_policy`] and [`Scenario`]; the kernel is in
//! [`engine`] (exact and fluid).
//!
//! ## Modes
//! - **exact** — every request is an event: arrival, then completion from a
//!   binary heap keyed by `(time, sequence)`; about 10 M requests/s on one
//!   core for M/M/c (`cargo bench -p crest-sim`). Validated against M/M/1,
//!   M/M/c (Erlang C) and M/D/1 (Pollaczek–Khinchine) within 1 % at 10 M
//!   requests (`sim/tests/`).
//! - **fluid** — for runs too long to simulate request by request (a week at
//!   10,000 requests/s): one-second steps; arrivals per step are Poisson;
//!   while the offered load fits, the fleet is a stationary M/G/c queue (Erlang
//!   C, Allen–Cunneen for non-exponential service); beyond it the backlog is a
//!   fluid that grows and drains at the fleet's service rate. Latency
//!   percentiles come from 32 latency samples per step (queueing wait from the
//!   regime's distribution plus a service draw), weighted by the step's
//!   requests; with `run.fluid_latency = "at-risk"` (what the backtest and
//!   its gate use: they only count violation minutes) a minute spent wholly
//!   in the stationary regime draws none when a bound on its steps' latency
//!   tail at the SLO (98 % of it, for the histogram's bucket width) makes a
//!   p99 above the SLO less likely than 10⁻⁹ (Chernoff on the count of
//!   samples that would have to exceed it); every other minute draws all its
//!   samples from the same distributions, so violation minutes keep their
//!   statistics, and skipped requests count in the means at their expected
//!   latency (the report's percentiles then cover the sampled minutes only).
//!   Busy slots and requests in the system enter utilisation and Little's
//!   law as fractions per step, not rounded. Provisioning, failures and the
//!   autoscaler run exactly as in the exact mode. It does not model per-instance saturation (slow-down uses
//!   the fleet's mean utilisation) and loses no in-flight requests in a
//!   crash, so it is optimistic under slow-down and failures: on
//!   `examples/holiday-crest.toml` it ran 100× faster than exact, with mean
//!   latency 9 % (containers) and 30 % (VMs) lower, and 0 vs 6 (containers)
//!   and 18 vs 38 (VMs) SLO-violation minutes. Use it to explore, and exact
//!   to confirm.
//!   `run.mode = "auto"` (the default) goes fluid above
//!   `run.fluid_above_requests` (2·10⁸) expected requests. Reports say which
//!   mode ran (`mode`).
//!
//! ## Determinism and memory
//! One seeded xoshiro256++ stream per run ([`rng`]); replication `i` uses
//! [`rng::replication_seed`]. The same seed gives the same report, byte for
//! byte, except `wall_s`. Nothing is kept per request after it leaves:
//! latencies go into HDR histograms (run: 3 significant digits, ≤ 0.1 %
//! relative error; per minute: 2 digits, ≤ 1 %), so memory is flat in the
//! number of requests.
//!
//! ## SLO violation minutes
//! A simulated minute violates the SLO when its p99 latency (of requests
//! completing in it) exceeds `slo.p99_ms`, or its dropped fraction (drops /
//! arrivals in the minute) exceeds `slo.max_drop_fraction` (default 0.1 %),
//! or requests arrived but none completed.
//!
//! ## Cost
//! `instance_hours` bills every instance from launch to termination: starting
//! (lead time), serving and draining.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod config;
pub mod dist;
pub mod engine;
pub mod error;
pub mod plot;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod seams;
pub mod theory;
mod traffic;

use rayon::prelude::*;

use crest_autoscaler::{
    FixedPolicy, Policy, SchedulePolicy, TargetMetric, TargetTrackingConfig, TargetTrackingPolicy,
};
use crest_core::{AppId, PlanReason, PlanStep, Replicas, ScalingPlan};

pub use dist::ServiceDist;
pub use error::{Problem, SimError};
pub use report::{Interval, LittlesLaw, Replications, SimReport, TimelinePoint};
pub use scenario::{
    ApiMode, AutoscalerSpec, Burst, Demand, Failures, Fleet, FluidLatency, LbPolicy, Mode,
    PolicySpec, Provisioner, RandomBursts, RateLimit, Run, Scenario, Slo, Slowdown, Traffic,
    ZoneOutage,
};
pub use seams::{Mailbox, SimActuator, SimLoadBalancer, SimMetrics};

/// A policy and the plan it follows (if any), as the driver takes them.
pub type PolicyWithPlan = (Box<dyn Policy>, Option<ScalingPlan>);

/// Build the policy a scenario names (`None` for `policy = "none"`).
///
/// # Errors
/// [`SimError::Policy`] when the policy's settings are rejected.
pub fn policy_from_spec(sc: &Scenario) -> Result<Option<PolicyWithPlan>, SimError> {
    let app = AppId::try_new(sc.name.clone())
        .or_else(|_| AppId::try_new("sim"))
        .map_err(|e| SimError::invalid("name", e.to_string()))?;
    Ok(match &sc.autoscaler.policy {
        PolicySpec::None => None,
        PolicySpec::Fixed { replicas } => {
            Some((Box::new(FixedPolicy::new(Replicas(*replicas))), None))
        }
        PolicySpec::Schedule { steps } => {
            let steps = steps
                .iter()
                .map(|(at_s, n)| PlanStep {
                    at: sc.start.add_millis((at_s * 1000.0).round() as i64),
                    replicas: Replicas(*n),
                    reason: PlanReason::Manual {
                        note: "scenario schedule".into(),
                    },
                })
                .collect();
            let plan =
                ScalingPlan::try_new(app, "scenario", steps).map_err(|e| SimError::Policy {
                    policy: "schedule".into(),
                    reason: e.to_string(),
                })?;
            Some((Box::new(SchedulePolicy::new()), Some(plan)))
        }
        PolicySpec::TargetTracking {
            metric,
            target,
            min,
            max,
        } => {
            let m = if metric == "rps_per_instance" {
                TargetMetric::RpsPerInstance
            } else {
                TargetMetric::Utilisation
            };
            let cfg = TargetTrackingConfig::new(m, *target).with_bounds(*min, *max);
            let p = TargetTrackingPolicy::try_new(cfg).map_err(|e| SimError::Policy {
                policy: "target-tracking".into(),
                reason: e.to_string(),
            })?;
            Some((Box::new(p), None))
        }
    })
}

/// Which mode a scenario runs in.
pub fn effective_mode(sc: &Scenario) -> Mode {
    match sc.run.mode {
        Mode::Auto if sc.expected_requests() > sc.run.fluid_above_requests => Mode::Fluid,
        Mode::Auto => Mode::Exact,
        m => m,
    }
}

fn timeline_step(sc: &Scenario) -> f64 {
    sc.run.timeline_step_s.unwrap_or_else(|| {
        let minutes = engine::expected_duration(sc) / 60.0;
        60.0 * (minutes / 2000.0).ceil().max(1.0)
    })
}

/// Run a scenario with the policy it names.
///
/// # Errors
/// [`SimError::Invalid`] for an invalid scenario, [`SimError::Policy`],
/// [`SimError::PendingFuture`] (a bug).
pub fn run(sc: &Scenario, seed: u64) -> Result<SimReport, SimError> {
    sc.validate()?;
    let policy = policy_from_spec(sc)?;
    run_inner(sc, policy, seed)
}

/// Run a scenario with a given policy (and the plan it follows), ignoring the
/// scenario's own `autoscaler.policy` — the planner's verification gate and
/// the holiday rehearsal call this.
///
/// # Errors
/// As [`run`].
pub fn run_with_policy(
    sc: &Scenario,
    policy: Box<dyn Policy>,
    plan: Option<ScalingPlan>,
    seed: u64,
) -> Result<SimReport, SimError> {
    sc.validate()?;
    run_inner(sc, Some((policy, plan)), seed)
}

#[allow(clippy::disallowed_methods)] // wall_s measures the simulator itself, not policy time
fn run_inner(
    sc: &Scenario,
    policy: Option<PolicyWithPlan>,
    seed: u64,
) -> Result<SimReport, SimError> {
    let started = std::time::Instant::now();
    let step = timeline_step(sc);
    let fluid = effective_mode(sc) == Mode::Fluid;
    let mut e = engine::Engine::new(sc, seed, policy, step, fluid)?;
    e.run()?;
    Ok(e.report(seed, started.elapsed().as_secs_f64(), step))
}

/// `n` independent replications in parallel (rayon), seeds from
/// [`rng::replication_seed`], with the scenario's own policy.
///
/// # Errors
/// The first failing replication's error.
pub fn replicate(sc: &Scenario, seed: u64, n: usize) -> Result<Replications, SimError> {
    sc.validate()?;
    replicate_with(sc, seed, n, || policy_from_spec(sc))
}

/// Like [`replicate`] with a policy factory (called once per replication).
///
/// # Errors
/// The first failing replication's error.
#[allow(clippy::disallowed_methods)] // wall_s measures the simulator itself
pub fn replicate_with<F>(
    sc: &Scenario,
    seed: u64,
    n: usize,
    make: F,
) -> Result<Replications, SimError>
where
    F: Fn() -> Result<Option<PolicyWithPlan>, SimError> + Sync,
{
    sc.validate()?;
    let started = std::time::Instant::now();
    let runs: Result<Vec<SimReport>, SimError> = (0..n.max(1))
        .into_par_iter()
        .map(|i| run_inner(sc, make()?, rng::replication_seed(seed, i as u64)))
        .collect();
    Ok(Replications::from_runs(
        runs?,
        started.elapsed().as_secs_f64(),
    ))
}
