//! Concrete policies, each a small deterministic state machine over
//! [`Observation`](crate::Observation)s.
//!
//! - [`FixedPolicy`]: a constant fleet (static peak provisioning, the old VM
//!   practice, is a `FixedPolicy` switched on a week ahead).
//! - [`SchedulePolicy`]: follow the [`ScalingPlan`](crest_core::ScalingPlan)
//!   in force.
//! - [`TargetTrackingPolicy`]: Kubernetes HPA semantics (tolerance,
//!   stabilisation windows, rate-limited change per period, bounds).
//! - [`PredictivePolicy`]: the plan, corrected by the latest forecast and by
//!   deviation alerts.
//! - [`StepScalingPolicy`]: step adjustments from monitoring alerts.
//! - [`ScheduledPolicy`]: operator floors over time windows.
//! - [`SafetyNet`]: a member that only ever raises the fleet (target
//!   tracking beside a plan, so it catches misses without holding the fleet).
//! - [`CombinedPolicy`]: the largest recommendation, within guard rails
//!   (bounds, bounded change, scale-in cooldown) — crest's runtime policy.
//!
//! They share nothing but the [`Policy`](crate::Policy) trait, so the simulator
//! and production can swap them freely.

mod combined;
mod fixed;
mod net;
mod predictive;
mod schedule;
mod scheduled;
mod step;
mod target_tracking;

pub use combined::{CombinedPolicy, Guard};
pub use predictive::{Deviation, PredictiveConfig, PredictivePolicy, expected_level, live_level};
pub use scheduled::{ScheduledAction, ScheduledPolicy};
pub use step::{Adjustment, AlertSignal, StepScalingPolicy};

pub use fixed::FixedPolicy;
pub use net::SafetyNet;
pub use schedule::SchedulePolicy;
pub use target_tracking::{
    RateRule, RateRuleKind, ScalingBehavior, SelectPolicy, TargetMetric, TargetTrackingConfig,
    TargetTrackingPolicy,
};

#[cfg(test)]
pub(crate) mod testutil {
    //! Observation builders shared by the policy tests.
    use crest_core::action::InstanceId;
    use crest_core::seams::{FleetState, InstancePhase, InstanceState, Metrics};
    use crest_core::{AppId, Replicas, Timestamp};

    /// A fleet of `running` serving instances with `desired` asked for.
    pub fn fleet(at_s: i64, desired: u32, running: u32) -> FleetState {
        FleetState {
            app: AppId::try_new("app").unwrap(),
            at: Timestamp::from_secs(at_s),
            desired: Replicas(desired),
            instances: (0..running)
                .map(|i| InstanceState {
                    id: InstanceId(crest_core::action::format_compact!("app-{i}")),
                    phase: InstancePhase::Running,
                    addr: None,
                })
                .collect(),
        }
    }

    /// Metrics with a demand and utilisation.
    pub fn metrics(at_s: i64, demand_rps: f64, utilisation: f64, running: u32) -> Metrics {
        Metrics {
            at: Timestamp::from_secs(at_s),
            demand_rps,
            throughput_rps: demand_rps,
            p99_ms: f64::NAN,
            error_rate: 0.0,
            utilisation,
            running,
        }
    }

    /// What `p` recommends at `at_s` for `running` serving instances (all
    /// asked for) at `demand_rps` and `utilisation`, no plan in force.
    pub fn recommend_at(
        p: &mut dyn crate::Policy,
        at_s: i64,
        running: u32,
        demand_rps: f64,
        utilisation: f64,
    ) -> Option<u32> {
        let f = fleet(at_s, running, running);
        let m = metrics(at_s, demand_rps, utilisation, running);
        p.recommend(&crate::Observation {
            now: Timestamp::from_secs(at_s),
            fleet: &f,
            metrics: &m,
            plan: None,
        })
        .map(|d| d.desired.0)
    }
}
