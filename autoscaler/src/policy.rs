//! The `Policy` contract: the one place scaling decisions are made.
//!
//! A policy is deterministic: the same sequence of observations gives the same
//! decisions. It may keep memory between calls (`&mut self`: stabilisation
//! windows, cooldowns) but never reads a clock or does IO — time arrives in the
//! observation.

use crest_core::seams::{FleetState, Metrics};
use crest_core::{PlanReason, Replicas, ScalingPlan, Timestamp};

/// Everything a policy may look at when deciding.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The current time (virtual or wall).
    pub now: Timestamp,
    /// The fleet as the actuator sees it.
    pub fleet: &'a FleetState,
    /// Latest metrics.
    pub metrics: &'a Metrics,
    /// The plan in force, if any.
    pub plan: Option<&'a ScalingPlan>,
}

/// A policy's answer: how many instances, why, and when to ask again.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Desired replicas.
    pub desired: Replicas,
    /// Why.
    pub reason: PlanReason,
    /// When the driver should evaluate next (None: its default interval).
    pub evaluate_next: Option<Timestamp>,
}

/// Decides the desired fleet size.
pub trait Policy: Send {
    /// A short name for reports ("fixed", "schedule", "target-tracking", ...).
    fn name(&self) -> &str;
    /// Decide the desired replicas for this observation.
    fn decide(&mut self, obs: &Observation<'_>) -> Decision;
    /// Like [`Policy::decide`], but `None` when the policy has no opinion now
    /// (an alert policy with no alert firing, a schedule with no action in
    /// force). Combinators use this so an idle member does not pin the fleet.
    /// The default always has an opinion.
    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        Some(self.decide(obs))
    }
}

/// A boxed policy is a policy (a choice of policy made at run time).
impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        (**self).decide(obs)
    }
    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        (**self).recommend(obs)
    }
}
