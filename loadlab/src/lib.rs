//! # crest-loadlab
//!
//! Two tools to measure a load balancer probe against ground truth:
//!
//! ```text
//!   LoadGen (open loop, fixed rate) ──HTTP──▶ HAProxy ──▶ TestServer × N
//!        │ per-server histograms (by response header)      (c workers, service time S:
//!        └──▶ GET /report[?reset=true]  (JSON)              true capacity = c / S)
//! ```
//!
//! - [`server`]: a tokio HTTP server that behaves as an exact FCFS queue with
//!   `workers` servers of deterministic `service_time`; its saturation point
//!   is known, so a capacity estimate can be checked against the truth.
//! - [`loadgen`]: an open-loop generator (arrivals do not wait for answers, so
//!   a slow server builds a queue instead of slowing the generator — the
//!   coordinated-omission trap of closed-loop generators) reporting
//!   throughput and p50/p99 from HDR histograms, overall and per group.
//!
//! Both read the wall clock on purpose (they *are* the real world of a
//! benchmark); the `disallowed_methods` allowances say so where they occur.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod loadgen;
pub mod server;

use thiserror::Error;

/// Failures of the lab tools.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadlabError {
    /// A socket could not be bound or served.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("failed to accept {field} = {value}: {why}")]
    Config {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is expected.
        why: &'static str,
    },
}
