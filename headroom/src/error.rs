//! The one error type of the headroom crate.

use crest_core::seams::SeamError;
use thiserror::Error;

/// What can go wrong while probing or computing headroom.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HeadroomError {
    /// A load-balancer call failed.
    #[error("failed to {what} through the load balancer")]
    Lb {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: SeamError,
    },
    /// The target server or backend is not there.
    #[error("failed to find server {server:?} in backend {backend:?} (servers: {known})")]
    NoSuchServer {
        /// Backend.
        backend: String,
        /// Server asked for.
        server: String,
        /// Servers found.
        known: String,
    },
    /// Weights changed under the probe: HAProxy was reloaded or someone else is changing weights.
    #[error(
        "failed to keep probing: weight of {server:?} is {found}, expected {expected} (haproxy reloaded or weights changed by someone else)"
    )]
    WeightsChanged {
        /// The server whose weight moved.
        server: String,
        /// Weight the probe had set or left.
        expected: u16,
        /// Weight found.
        found: u16,
    },
    /// The latency source failed.
    #[error("failed to read latency from {source_name}: {message}")]
    Latency {
        /// Which source.
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// Journal IO.
    #[error("failed to {what} the probe journal {path}")]
    Journal {
        /// What was being done.
        what: &'static str,
        /// The journal file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The journal exists but cannot be read.
    #[error("failed to parse the probe journal {path}: {message}")]
    JournalParse {
        /// The journal file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Weights could not be restored; the journal is kept so the next start restores them.
    #[error(
        "failed to restore original weights of backend {backend:?} ({message}); journal kept at {journal} for the next start"
    )]
    RestoreFailed {
        /// Backend.
        backend: String,
        /// Last error.
        message: String,
        /// Journal path.
        journal: String,
    },
    /// A configuration value is out of range.
    #[error("failed to accept {field} = {value}: {why}")]
    Config {
        /// Field name.
        field: &'static str,
        /// Value.
        value: String,
        /// What is expected.
        why: &'static str,
    },
    /// A demand CSV could not be read.
    #[error("failed to read demand {path} at line {line}: {message}")]
    Demand {
        /// File.
        path: String,
        /// 1-based line (0: the whole file).
        line: usize,
        /// What was expected and found.
        message: String,
    },
}

impl HeadroomError {
    pub(crate) fn lb(what: impl Into<String>, source: SeamError) -> Self {
        HeadroomError::Lb {
            what: what.into(),
            source,
        }
    }
}
