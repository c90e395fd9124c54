//! Errors raised when a core value would be built from invalid parts.
//!
//! Core types validate on construction (a `Series` with a zero step, an `Rps`
//! that is NaN), so that every later crate can trust them without re-checking.

use thiserror::Error;

/// A core value could not be built because its parts are invalid.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum CoreError {
    /// A numeric quantity was NaN, infinite or negative where that makes no sense.
    #[error("invalid {what}: expected a finite number >= 0, found {value}")]
    InvalidQuantity {
        /// Which quantity (e.g. "requests per second").
        what: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A series step was zero or negative.
    #[error("invalid series step: expected a positive number of seconds, found {step_s}")]
    InvalidStep {
        /// The offending step.
        step_s: i64,
    },
    /// Two parallel arrays did not have the same length.
    #[error("length mismatch in {what}: expected {expected}, found {found}")]
    LengthMismatch {
        /// What was being built.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A quantile level was outside (0, 1).
    #[error("invalid quantile {q}: expected a level strictly between 0 and 1")]
    InvalidQuantile {
        /// The offending level.
        q: f64,
    },
    /// An identifier was empty or had characters that cannot go into labels.
    #[error("invalid app id {id:?}: expected 1-63 characters of [a-z0-9._-]")]
    InvalidAppId {
        /// The offending identifier.
        id: String,
    },
    /// A plan's steps were not in strictly increasing time order.
    #[error(
        "plan steps are out of order at index {index}: each step must come after the one before"
    )]
    PlanOutOfOrder {
        /// Index of the first step that is not later than its predecessor.
        index: usize,
    },
    /// A timestamp could not be represented.
    #[error("timestamp out of range: {millis} ms since the epoch")]
    TimestampOutOfRange {
        /// The offending value.
        millis: i64,
    },
    /// A number was outside the bounds crest accepts (see `crest_core::bounds`).
    #[error("invalid {what}: expected {expected}, found {value}")]
    OutOfRange {
        /// Which number (a flag, a field).
        what: String,
        /// The offending value, as written.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A run's estimated size exceeds the work limits.
    #[error(
        "refusing {what}: it would take about {events:.1e} events and {memory_mb:.0} MiB of memory, above the limits of {max_events} events and {max_memory_mb} MiB; raise them with --max-events / --max-memory-mb if this is meant"
    )]
    TooMuchWork {
        /// What was refused.
        what: String,
        /// Estimated events.
        events: f64,
        /// Estimated memory, MiB.
        memory_mb: f64,
        /// The events limit.
        max_events: u64,
        /// The memory limit, MiB.
        max_memory_mb: u64,
    },
}

/// An error with its causes, `a: b: c` (HTTP and IO libraries hide the
/// useful part, "connection refused", in the causes).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
