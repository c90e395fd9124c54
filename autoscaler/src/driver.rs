//! The driver: one evaluation step over the seams.
//!
//! Production loops on [`Autoscaler::step`] with a wall clock; the simulator
//! pops an `Evaluate` event, sets its virtual clock and polls the same `step`
//! (its seams return ready futures, so one poll completes it).

use crest_core::seams::{Actuator, MetricsSource, SeamError};
use crest_core::{Action, AppId, Clock, ScalingPlan};
use thiserror::Error;

use crate::{Decision, Observation, Policy};

/// A step failed at a seam.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StepError {
    /// Reading the fleet or the metrics failed.
    #[error("failed to observe {app}")]
    Observe {
        /// The app.
        app: AppId,
        /// The seam error.
        #[source]
        source: SeamError,
    },
    /// Applying the decision failed.
    #[error("failed to apply the decision for {app}")]
    Apply {
        /// The app.
        app: AppId,
        /// The seam error.
        #[source]
        source: SeamError,
    },
}

impl StepError {
    /// Whether retrying the step may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            StepError::Observe { source, .. } | StepError::Apply { source, .. } => {
                source.is_retryable()
            }
        }
    }
}

/// Drives one app's policy over the seams.
pub struct Autoscaler<C, M, A, P> {
    /// The app scaled.
    pub app: AppId,
    clock: C,
    metrics: M,
    actuator: A,
    policy: P,
    plan: Option<ScalingPlan>,
}

impl<C: Clock, M: MetricsSource, A: Actuator, P: Policy> Autoscaler<C, M, A, P> {
    /// A driver for `app`.
    pub fn new(app: AppId, clock: C, metrics: M, actuator: A, policy: P) -> Self {
        Autoscaler {
            app,
            clock,
            metrics,
            actuator,
            policy,
            plan: None,
        }
    }

    /// Put a plan in force (policies that follow plans read it).
    pub fn with_plan(mut self, plan: ScalingPlan) -> Self {
        self.plan = Some(plan);
        self
    }

    /// Replace the plan in force.
    pub fn set_plan(&mut self, plan: Option<ScalingPlan>) {
        self.plan = plan;
    }

    /// The policy (for reports).
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// Observe, decide, apply. Returns the decision taken.
    ///
    /// # Errors
    /// [`StepError`] when a seam fails; nothing is applied if observing failed.
    pub async fn step(&mut self) -> Result<Decision, StepError> {
        let now = self.clock.now();
        let fleet =
            self.actuator
                .observe(&self.app)
                .await
                .map_err(|source| StepError::Observe {
                    app: self.app.clone(),
                    source,
                })?;
        let metrics =
            self.metrics
                .sample(&self.app)
                .await
                .map_err(|source| StepError::Observe {
                    app: self.app.clone(),
                    source,
                })?;
        let obs = Observation {
            now,
            fleet: &fleet,
            metrics: &metrics,
            plan: self.plan.as_ref(),
        };
        let decision = self.policy.decide(&obs);
        if decision.desired != fleet.desired {
            let action = Action::SetReplicas {
                app: self.app.clone(),
                replicas: decision.desired,
                plan_id: self.plan.as_ref().map(|p| p.id.clone()),
            };
            self.actuator
                .apply(&action)
                .await
                .map_err(|source| StepError::Apply {
                    app: self.app.clone(),
                    source,
                })?;
        }
        Ok(decision)
    }
}
