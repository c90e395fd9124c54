//! The autoscaler's one error enum.
//!
//! Policies themselves never fail at decision time (a policy that cannot decide
//! keeps the fleet as it is); errors arise only when a policy or a planner is
//! *built* from invalid settings, so they are caught before anything runs.

use thiserror::Error;

/// A policy or planner setting is invalid.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum AutoscalerError {
    /// A numeric setting is out of its valid range.
    #[error("failed to configure {what}: expected {expected}, found {found}")]
    InvalidSetting {
        /// The setting (e.g. "target-tracking target").
        what: &'static str,
        /// What was expected (e.g. "a finite number > 0").
        expected: &'static str,
        /// The offending value, printed.
        found: String,
    },
    /// Lower bound above upper bound.
    #[error("failed to configure replica bounds: min {min} is above max {max}")]
    Bounds {
        /// The minimum.
        min: u32,
        /// The maximum.
        max: u32,
    },
    /// The forecast given to the planner cannot be planned on.
    #[error("failed to plan: {reason}")]
    Forecast {
        /// What is wrong with it.
        reason: String,
    },
}

impl AutoscalerError {
    pub(crate) fn setting(
        what: &'static str,
        expected: &'static str,
        found: impl ToString,
    ) -> Self {
        AutoscalerError::InvalidSetting {
            what,
            expected,
            found: found.to_string(),
        }
    }
}
