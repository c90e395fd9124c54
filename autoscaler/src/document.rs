//! The plan file: a plan together with what it was made from.
//!
//! `crest plan --output` writes it and `crest run` reads it. It carries the
//! forecast, the capacity, the planner settings and the gate's verdict, so the
//! runner can re-verify the very same plan just before it starts without
//! reaching for the inputs again, and an operator can audit every step.

use crest_core::{Capacity, Forecast, ScalingPlan};
use serde::{Deserialize, Serialize};

use crate::AutoscalerError;

use crate::planner::{PlanOutcome, PlannerConfig};
use crate::replay::FluidModel;
use crate::verify::{GateConfig, GateReport};

/// A plan and its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDocument {
    /// Format version (1).
    pub version: u32,
    /// The plan.
    pub plan: ScalingPlan,
    /// The forecast it was made from.
    pub forecast: Forecast,
    /// The per-instance capacity it assumes.
    pub capacity: Capacity,
    /// The planner settings.
    pub planner: PlannerConfig,
    /// The model the gate replays on.
    pub model: FluidModel,
    /// The gate settings.
    pub gate: GateConfig,
    /// The gate's verdict when planned, if verified.
    #[serde(default)]
    pub verification: Option<GateReport>,
    /// The forecaster's errors on comparable past days, which the gate
    /// replays as empirical scenarios (the forecast mean × each profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empirical: Option<EmpiricalErrors>,
    /// Whether a failing verification was overridden with `--force`.
    #[serde(default)]
    pub forced: bool,
    /// Instance-hours the plan asks for.
    pub instance_hours: f64,
}

/// The most error profiles a document may carry.
pub const MAX_EMPIRICAL_PROFILES: usize = 1_000;

/// A forecaster's errors on past days: per profile, actual / forecast mean
/// per step (one day, or a whole window aligned with the plan's). The gate
/// multiplies the plan's forecast mean by each (repeated over the horizon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmpiricalErrors {
    /// Which past days, in words ("the 7 days before 2014-12-31").
    pub source: String,
    /// Label of each profile (its first day).
    #[serde(default)]
    pub labels: Vec<String>,
    /// The profiles.
    pub profiles: Vec<Vec<f64>>,
    /// The same days as the live levels a policy tracking the level
    /// measures ([`crate::policies::live_level`]: every step with a positive
    /// forecast, however small, where `profiles` count near-zero forecasts
    /// as 1 so that a scenario never multiplies a night's ratio onto a day).
    /// The level margin is learned from these; empty in documents written
    /// before they existed (the margin then falls back to `profiles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Vec<f64>>,
}

impl EmpiricalErrors {
    /// Check the profiles and levels: at most [`MAX_EMPIRICAL_PROFILES`]
    /// each, each of 1..=100000 finite ratios >= 0.
    ///
    /// # Errors
    /// [`AutoscalerError::InvalidSetting`] naming the first bad one.
    pub fn validate(&self) -> Result<(), AutoscalerError> {
        check_profiles("empirical.profiles", &self.profiles)?;
        check_profiles("empirical.levels", &self.levels)
    }
}

/// At most [`MAX_EMPIRICAL_PROFILES`] profiles of 1..=100000 finite ratios >= 0.
fn check_profiles(field: &'static str, profiles: &[Vec<f64>]) -> Result<(), AutoscalerError> {
    if profiles.len() > MAX_EMPIRICAL_PROFILES {
        return Err(AutoscalerError::setting(
            field,
            "at most 1000 profiles",
            profiles.len(),
        ));
    }
    for (i, p) in profiles.iter().enumerate() {
        if p.is_empty() || p.len() > 100_000 {
            return Err(AutoscalerError::setting(
                field,
                "profiles of 1 to 100000 steps",
                format!("profile {i} of {} steps", p.len()),
            ));
        }
        if let Some(v) = p.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(AutoscalerError::setting(
                field,
                "finite ratios >= 0",
                format!("profile {i}: {v}"),
            ));
        }
    }
    Ok(())
}

impl PlanDocument {
    /// Bundle an outcome with its inputs.
    pub fn new(
        outcome: &PlanOutcome,
        forecast: Forecast,
        capacity: Capacity,
        planner: PlannerConfig,
        model: FluidModel,
        gate: GateConfig,
    ) -> Self {
        PlanDocument {
            version: 1,
            plan: outcome.plan.clone(),
            forecast,
            capacity,
            planner,
            model,
            gate,
            verification: None,
            empirical: None,
            forced: false,
            instance_hours: outcome.instance_hours,
        }
    }

    /// Check what a document read from a file carries beyond what its types
    /// check when read (plan order, step times and replicas, forecast grid):
    /// the planner settings, the gate settings and the gate's work.
    ///
    /// # Errors
    /// [`AutoscalerError`] naming the first problem.
    pub fn validate(&self) -> Result<(), AutoscalerError> {
        self.planner.validate()?;
        self.gate.validate()?;
        if let Some(e) = &self.empirical {
            e.validate()?;
        }
        crate::verify::check_gate_work(&self.plan, &self.forecast, &self.model, &self.gate)
    }
}
