//! The crate's one error enum, and its mapping onto the seam error.
//!
//! Library callers get [`ActuatorError`] with the file, table or backend that
//! failed; the `Actuator` seam speaks [`SeamError`], whose kind tells the
//! autoscaler whether a retry can help.

use std::path::PathBuf;

use crest_core::seams::{SeamError, SeamErrorKind};
use thiserror::Error;

/// Everything that can go wrong in crest-actuator (outside the Mesos module).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ActuatorError {
    /// The SQLite journal could not be opened, read or written.
    #[error("failed to {what} in journal {path}")]
    Journal {
        /// What was being done.
        what: String,
        /// The journal file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A journal row did not parse.
    #[error("failed to read journal {path}: row {row}: {message}")]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// The row (instance id or sequence number).
        row: String,
        /// What was wrong.
        message: String,
    },
    /// A backend call failed (after retries).
    #[error("failed to {what}")]
    Backend {
        /// What was being done.
        what: String,
        /// The seam error.
        #[source]
        source: SeamError,
    },
    /// The configuration file did not parse or validate.
    #[error("failed to load config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Every problem found, one per line.
        message: String,
    },
    /// A file could not be read or written.
    #[error("failed to {what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

impl ActuatorError {
    /// A backend failure while doing `what`.
    pub fn backend(what: impl Into<String>, source: SeamError) -> Self {
        ActuatorError::Backend {
            what: what.into(),
            source,
        }
    }

    /// Turn this into the seam's error, keeping whether a retry can help.
    pub fn into_seam(self) -> SeamError {
        match self {
            ActuatorError::Backend { what, source } => SeamError {
                backend: source.backend,
                kind: source.kind,
                message: format!("failed to {what}: {}", source.message),
                source: source.source,
            },
            other => {
                let msg = other.to_string();
                SeamError::new("actuator", SeamErrorKind::Rejected, msg).with_source(other)
            }
        }
    }
}
