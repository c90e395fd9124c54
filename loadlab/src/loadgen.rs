//! An open-loop HTTP load generator at a fixed aggregate rate.
//!
//! Arrivals follow a schedule (constant spacing, or Poisson from a seed) and
//! never wait for earlier answers, so a saturated server shows up as growing
//! latency and timeouts rather than as a politely slower generator. Latency is
//! measured from the *scheduled* send time (no coordinated omission).
//!
//! Results go into HDR histograms, overall and per group (the value of a
//! response header such as `x-crest-server`, so one generator in front of a
//! load balancer still tells servers apart). [`LoadGenHandle::report`] reads
//! them, optionally starting a new window; [`serve_reports`] exposes the same
//! as `GET /report[?reset=true]` for a probe running in another process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::LoadlabError;

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exactly `1 / rate` apart.
    Constant,
    /// Exponential gaps (a Poisson process) from this seed.
    Poisson {
        /// RNG seed.
        seed: u64,
    },
}

/// What to send, how fast.
#[derive(Debug, Clone)]
pub struct LoadGenConfig {
    /// HTTP method.
    pub method: hyper::Method,
    /// Target URL (`http://` only: no TLS stack).
    pub url: hyper::Uri,
    /// Request body (empty for none).
    pub body: Bytes,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// Aggregate requests per second.
    pub rate_per_s: f64,
    /// Stop after this long (`None`: until the handle stops it).
    pub duration: Option<Duration>,
    /// A request not answered within this is an error.
    pub timeout: Duration,
    /// Group results by this response header's value.
    pub group_header: Option<String>,
    /// At most this many requests in flight; arrivals beyond are counted as dropped errors.
    pub max_in_flight: usize,
    /// Arrival process.
    pub arrivals: Arrivals,
}

impl LoadGenConfig {
    /// GET `url` at `rate_per_s`, constant spacing, 2 s timeout.
    pub fn get(url: hyper::Uri, rate_per_s: f64) -> Self {
        LoadGenConfig {
            method: hyper::Method::GET,
            url,
            body: Bytes::new(),
            headers: Vec::new(),
            rate_per_s,
            duration: None,
            timeout: Duration::from_secs(2),
            group_header: None,
            max_in_flight: 10_000,
            arrivals: Arrivals::Constant,
        }
    }

    /// Check the values.
    ///
    /// # Errors
    /// [`LoadlabError::Config`] naming the bad field.
    pub fn validate(&self) -> Result<(), LoadlabError> {
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0 && self.rate_per_s <= 1e6) {
            return Err(LoadlabError::Config {
                field: "rate_per_s",
                value: self.rate_per_s.to_string(),
                why: "expected a rate in (0, 1e6]",
            });
        }
        if self.url.scheme_str() != Some("http") {
            return Err(LoadlabError::Config {
                field: "url",
                value: self.url.to_string(),
                why: "expected an http:// URL",
            });
        }
        if self.max_in_flight == 0 {
            return Err(LoadlabError::Config {
                field: "max_in_flight",
                value: "0".into(),
                why: "expected at least 1",
            });
        }
        Ok(())
    }
}

/// Latency and outcome counts of one group over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    /// Answered requests (any status).
    pub completed: u64,
    /// 2xx/3xx answers.
    pub ok: u64,
    /// Non-2xx/3xx answers, timeouts, connection errors, drops.
    pub errors: u64,
    /// Completed per second over the window.
    pub throughput_rps: f64,
    /// Median latency of answered requests, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Maximum latency, ms.
    pub max_ms: f64,
}

/// A window's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Window length, seconds.
    pub window_s: f64,
    /// Requests scheduled in the window.
    pub sent: u64,
    /// Everything together.
    pub all: GroupReport,
    /// Per value of the group header (`"-"` when absent, e.g. errors).
    pub groups: BTreeMap<String, GroupReport>,
}

struct Acc {
    hist: Histogram<u64>,
    ok: u64,
    errors: u64,
}

impl Acc {
    fn new() -> Self {
        Acc {
            // 1 µs .. 1 h, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds are valid"),
            ok: 0,
            errors: 0,
        }
    }

