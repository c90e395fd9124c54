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
    /// Whether a failing verification was overridden with `--force`.
    #[serde(default)]
    pub forced: bool,
    /// Instance-hours the plan asks for.
    pub instance_hours: f64,
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
        crate::verify::check_gate_work(&self.plan, &self.forecast, &self.model, &self.gate)
    }
}
