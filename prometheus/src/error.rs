//! What can go wrong talking to Prometheus, typed so callers can decide:
//! retry (unreachable, overloaded), stop (bad query, bad credentials) or hold
//! (stale data).

use crest_core::seams::{SeamError, SeamErrorKind};

/// A failed Prometheus call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromError {
    /// A client setting is wrong (URL, auth, TLS files).
    #[error("invalid Prometheus client setting: {0}")]
    Config(String),
    /// Prometheus could not be reached, timed out or answered 5xx/503.
    #[error("Prometheus at {url} unavailable: {message}")]
    Unavailable {
        /// The URL called.
        url: String,
        /// What happened.
        message: String,
    },
    /// Prometheus refused the query (HTTP 400/422: bad PromQL, too many points).
    #[error("Prometheus refused the query {query:?}: {error_type}: {error}")]
    Query {
        /// The PromQL.
        query: String,
        /// Prometheus' `errorType`.
        error_type: String,
        /// Prometheus' `error`.
        error: String,
    },
    /// Credentials missing or refused (HTTP 401/403).
    #[error("Prometheus at {url} refused the credentials (HTTP {status})")]
    Auth {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The answer was not the documented JSON.
    #[error("Prometheus at {url} answered something unexpected: {message}")]
    Protocol {
        /// The URL called.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The newest sample is older than allowed (a scrape target or Prometheus stalled).
    #[error(
        "Prometheus data for {query:?} is stale: newest sample {age_s:.0} s old (limit {limit_s:.0} s)"
    )]
    Stale {
        /// The PromQL.
        query: String,
        /// Age of the newest sample, seconds.
        age_s: f64,
        /// The allowed age.
        limit_s: f64,
    },
    /// The query returned no sample at all.
    #[error("Prometheus returned no data for {query:?}")]
    NoData {
        /// The PromQL.
        query: String,
    },
}

impl PromError {
    /// Whether the same call may succeed later (unreachable, 5xx, 429).
    pub fn is_retryable(&self) -> bool {
        matches!(self, PromError::Unavailable { .. })
    }

    /// The seam error policies see: unreachable, stale and empty answers are
    /// [`SeamErrorKind::Unavailable`] (hold; never act on missing data), a
    /// refused query or bad credentials [`SeamErrorKind::Rejected`], a
    /// malformed answer [`SeamErrorKind::Protocol`].
    pub fn into_seam(self) -> SeamError {
        let kind = match &self {
            PromError::Unavailable { .. } | PromError::Stale { .. } | PromError::NoData { .. } => {
                SeamErrorKind::Unavailable
            }
            PromError::Query { .. } | PromError::Auth { .. } | PromError::Config(_) => {
                SeamErrorKind::Rejected
            }
            PromError::Protocol { .. } => SeamErrorKind::Protocol,
        };
        SeamError::new("prometheus", kind, self.to_string()).with_source(self)
    }
}
