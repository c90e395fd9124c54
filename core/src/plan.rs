//! Scaling plans: desired state over time, each step with its reason.
//!
//! A [`ScalingPlan`] says how many instances an app should have from each
//! instant on. It is *desired state*, not a list of deltas: applying it twice
//! changes nothing the second time (level-triggered, like a Kubernetes
//! reconcile), which is what makes it safe to re-apply after a crash. Every step
//! carries why it is there, so an operator can audit a holiday plan line by line.

use serde::{Deserialize, Serialize};

use crate::{AppId, CoreError, Replicas, Timestamp};

/// Why a plan step exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanReason {
    /// The fleet size outside any crest (min bound or ordinary demand).
    Baseline,
    /// Capacity for forecast demand at the planned risk level.
    Forecast {
        /// Demand the step is sized for, in requests per second.
        demand_rps: f64,
        /// The quantile planned for (e.g. 0.9).
        quantile: f64,
    },
    /// Scale-out started early so capacity is ready before the crest.
    LeadTime {
        /// The provisioning lead time covered, in seconds.
        lead_s: i64,
    },
    /// Scale-in is held back during a freeze window.
    Freeze,
    /// A calendar holiday or event.
    Calendar {
        /// The holiday or event name.
        name: String,
    },
    /// A monitoring alert.
    Alert {
        /// The alert name.
        name: String,
    },
    /// A bound (min, max or budget) clipped the step.
    Bound {
        /// Which bound.
        which: String,
    },
    /// A reactive policy tracking a live metric (target tracking, HPA-style).
    Reactive {
        /// The metric tracked (e.g. "utilisation", "rps_per_instance").
        metric: String,
        /// Its observed value.
        value: f64,
        /// Its target value.
        target: f64,
    },
    /// Set by an operator.
    Manual {
        /// Free text.
        note: String,
    },
}

/// One step of a plan: from `at` on, the app should have `replicas` instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// When this step takes effect.
    pub at: Timestamp,
    /// Desired instances from `at` until the next step.
    pub replicas: Replicas,
    /// Why.
    pub reason: PlanReason,
}

/// Desired instances of one app over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPlan {
    /// The app this plan scales.
    pub app: AppId,
    /// Stable identifier (labels containers created for this plan).
    pub id: String,
    /// Checked on the way in: a plan read from a file or a request is in
    /// time order, as one built by [`ScalingPlan::try_new`] is.
    #[serde(deserialize_with = "ordered_steps")]
    steps: Vec<PlanStep>,
}

/// The index of the first step not later than the one before it.
fn first_out_of_order(steps: &[PlanStep]) -> Option<usize> {
    steps
        .windows(2)
        .position(|w| w[1].at <= w[0].at)
        .map(|i| i + 1)
}

/// Steps in time order, each at an instant of years 0..=9999 (so time
/// arithmetic on them cannot overflow) with at most
/// [`crate::bounds::MAX_REPLICAS`] replicas.
fn check_steps(steps: &[PlanStep]) -> Result<(), CoreError> {
    if let Some(index) = first_out_of_order(steps) {
        return Err(CoreError::PlanOutOfOrder { index });
    }
    for (i, s) in steps.iter().enumerate() {
        crate::bounds::check_instant(&format!("plan step {i} time"), s.at)?;
        crate::bounds::check_replicas(&format!("plan step {i} replicas"), s.replicas.0)?;
    }
    Ok(())
}

fn ordered_steps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PlanStep>, D::Error> {
    let steps = <Vec<PlanStep> as Deserialize>::deserialize(d)?;
    check_steps(&steps).map_err(serde::de::Error::custom)?;
    Ok(steps)
}

impl ScalingPlan {
    /// Build a plan, checking that steps are strictly increasing in time.
    ///
    /// # Errors
    /// [`CoreError::PlanOutOfOrder`] naming the first offending step,
    /// [`CoreError::OutOfRange`] for a step past year 9999 or with more than
    /// [`crate::bounds::MAX_REPLICAS`] replicas.
    pub fn try_new(
        app: AppId,
        id: impl Into<String>,
        steps: Vec<PlanStep>,
    ) -> Result<Self, CoreError> {
        check_steps(&steps)?;
        Ok(ScalingPlan {
            app,
            id: id.into(),
            steps,
        })
    }

    /// The steps, in time order.
    pub fn steps(&self) -> &[PlanStep] {
        &self.steps
    }

    /// The step in force at `t` (the last one with `at <= t`).
    pub fn step_at(&self, t: Timestamp) -> Option<&PlanStep> {
        let i = self.steps.partition_point(|s| s.at <= t);
        i.checked_sub(1).map(|i| &self.steps[i])
    }

