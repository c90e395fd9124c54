//! A safety net: a member that may only raise the fleet.
//!
//! Beside a plan, target tracking is there to catch demand the forecast
//! missed. Asked as a plain member of a [`CombinedPolicy`](super::CombinedPolicy),
//! it also *holds* the fleet: inside its tolerance HPA's algorithm
//! recommends the current size, and its scale-down stabilisation keeps the
//! largest recent recommendation, so the combination could only shrink once
//! utilisation fell below the net's tolerance band — the plan's scale-in
//! would never happen on time. Wrapped in [`SafetyNet`], the member is still
//! asked at every evaluation (its memory advances in step) but only speaks
//! when it wants more instances than the fleet has.

use crate::{Decision, Observation, Policy};

/// Wraps a policy so that it recommends only scale-outs.
#[derive(Debug, Clone)]
pub struct SafetyNet<P> {
    inner: P,
}

impl<P: Policy> SafetyNet<P> {
    /// The net around `inner`.
    pub fn new(inner: P) -> Self {
        SafetyNet { inner }
    }
}

impl<P: Policy> Policy for SafetyNet<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        let current = obs.fleet.desired;
        self.recommend(obs).unwrap_or(Decision {
            desired: current,
            reason: crest_core::PlanReason::Baseline,
            evaluate_next: None,
        })
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        let current = obs.fleet.desired;
        self.inner.recommend(obs).filter(|d| d.desired > current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics, recommend_at};
    use crate::policies::{TargetMetric, TargetTrackingConfig, TargetTrackingPolicy};
    use crest_core::{Replicas, Timestamp};

    fn net() -> SafetyNet<TargetTrackingPolicy> {
        SafetyNet::new(
            TargetTrackingPolicy::try_new(
                TargetTrackingConfig::new(TargetMetric::Utilisation, 0.75).with_bounds(1, 100),
            )
            .unwrap(),
        )
    }

    fn ask(p: &mut SafetyNet<TargetTrackingPolicy>, t: i64, n: u32, util: f64) -> Option<u32> {
        recommend_at(p, t, n, 10.0, util)
    }

    #[test]
    fn speaks_only_to_scale_out() {
        let mut p = net();
        // Inside the tolerance target tracking would hold 10: the net abstains.
        assert_eq!(ask(&mut p, 0, 10, 0.75), None);
        // Over target: 10 x 0.95 / 0.75 = 12.67 -> 13.
        assert_eq!(ask(&mut p, 15, 10, 0.95), Some(13));
        // Far under target (scale-in wanted): abstains rather than shrink or hold.
        assert_eq!(ask(&mut p, 30, 13, 0.2), None);
        let f = fleet(45, 13, 13);
        let m = metrics(45, 10.0, 0.2, 13);
        let d = p.decide(&Observation {
            now: Timestamp::from_secs(45),
            fleet: &f,
            metrics: &m,
            plan: None,
        });
        assert_eq!(d.desired, Replicas(13));
    }
}
