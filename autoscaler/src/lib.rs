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

pub mod driver;
pub mod policy;

pub use driver::{Autoscaler, StepError};
pub use policy::{Decision, Observation, Policy};
