//! # crest-autoscaler
//!
//! Decisions, and only decisions. A [`Policy`] turns an [`Observation`] (time,
//! fleet, metrics, the plan in force) into a [`Decision`] (desired replicas and
//! why). The [`Autoscaler`] driver reads the seams, asks the policy, and hands
//! the result to the actuator. It is generic over the seams from `crest-core`,
//! so the simulator drives it in virtual time and production in wall time —
//! the same code in both worlds. No tokio, no IO here.
//!
//! ```text
//!   Clock ─┐
//!   MetricsSource ──► Observation ──► Policy::decide ──► Decision ──► Actuator::apply
//!   Actuator::observe ┘
//! ```
//!
//! Start with [`policies`] (the concrete policies the simulator and production
//! share).
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod document;
pub mod driver;
pub mod error;
pub mod planner;
pub mod policies;
pub mod policy;
pub mod rehearsal;
pub mod replay;
pub mod scenarios;
pub mod verify;

pub use document::{EmpiricalErrors, PlanDocument};
pub use driver::{Autoscaler, StepError};
pub use error::AutoscalerError;
pub use planner::{PlanOutcome, PlannerConfig, RateLimit, Window, plan};
pub use policies::{
    Adjustment, AlertSignal, CombinedPolicy, Deviation, FixedPolicy, Guard, PredictiveConfig,
    PredictivePolicy, RateRule, RateRuleKind, ScalingBehavior, SchedulePolicy, ScheduledAction,
    ScheduledPolicy, SelectPolicy, StepScalingPolicy, TargetMetric, TargetTrackingConfig,
    TargetTrackingPolicy,
};
pub use policy::{Decision, Observation, Policy};
pub use replay::{DemandShape, FluidModel, ReplayReport, replay};
pub use verify::{GateConfig, GateReport, ScenarioKindReport, ScenarioRun, verify_plan};