    fn report(&self, window_s: f64) -> GroupReport {
        let q = |p: f64| {
            if self.hist.is_empty() {
                f64::NAN
            } else {
                self.hist.value_at_quantile(p) as f64 / 1000.0
            }
        };
        GroupReport {
            completed: self.hist.len(),
            ok: self.ok,
            errors: self.errors,
            throughput_rps: if window_s > 0.0 {
                self.hist.len() as f64 / window_s
            } else {
                0.0
            },
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: if self.hist.is_empty() {
                f64::NAN
            } else {
                self.hist.max() as f64 / 1000.0
            },
        }
    }
}

struct Window {
    started: Instant,
    sent: u64,
    all: Acc,
    groups: BTreeMap<String, Acc>,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            started: now,
            sent: 0,
            all: Acc::new(),
            groups: BTreeMap::new(),
        }
    }

    fn record(&mut self, group: &str, latency: Option<Duration>, ok: bool) {
        for acc in [
            &mut self.all,
            self.groups
                .entry(group.to_string())
                .or_insert_with(Acc::new),
        ] {
            if let Some(l) = latency {
                let us = u64::try_from(l.as_micros())
                    .unwrap_or(u64::MAX)
                    .clamp(1, 3_600_000_000);
                let _ = acc.hist.record(us);
            }
            if ok {
                acc.ok += 1;
            } else {
                acc.errors += 1;
            }
        }
    }

    fn report(&self, now: Instant) -> Report {
        let w = now.duration_since(self.started).as_secs_f64();
        Report {
            window_s: w,
            sent: self.sent,
            all: self.all.report(w),
            groups: self
                .groups
                .iter()
                .map(|(k, a)| (k.clone(), a.report(w)))
                .collect(),
        }
    }
}

/// A running generator.
#[derive(Clone)]
pub struct LoadGenHandle {
    window: Arc<Mutex<Window>>,
    total: Arc<Mutex<Window>>,
    stop: watch::Sender<bool>,
    rate: watch::Sender<f64>,
}

impl std::fmt::Debug for LoadGenHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadGenHandle").finish_non_exhaustive()
    }
}

impl LoadGenHandle {
    /// The report of the current window; with `reset`, a new window starts.
    pub fn report(&self, reset: bool) -> Report {
        #[allow(clippy::disallowed_methods)] // the generator measures the real world
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let r = w.report(now);
        if reset {
            *w = Window::new(now);
        }
        r
    }

    /// Everything since the start.
    pub fn total(&self) -> Report {
        #[allow(clippy::disallowed_methods)] // the generator measures the real world
        let now = Instant::now();
        self.total
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .report(now)
    }

    /// Change the aggregate rate from now on.
    pub fn set_rate(&self, rate_per_s: f64) {
        if rate_per_s.is_finite() && rate_per_s > 0.0 {
            let _ = self.rate.send(rate_per_s);
        }
    }

    /// Stop sending (in-flight requests still finish).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// Start generating load in the background (needs a tokio runtime).
///
/// # Errors
/// [`LoadlabError::Config`] for a bad config.
pub fn spawn(cfg: LoadGenConfig) -> Result<LoadGenHandle, LoadlabError> {
    cfg.validate()?;
    #[allow(clippy::disallowed_methods)] // the generator measures the real world
    let now = Instant::now();
    let (stop, stop_rx) = watch::channel(false);
    let (rate, rate_rx) = watch::channel(cfg.rate_per_s);
    let h = LoadGenHandle {
        window: Arc::new(Mutex::new(Window::new(now))),
        total: Arc::new(Mutex::new(Window::new(now))),
        stop,
        rate,
    };
    tokio::spawn(drive(cfg, h.clone(), stop_rx, rate_rx, now));
    Ok(h)
}

async fn drive(
    cfg: LoadGenConfig,
    h: LoadGenHandle,
    mut stop: watch::Receiver<bool>,
    rate: watch::Receiver<f64>,
    start: Instant,
) {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(cfg.max_in_flight.min(1024))
        .build(conn);
    let cfg = Arc::new(cfg);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(cfg.max_in_flight));
    let mut rng = match cfg.arrivals {
        Arrivals::Poisson { seed } => Some(rand::rngs::StdRng::seed_from_u64(seed)),
        Arrivals::Constant => None,
    };
    let mut next = start;
    loop {
        let r = *rate.borrow();
        let gap = match rng.as_mut() {
            Some(rng) => Exp::new(r).map(|e| e.sample(rng)).unwrap_or(1.0 / r),
            None => 1.0 / r,
        };
        next += Duration::from_secs_f64(gap);
        if cfg.duration.is_some_and(|d| next.duration_since(start) > d) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        for w in [&h.window, &h.total] {
            w.lock().unwrap_or_else(|p| p.into_inner()).sent += 1;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            record(&h, "-", None, false);
            continue;
        };
        let (client, cfg, h) = (client.clone(), cfg.clone(), h.clone());
        let scheduled = next;
        tokio::spawn(async move {
            let _permit = permit;
            let out = tokio::time::timeout(cfg.timeout, one(&client, &cfg)).await;
            #[allow(clippy::disallowed_methods)] // the generator measures the real world
            let done = Instant::now();
            let lat = done.duration_since(scheduled);
            match out {
                Ok(Ok((status, group))) => {
                    let ok = status.is_success() || status.is_redirection();
                    record(&h, &group, Some(lat), ok);
                }
                _ => record(&h, "-", None, false),
            }
        });
    }
}

