//! Replay in crest-sim: the simulated instance and provisioner for a
//! capacity, and a simulator report in the fluid replay's shape.
//!
//! Every replay names its engine and mode ([`ReplayEngine`]): `crest-sim`
//! in `exact` mode (every request an event) or `fluid` mode (aggregate
//! queues per step, the same provisioner, lead times, rate limits and
//! policy evaluations). `tests/fluid_agreement.rs` holds the fluid mode to
//! the exact one on scaled-down overload transients.

use crest_autoscaler::{FluidModel, Policy, ReplayReport};
use crest_core::{Capacity, ScalingPlan, Series, Timestamp};
use serde::{Deserialize, Serialize};

use crate::PlanningError;

/// The engine and mode of a replay, as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMode {
    /// Every request is an event.
    Exact,
    /// Aggregate flows per step (see crest-sim's crate docs).
    Fluid,
}

impl SimMode {
    /// `crest-sim/exact` or `crest-sim/fluid`.
    pub fn label(self) -> &'static str {
        match self {
            SimMode::Exact => "crest-sim/exact",
            SimMode::Fluid => "crest-sim/fluid",
        }
    }

    fn mode(self) -> crest_sim::Mode {
        match self {
            SimMode::Exact => crest_sim::Mode::Exact,
            SimMode::Fluid => crest_sim::Mode::Fluid,
        }
    }
}

/// Which engine and mode replays run on.
pub type ReplayEngine = SimMode;

/// The simulated instance for a capacity: lognormal service (CV 0.5) with a
/// mean of at most a sixth of the SLO (p99 service ~45 % of it), and as many
/// slots as make saturation 1.2 × the capacity at the SLO (an instance too
/// slow for that gets one slot and a faster service: the given capacity is
/// then conservative). For 50 rps at 200 ms: 2 slots of 33 ms.
pub fn sim_fleet(instances: u32, cap: &Capacity) -> crest_sim::Fleet {
    let sat = 1.2 * cap.per_instance.get();
    let max_mean_s = cap.slo_p99_ms / 6000.0;
    let slots = (sat * max_mean_s).round().clamp(1.0, 10_000.0);
    crest_sim::Fleet::new(
        instances,
        slots as u32,
        crest_sim::ServiceDist::Lognormal {
            mean_s: (slots / sat).min(max_mean_s),
            cv: 0.5,
        },
    )
}

/// How the simulated provisioner's lead times are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadTimes {
    /// Lognormal with CV 0.2 and its p99 at the model's lead time.
    Jittered,
    /// Every lead time at that p99 (the gate's lead-time stress case).
    AtP99,
}

/// A simulator scenario replaying `demand` (requests/s) from `initial`
/// instances, with the model's API rate limit read as a token bucket
/// ([`crest_sim::ApiMode::Bucket`]: `instances` tokens refilled evenly over
/// the period, one per launch), as the planner's fluid model and the
/// actuator's limiter read it. Crest-sim's asynchronous batches (one batch
/// of up to `instances` per window) would hold a top-up back a whole window
/// behind a one-instance scale-out made just before it. The simulator draws
/// lead times from their own random stream, so the exact and fluid engines
/// give the same scale-out the same lead time (`tests/fluid_agreement.rs`).
/// Plans are made with the
/// *worst-case* lead time, so the simulated lead times (lognormal, CV 0.2)
/// have their p99 there: mean = lead / 1.6. Fluid replays draw latency
/// samples only in minutes that could violate the SLO
/// ([`crest_sim::FluidLatency::AtRisk`]): replays here count violation
/// minutes and instance-hours, never percentiles.
pub fn sim_scenario(
    name: &str,
    demand: Series,
    initial: u32,
    cap: &Capacity,
    model: &FluidModel,
    mode: SimMode,
) -> crest_sim::Scenario {
    sim_scenario_with(name, demand, initial, cap, model, mode, LeadTimes::Jittered)
}

/// [`sim_scenario`] with a choice of lead times.
pub fn sim_scenario_with(
    name: &str,
    demand: Series,
    initial: u32,
    cap: &Capacity,
    model: &FluidModel,
    mode: SimMode,
    lead: LeadTimes,
) -> crest_sim::Scenario {
    let (lead_time_s, lead_jitter_cv) = match lead {
        LeadTimes::Jittered => (model.lead_time_s as f64 / 1.6, 0.2),
        LeadTimes::AtP99 => (model.lead_time_s as f64, 0.0),
    };
    crest_sim::Scenario::from_demand(demand)
        .with_name(name)
        .with_fleet(sim_fleet(initial, cap))
        .with_provisioner(crest_sim::Provisioner {
            platform: "container".into(),
            lead_time_s,
            lead_jitter_cv,
            image_pull_s: 0.0,
            image_changed: false,
            rate_limit: Some(crest_sim::RateLimit {
                instances: model.scale_out_rate.instances,
                per_s: model.scale_out_rate.period_s as f64,
                mode: crest_sim::ApiMode::Bucket,
            }),
            replace_failed: true,
        })
        .with_mode(mode.mode())
        .with_fluid_latency(crest_sim::FluidLatency::AtRisk)
        .with_slo(cap.slo_p99_ms, 0.001)
}

/// Replay one policy (and the plan it follows) on `demand` in crest-sim.
///
/// # Errors
/// [`PlanningError::Sim`] when the simulator rejects the scenario or policy.
#[allow(clippy::too_many_arguments)]
pub fn replay_sim(
    name: &str,
    demand: &Series,
    initial: u32,
    policy: Box<dyn Policy>,
    plan: Option<ScalingPlan>,
    model: &FluidModel,
    mode: SimMode,
    seed: u64,
) -> Result<ReplayReport, PlanningError> {
    replay_sim_with(
        name,
        demand,
        initial,
        policy,
        plan,
        model,
        mode,
        LeadTimes::Jittered,
        seed,
    )
}

/// [`replay_sim`] with a choice of lead times.
///
/// # Errors
/// As [`replay_sim`].
#[allow(clippy::too_many_arguments)]
pub fn replay_sim_with(
    name: &str,
    demand: &Series,
    initial: u32,
    policy: Box<dyn Policy>,
    plan: Option<ScalingPlan>,
    model: &FluidModel,
    mode: SimMode,
    lead: LeadTimes,
    seed: u64,
) -> Result<ReplayReport, PlanningError> {
    let sc = sim_scenario_with(
        name,
        demand.clone(),
        initial,
        &model.capacity,
        model,
        mode,
        lead,
    );
    let r = crest_sim::run_with_policy(&sc, policy, plan, seed).map_err(|source| {
        PlanningError::Sim {
            what: name.to_string(),
            source: Box::new(source),
        }
    })?;
    Ok(from_sim(name, &r, model.cost_per_instance_hour))
}

/// A simulator report in the replay's shape (for tables, JSON and plots).
pub fn from_sim(name: &str, r: &crest_sim::SimReport, price: f64) -> ReplayReport {
    ReplayReport {
        policy: name.to_string(),
        slo_violation_minutes: r.slo_violation_minutes as f64,
        instance_hours: r.instance_hours,
        cost: r.instance_hours * price,
        peak_instances: r.peak_instances,
        unserved_fraction: if r.requests_arrived > 0 {
            r.requests_dropped as f64 / r.requests_arrived as f64
        } else {
            0.0
        },
        timeline: r
            .timeline
            .iter()
            .map(|p| crest_autoscaler::replay::ReplayPoint {
                at: Timestamp(p.at_ms),
                demand_rps: p.demand,
                serving: p.instances,
                provisioned: p.instances + p.starting,
                desired: p.desired,
            })
            .collect(),
    }
}
