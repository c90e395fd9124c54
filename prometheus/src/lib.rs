//! # crest-prometheus
//!
//! Operators keep request rates and latencies in Prometheus, so crest reads
//! them there: history for forecasts and plans, live demand and latency for
//! the policies, and the probe's p99. This crate is the one Prometheus HTTP
//! API client every other crate uses (headroom's latency source, the
//! planning pipeline's history pull, the live [`PrometheusMetrics`]).
//!
//! ```text
//!  ClientConfig (URL, bearer/basic auth, TLS) ──▶ Client ──▶ /api/v1/query        ──▶ instant samples
//!                                                   │  retries with bounded backoff
//!                                                   └──▶ /api/v1/query_range ◀── range::pull (chunks under
//!                                                        11,000 points/series)  ──▶ Series (NaN = gap)
//!  PrometheusMetrics (per-app PromQL) ──instant queries──▶ crest_core::MetricsSource
//! ```
//!
//! Start with [`Client::new`], [`range::pull`] and [`PrometheusMetrics`].
//! Errors are [`PromError`]; [`PromError::into_seam`] maps them onto the
//! seams' [`crest_core::seams::SeamError`] kinds so policies can tell "Prometheus is
//! down" (hold) from "the query is wrong".
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

mod client;
mod error;
pub mod local;
pub mod metrics;
pub mod range;

pub use client::{Auth, Client, ClientConfig, Labels, RetryPolicy, Sample, TlsConfig, series_id};
pub use error::PromError;
pub use metrics::{AppQueries, PrometheusMetrics};
pub use range::{MAX_POINTS_PER_SERIES, RangeRequest, pull};

/// Run a future to completion on a fresh current-thread runtime, for the
/// synchronous callers (the CLI's forecast and plan paths).
///
/// # Errors
/// [`PromError::Config`] if the runtime cannot be built, else the future's own.
pub fn block_on<T>(
    fut: impl std::future::Future<Output = Result<T, PromError>>,
) -> Result<T, PromError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PromError::Config(format!("failed to start a runtime: {e}")))?
        .block_on(fut)
}