    /// Desired replicas at `t`; `None` before the first step.
    pub fn desired_at(&self, t: Timestamp) -> Option<Replicas> {
        self.step_at(t).map(|s| s.replicas)
    }

    /// When the plan next changes after `t`, if it does.
    pub fn next_change_after(&self, t: Timestamp) -> Option<Timestamp> {
        let i = self.steps.partition_point(|s| s.at <= t);
        self.steps.get(i).map(|s| s.at)
    }

    /// The largest desired fleet anywhere in the plan.
    pub fn peak(&self) -> Replicas {
        self.steps
            .iter()
            .map(|s| s.replicas)
            .max()
            .unwrap_or_default()
    }

    /// Instance-hours the plan asks for between its first step and `until`.
    pub fn instance_hours(&self, until: Timestamp) -> f64 {
        let mut total = 0.0;
        for (i, s) in self.steps.iter().enumerate() {
            let end = self.steps.get(i + 1).map_or(until, |n| n.at).min(until);
            if end > s.at {
                total += f64::from(s.replicas.0) * (end.millis() - s.at.millis()) as f64 / 3.6e6;
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(at: i64, n: u32) -> PlanStep {
        PlanStep {
            at: Timestamp::from_secs(at),
            replicas: Replicas(n),
            reason: PlanReason::Baseline,
        }
    }

    #[test]
    fn desired_state_lookup() {
        let app = AppId::try_new("app").unwrap();
        let p = ScalingPlan::try_new(app, "p1", vec![step(0, 2), step(3600, 10), step(7200, 3)])
            .unwrap();
        assert_eq!(p.desired_at(Timestamp::from_secs(-1)), None);
        assert_eq!(p.desired_at(Timestamp::from_secs(0)), Some(Replicas(2)));
        assert_eq!(p.desired_at(Timestamp::from_secs(3599)), Some(Replicas(2)));
        assert_eq!(p.desired_at(Timestamp::from_secs(3600)), Some(Replicas(10)));
        assert_eq!(
            p.desired_at(Timestamp::from_secs(1_000_000)),
            Some(Replicas(3))
        );
        assert_eq!(
            p.next_change_after(Timestamp::from_secs(10)),
            Some(Timestamp::from_secs(3600))
        );
        assert_eq!(p.peak(), Replicas(10));
        assert!((p.instance_hours(Timestamp::from_secs(10_800)) - 15.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_unordered_steps() {
        let app = AppId::try_new("app").unwrap();
        let err = ScalingPlan::try_new(app, "p", vec![step(0, 1), step(0, 2)]).unwrap_err();
        assert_eq!(err, CoreError::PlanOutOfOrder { index: 1 });
    }

    #[test]
    fn steps_past_year_9999_or_with_absurd_replicas_are_refused() {
        let app = AppId::try_new("app").unwrap();
        let far = PlanStep {
            at: Timestamp(i64::MAX - 1000),
            replicas: Replicas(1),
            reason: PlanReason::Baseline,
        };
        let e = ScalingPlan::try_new(app.clone(), "p", vec![step(0, 1), far]).unwrap_err();
        assert!(e.to_string().contains("plan step 1 time"), "{e}");
        let e = ScalingPlan::try_new(app, "p", vec![step(0, u32::MAX)]).unwrap_err();
        assert!(e.to_string().contains("plan step 0 replicas"), "{e}");
        let json =
            r#"{"app":"a","id":"p","steps":[{"at":0,"replicas":4294967295,"reason":"Baseline"}]}"#;
        assert!(serde_json::from_str::<ScalingPlan>(json).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let app = AppId::try_new("app").unwrap();
        let mut s = step(60, 4);
        s.reason = PlanReason::Forecast {
            demand_rps: 120.0,
            quantile: 0.9,
        };
        let p = ScalingPlan::try_new(app, "p", vec![step(0, 1), s]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"kind\":\"forecast\""));
        let back: ScalingPlan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn reading_a_plan_checks_step_order() {
        let app = AppId::try_new("app").unwrap();
        let p =
            ScalingPlan::try_new(app, "p", vec![step(0, 1), step(60, 2), step(120, 3)]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        // Swap the last two times: 0, 120, 60.
        let bad = json
            .replacen("\"at\":60000", "\"at\":X", 1)
            .replacen("\"at\":120000", "\"at\":60000", 1)
            .replacen("\"at\":X", "\"at\":120000", 1);
        assert_ne!(bad, json, "the test must change the plan: {json}");
        let err = serde_json::from_str::<ScalingPlan>(&bad).unwrap_err();
        assert!(err.to_string().contains("out of order at index 2"), "{err}");
        // Two steps at the same time are out of order too.
        let dup = json.replacen("\"at\":120000", "\"at\":60000", 1);
        assert!(serde_json::from_str::<ScalingPlan>(&dup).is_err());
    }
}
