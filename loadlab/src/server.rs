//! A test server with a known saturation point.
//!
//! Each request is served FCFS by one of `workers` servers taking exactly
//! `service_time`. Finish times are computed on a schedule (worker free at
//! `max(arrival, previous finish) + S`) and slept until, so the timer's
//! millisecond rounding never accumulates: over any long window the server
//! completes at most `workers / service_time` requests per second — its true
//! capacity — and beyond that the queue (and latency) grows without bound, as
//! a saturated real service does.
//!
//! `/metrics` exposes what a real service exports for Prometheus to scrape:
//! `http_requests_total` (completed requests) and the
//! `http_request_duration_seconds` histogram, both labelled
//! `server="<name>"` (the scrape config adds `app`, as production would).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::LoadlabError;

/// The response header naming the server that answered.
pub const SERVER_HEADER: &str = "x-crest-server";

/// How a test server behaves.
#[derive(Debug, Clone)]
pub struct TestServerConfig {
    /// Name returned in [`SERVER_HEADER`].
    pub name: String,
    /// Concurrent workers.
    pub workers: u32,
    /// Deterministic service time per request.
    pub service_time: Duration,
}

impl TestServerConfig {
    /// The true capacity, requests per second: `workers / service_time`.
    pub fn capacity_rps(&self) -> f64 {
        f64::from(self.workers) / self.service_time.as_secs_f64()
    }

    /// Check the values.
    ///
    /// # Errors
    /// [`LoadlabError::Config`] for zero workers or a zero service time.
    pub fn validate(&self) -> Result<(), LoadlabError> {
        if self.workers == 0 || self.workers > 100_000 {
            return Err(LoadlabError::Config {
                field: "workers",
                value: self.workers.to_string(),
                why: "expected 1..=100000",
            });
        }
        if self.service_time.is_zero() {
            return Err(LoadlabError::Config {
                field: "service_time",
                value: format!("{:?}", self.service_time),
                why: "expected a positive duration",
            });
        }
        Ok(())
    }
}

struct Shared {
    cfg: TestServerConfig,
    free_at: Mutex<Vec<Instant>>,
    served: AtomicU64,
    requests: Counter,
    latency: Histogram,
    registry: Registry,
}

/// Content type of `/metrics` (OpenMetrics text, which Prometheus scrapes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let mut out = String::new();
    match prometheus_client::encoding::text::encode(&mut out, &s.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serve on `listener` until `shutdown` resolves. Routes: `/` (and any path)
/// does the work; `/healthz` answers at once.
///
/// # Errors
/// [`LoadlabError::Config`] for a bad config, [`LoadlabError::Io`] if serving fails.
pub async fn run(
    listener: TcpListener,
    cfg: TestServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), LoadlabError> {
    cfg.validate()?;
    #[allow(clippy::disallowed_methods)] // the test server is the real world of a benchmark
    let now = Instant::now();
    let requests = Counter::default();
    // 0.5 ms to about 4 s.
    let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
    let mut registry = Registry::with_labels(
        [(
            std::borrow::Cow::Borrowed("server"),
            std::borrow::Cow::Owned(cfg.name.clone()),
        )]
        .into_iter(),
    );
    registry.register("http_requests", "Requests completed", requests.clone());
    registry.register(
        "http_request_duration_seconds",
        "Time from arrival to response, seconds",
        latency.clone(),
    );
    let shared = Arc::new(Shared {
        free_at: Mutex::new(vec![now; cfg.workers as usize]),
        cfg,
        served: AtomicU64::new(0),
        requests,
        latency,
        registry,
    });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .fallback(work)
        .with_state(shared);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| LoadlabError::Io {
            what: "serve the test server".into(),
            source,
        })
}

async fn work(State(s): State<Arc<Shared>>) -> Response {
    #[allow(clippy::disallowed_methods)] // arrival time of a real request
    let arrival = Instant::now();
    let finish = {
        let mut free = s.free_at.lock().await;
        // FCFS: the worker that frees first takes the request.
        let (i, at) = free
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| **t)
            .map(|(i, t)| (i, *t))
            .unwrap_or((0, arrival));
        let start = at.max(arrival);
        let finish = start + s.cfg.service_time;
        if let Some(slot) = free.get_mut(i) {
            *slot = finish;
        }
        finish
    };
    tokio::time::sleep_until(finish).await;
    s.served.fetch_add(1, Ordering::Relaxed);
    s.requests.inc();
    #[allow(clippy::disallowed_methods)] // the response time of a real request
    let done = Instant::now();
    s.latency.observe((done - arrival).as_secs_f64());
    let mut r = (StatusCode::OK, "ok\n").into_response();
    if let Ok(v) = HeaderValue::from_str(&s.cfg.name) {
        r.headers_mut().insert(SERVER_HEADER, v);
    }
    r
}
