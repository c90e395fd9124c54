//! A constant fleet: the baseline every smarter policy is compared against.
//!
//! Static peak provisioning (size for the crest a week ahead and hold it) is
//! a `FixedPolicy`; so is "keep three replicas" for an app nobody scales.

use crest_core::{PlanReason, Replicas};

use crate::{Decision, Observation, Policy};

/// Always asks for the same number of instances.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedPolicy {
    replicas: Replicas,
    reason: PlanReason,
}

impl FixedPolicy {
    /// A fixed fleet of `replicas` instances.
    pub fn new(replicas: Replicas) -> Self {
        FixedPolicy {
            replicas,
            reason: PlanReason::Baseline,
        }
    }

    /// Report a different reason (e.g. `Manual { note: "static peak" }`).
    pub fn with_reason(mut self, reason: PlanReason) -> Self {
        self.reason = reason;
        self
    }

    /// The fleet size asked for.
    pub fn replicas(&self) -> Replicas {
        self.replicas
    }
}

impl Policy for FixedPolicy {
    fn name(&self) -> &str {
        "fixed"
    }

    fn decide(&mut self, _obs: &Observation<'_>) -> Decision {
        Decision {
            desired: self.replicas,
            reason: self.reason.clone(),
            evaluate_next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};
    use crest_core::Timestamp;

    #[test]
    fn always_the_same_answer() {
        let mut p = FixedPolicy::new(Replicas(7));
        for (desired, load) in [(1, 10.0), (50, 1e6), (7, 0.0)] {
            let f = fleet(0, desired, desired);
            let m = metrics(0, load, 0.5, desired);
            let d = p.decide(&Observation {
                now: Timestamp::from_secs(0),
                fleet: &f,
                metrics: &m,
                plan: None,
            });
            assert_eq!(d.desired, Replicas(7));
            assert_eq!(d.reason, PlanReason::Baseline);
        }
        assert_eq!(p.name(), "fixed");
    }
}
