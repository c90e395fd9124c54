//! # crest-core
//!
//! The plain data that flows between crest's crates, and the seams that let
//! one autoscaler run under two clocks (the simulator's and the wall's).
//!
//! Nothing here does IO or depends on an async runtime: `core` is the bottom of
//! the dependency graph, so every other crate can share these types without
//! pulling in anything heavy.
//!
//! ```text
//!  history ──► Series ──► Forecast ─┐
//!  LB probe ─────────────► Capacity ─┼─► ScalingPlan ──► Action ──► Actuator
//!  Calendar (holidays, events) ─────┘        ▲
//!                                  Clock ────┘ (virtual in sim, wall in prod)
//! ```
//!
//! Start with [`series::Series`] and [`plan::ScalingPlan`], then the seam
//! traits in [`seams`].
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod action;
pub mod bounds;
pub mod calendar;
pub mod capacity;
pub mod clock;
pub mod error;
pub mod ids;
pub mod plan;
pub mod seams;
pub mod series;
pub mod services;
pub mod time;

pub use action::Action;
pub use bounds::{DurationSecs, StepSecs, WorkEstimate, WorkLimits};
pub use calendar::{Calendar, DayFeatures, DayKind, EffectWindow, HolidayPeriod};
pub use capacity::Capacity;
pub use clock::{Clock, VirtualClock, WallClock};
pub use error::{CoreError, error_chain};
pub use ids::{AppId, Replicas, Rps};
pub use plan::{PlanReason, PlanStep, ScalingPlan};
pub use series::{Forecast, Series};
pub use time::{TimeFormat, Timestamp};