fn record(h: &LoadGenHandle, group: &str, lat: Option<Duration>, ok: bool) {
    for w in [&h.window, &h.total] {
        w.lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(group, lat, ok);
    }
}

async fn one(
    client: &Client<HttpConnector, Full<Bytes>>,
    cfg: &LoadGenConfig,
) -> Result<(hyper::StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    let mut req = hyper::Request::builder()
        .method(cfg.method.clone())
        .uri(cfg.url.clone());
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(Full::new(cfg.body.clone()))?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let group = cfg
        .group_header
        .as_deref()
        .and_then(|g| resp.headers().get(g))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    // Read the body to the end so the connection goes back to the pool.
    let _ = resp.into_body().collect().await?;
    Ok((status, group))
}

#[derive(Deserialize)]
struct ReportQuery {
    #[serde(default)]
    reset: bool,
    #[serde(default)]
    total: bool,
}

/// Serve `GET /report[?reset=true|&total=true]` (JSON [`Report`]) until `shutdown`.
///
/// # Errors
/// [`LoadlabError::Io`] if serving fails.
pub async fn serve_reports(
    listener: TcpListener,
    h: LoadGenHandle,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), LoadlabError> {
    let app = Router::new()
        .route(
            "/report",
            get(
                |State(h): State<LoadGenHandle>, Query(q): Query<ReportQuery>| async move {
                    let r = if q.total {
                        h.total()
                    } else {
                        h.report(q.reset)
                    };
                    axum::Json(r)
                },
            ),
        )
        .with_state(h);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| LoadlabError::Io {
            what: "serve load generator reports".into(),
            source,
        })
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests wait in real time
mod tests {
    use super::*;
    use crate::server::{self, TestServerConfig};

    #[tokio::test]
    async fn saturated_server_caps_throughput_at_true_capacity() {
        // 2 workers x 20 ms = 100 req/s; offer 150 req/s for 2 s.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let cfg = TestServerConfig {
            name: "a".into(),
            workers: 2,
            service_time: Duration::from_millis(20),
        };
        assert!((cfg.capacity_rps() - 100.0).abs() < 1e-9);
        tokio::spawn(server::run(l, cfg, std::future::pending()));
        let mut lg = LoadGenConfig::get(format!("http://{addr}/").parse().unwrap(), 150.0);
        lg.group_header = Some(server::SERVER_HEADER.into());
        lg.timeout = Duration::from_secs(10);
        let h = spawn(lg).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        h.report(true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let r = h.report(false);
        h.stop();
        let g = &r.groups["a"];
        assert!(g.throughput_rps > 90.0 && g.throughput_rps < 106.0, "{r:?}");
        assert!(g.p99_ms > 200.0, "queue must grow: {r:?}");
        assert_eq!(g.errors, 0);
    }

    #[tokio::test]
    async fn below_capacity_latency_is_service_time() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let cfg = TestServerConfig {
            name: "b".into(),
            workers: 4,
            service_time: Duration::from_millis(10),
        };
        tokio::spawn(server::run(l, cfg, std::future::pending()));
        let mut lg = LoadGenConfig::get(format!("http://{addr}/").parse().unwrap(), 100.0);
        lg.duration = Some(Duration::from_secs(1));
        lg.arrivals = Arrivals::Poisson { seed: 7 };
        let h = spawn(lg).unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let r = h.total();
        assert!(r.all.completed > 70, "{r:?}");
        assert!(r.all.p50_ms >= 10.0 && r.all.p50_ms < 25.0, "{r:?}");
        assert!(
            LoadGenConfig::get("https://x/".parse().unwrap(), 1.0)
                .validate()
                .is_err()
        );
    }
}
