//! The one error type of crest-sim.
//!
//! Scenario problems carry the field path and, when the scenario came from a
//! TOML file, the line, so an operator can fix a what-if file without guessing.

use std::fmt;

use thiserror::Error;

/// One problem found in a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `fleet.service.mean_s`.
    pub field: String,
    /// 1-based line in the TOML source, when known.
    pub line: Option<usize>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: `{}`: {}", self.field, self.message),
            None => write!(f, "`{}`: {}", self.field, self.message),
        }
    }
}

/// Everything that can go wrong in the simulator.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is invalid; every problem found is listed.
    #[error("failed to validate scenario {source_name}: {}", list(.problems))]
    Invalid {
        /// The file (or "scenario" when built in code).
        source_name: String,
        /// All problems found.
        problems: Vec<Problem>,
    },
    /// A seam future was pending inside the simulator (a bug: sim seams are ready at once).
    #[error(
        "failed to step the autoscaler at t={at_s}s: its future was pending (simulator seams must be ready at once)"
    )]
    PendingFuture {
        /// Simulated seconds since the start.
        at_s: f64,
    },
    /// A demand series could not be used.
    #[error("failed to use the demand series: {reason}")]
    Demand {
        /// Why.
        reason: String,
    },
    /// A policy could not be built from the scenario.
    #[error("failed to build the `{policy}` policy: {reason}")]
    Policy {
        /// Policy name.
        policy: String,
        /// Why.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("failed to plot the simulation report")]
    Plot(#[from] crest_plot::PlotError),
}

fn list(problems: &[Problem]) -> String {
    let mut s = String::new();
    for p in problems {
        s.push_str("\n  ");
        s.push_str(&p.to_string());
    }
    s
}

impl SimError {
    /// A single scenario problem (built in code, no line).
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Self {
        SimError::Invalid {
            source_name: "scenario".into(),
            problems: vec![Problem {
                field: field.into(),
                line: None,
                message: message.into(),
            }],
        }
    }
}
