//! Follow the plan in force, step by step.
//!
//! The plan is desired state over time, so following it is a lookup: the step
//! in force at `now`. The policy asks to be evaluated again exactly when the
//! plan next changes, so a driver that honours `evaluate_next` applies every
//! step on time without polling. Before the plan starts (or with no plan) it
//! keeps the fleet as it is, clipped to its own bounds.

use crest_core::{PlanReason, Replicas};

use crate::{Decision, Observation, Policy};

/// Desired replicas = the plan's step in force at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulePolicy {
    min: Replicas,
    max: Replicas,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        SchedulePolicy::new()
    }
}

impl SchedulePolicy {
    /// Follow the plan without further bounds.
    pub fn new() -> Self {
        SchedulePolicy {
            min: Replicas(0),
            max: Replicas(u32::MAX),
        }
    }

    /// Clip every decision to `[min, max]` (if `min > max`, `max` wins).
    pub fn with_bounds(mut self, min: Replicas, max: Replicas) -> Self {
        self.min = min;
        self.max = max;
        self
    }
}

impl Policy for SchedulePolicy {
    fn name(&self) -> &str {
        "schedule"
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        let (raw, reason, next) = match obs.plan {
            Some(plan) => match plan.step_at(obs.now) {
                Some(step) => (
                    step.replicas,
                    step.reason.clone(),
                    plan.next_change_after(obs.now),
                ),
                None => (
                    obs.fleet.desired,
                    PlanReason::Baseline,
                    plan.next_change_after(obs.now),
                ),
            },
            None => (obs.fleet.desired, PlanReason::Baseline, None),
        };
        let desired = raw.max(self.min).min(self.max);
        let reason = if desired != raw {
            PlanReason::Bound {
                which: if desired > raw { "min" } else { "max" }.into(),
            }
        } else {
            reason
        };
        Decision {
            desired,
            reason,
            evaluate_next: next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};
    use crest_core::{AppId, PlanStep, ScalingPlan, Timestamp};

    fn plan() -> ScalingPlan {
        let step = |at: i64, n: u32, reason| PlanStep {
            at: Timestamp::from_secs(at),
            replicas: Replicas(n),
            reason,
        };
        ScalingPlan::try_new(
            AppId::try_new("app").unwrap(),
            "p",
            vec![
                step(100, 4, PlanReason::Baseline),
                step(200, 20, PlanReason::LeadTime { lead_s: 300 }),
                step(400, 3, PlanReason::Baseline),
            ],
        )
        .unwrap()
    }

    fn decide(p: &mut SchedulePolicy, plan: Option<&ScalingPlan>, t: i64, cur: u32) -> Decision {
        let f = fleet(t, cur, cur);
        let m = metrics(t, 0.0, 0.0, cur);
        p.decide(&Observation {
            now: Timestamp::from_secs(t),
            fleet: &f,
            metrics: &m,
            plan,
        })
    }

    #[test]
    fn follows_steps_and_requeues_at_the_next_change() {
        let plan = plan();
        let mut p = SchedulePolicy::new();
        let d = decide(&mut p, Some(&plan), 50, 2);
        assert_eq!(d.desired, Replicas(2), "before the plan: keep the fleet");
        assert_eq!(d.evaluate_next, Some(Timestamp::from_secs(100)));
        let d = decide(&mut p, Some(&plan), 250, 4);
        assert_eq!(d.desired, Replicas(20));
        assert_eq!(d.reason, PlanReason::LeadTime { lead_s: 300 });
        assert_eq!(d.evaluate_next, Some(Timestamp::from_secs(400)));
        let d = decide(&mut p, Some(&plan), 500, 20);
        assert_eq!(d.desired, Replicas(3));
        assert_eq!(d.evaluate_next, None);
    }

    #[test]
    fn no_plan_keeps_the_fleet_and_bounds_clip() {
        let mut p = SchedulePolicy::new().with_bounds(Replicas(5), Replicas(10));
        assert_eq!(decide(&mut p, None, 0, 7).desired, Replicas(7));
        let plan = plan();
        let d = decide(&mut p, Some(&plan), 250, 7);
        assert_eq!(d.desired, Replicas(10));
        assert_eq!(
            d.reason,
            PlanReason::Bound {
                which: "max".into()
            }
        );
        assert_eq!(decide(&mut p, Some(&plan), 500, 7).desired, Replicas(5));
    }
}
