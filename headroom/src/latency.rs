//! Where the probed server's p99 comes from.
//!
//! HAProxy's `rtime`/`ttime` are averages of the last 1,024 requests, not
//! percentiles, so an SLO on p99 needs a real distribution:
//!
//! - [`LoadgenLatency`]: the load generator's report endpoint
//!   (`crest-loadgen --report-listen`, per-server groups from the
//!   `x-crest-server` header) — used by the end-to-end bench.
//! - [`PrometheusLatency`]: a `histogram_quantile` query over the dwell window,
//!   as production would have it.
//! - [`NoLatency`]: none; the probe then falls back to HAProxy's `ttime`
//!   average and says so in its report.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::HeadroomError;

/// Latency of one server over one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyWindow {
    /// Median, ms (NaN if unknown).
    pub p50_ms: f64,
    /// 99th percentile, ms (NaN if unknown).
    pub p99_ms: f64,
    /// Requests measured, when the source knows.
    pub count: Option<u64>,
    /// Failed requests seen by the source, when it knows.
    pub errors: Option<u64>,
}

impl LatencyWindow {
    /// Nothing known.
    pub const UNKNOWN: LatencyWindow = LatencyWindow {
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        count: None,
        errors: None,
    };
}

/// A source of per-server latency percentiles over a window.
pub trait LatencySource: Send + Sync {
    /// A short name for reports ("loadgen http://...", "prometheus ...").
    fn name(&self) -> String;
    /// Start a window (e.g. reset the generator's histograms).
    fn begin(&self) -> impl Future<Output = Result<(), HeadroomError>> + Send;
    /// The window since [`Self::begin`] for `server`, `window_s` long.
    fn end(
        &self,
        server: &str,
        window_s: f64,
    ) -> impl Future<Output = Result<LatencyWindow, HeadroomError>> + Send;
}

/// No percentile source: the probe uses HAProxy's `ttime` average instead.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLatency;

impl LatencySource for NoLatency {
    fn name(&self) -> String {
        "haproxy ttime (average of the last 1024 requests, not a percentile)".into()
    }
    async fn begin(&self) -> Result<(), HeadroomError> {
        Ok(())
    }
    async fn end(&self, _server: &str, _window_s: f64) -> Result<LatencyWindow, HeadroomError> {
        Ok(LatencyWindow::UNKNOWN)
    }
}

/// The report endpoint of `crest-loadgen` (`GET URL[?reset=true]`).
#[derive(Debug, Clone)]
pub struct LoadgenLatency {
    url: String,
    timeout: Duration,
}

impl LoadgenLatency {
    /// `url` like `http://127.0.0.1:9100/report`.
    pub fn new(url: impl Into<String>) -> Self {
        LoadgenLatency {
            url: url.into(),
            timeout: Duration::from_secs(3),
        }
    }

    fn err(&self, message: String) -> HeadroomError {
        HeadroomError::Latency {
            source_name: self.name(),
            message,
        }
    }
}

#[derive(Deserialize)]
struct LgGroup {
    completed: u64,
    errors: u64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
}

#[derive(Deserialize)]
struct LgReport {
    groups: std::collections::BTreeMap<String, LgGroup>,
}

impl LatencySource for LoadgenLatency {
    fn name(&self) -> String {
        format!("loadgen {}", self.url)
    }

    async fn begin(&self) -> Result<(), HeadroomError> {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        crate::http::get(&format!("{}{sep}reset=true", self.url), self.timeout)
            .await
            .map(drop)
            .map_err(|m| self.err(m))
    }

    async fn end(&self, server: &str, _window_s: f64) -> Result<LatencyWindow, HeadroomError> {
        let body = crate::http::get(&self.url, self.timeout)
            .await
            .map_err(|m| self.err(m))?;
        let r: LgReport =
            serde_json::from_str(&body).map_err(|e| self.err(format!("bad report JSON: {e}")))?;
        Ok(match r.groups.get(server) {
            Some(g) => LatencyWindow {
                p50_ms: g.p50_ms.unwrap_or(f64::NAN),
                p99_ms: g.p99_ms.unwrap_or(f64::NAN),
                count: Some(g.completed),
                errors: Some(g.errors),
            },
            None => LatencyWindow {
                count: Some(0),
                ..LatencyWindow::UNKNOWN
            },
        })
    }
}

/// A Prometheus `histogram_quantile` query per window, through the shared
/// [`crest_prometheus::Client`] (auth, TLS and retries as everywhere else).
///
/// The query template may use `{server}` and `{window}` (e.g. `5s`); the
/// result is multiplied by `scale_to_ms` (1000 for seconds-based histograms).
#[derive(Debug, Clone)]
pub struct PrometheusLatency {
    client: crest_prometheus::Client,
    p99_query: String,
    scale_to_ms: f64,
}

/// The default p99 query: a classic `http_request_duration_seconds` histogram labelled by `server`.
pub const DEFAULT_PROM_QUERY: &str = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{server=\"{server}\"}[{window}])))";

impl PrometheusLatency {
    /// Query through `client` with `p99_query`.
    pub fn new(
        client: crest_prometheus::Client,
        p99_query: impl Into<String>,
        scale_to_ms: f64,
    ) -> Self {
        PrometheusLatency {
            client,
            p99_query: p99_query.into(),
            scale_to_ms,
        }
    }

    /// Query `base_url` (`http://host:9090`) without auth, 5 s timeout, 2 attempts.
    ///
    /// # Errors
    /// [`HeadroomError::Latency`] for a URL that is not http(s).
    pub fn from_url(
        base_url: &str,
        p99_query: impl Into<String>,
        scale_to_ms: f64,
    ) -> Result<Self, HeadroomError> {
        let mut cfg = crest_prometheus::ClientConfig::new(base_url);
        cfg.timeout = Duration::from_secs(5);
        cfg.retry.attempts = 2;
        let client = crest_prometheus::Client::new(&cfg).map_err(|e| HeadroomError::Latency {
            source_name: format!("prometheus {base_url}"),
            message: e.to_string(),
        })?;
        Ok(Self::new(client, p99_query, scale_to_ms))
    }

    /// The query text for one server and window.
    pub fn query_for(&self, server: &str, window_s: f64) -> String {
        let w = format!("{}s", window_s.ceil().max(1.0) as u64);
        self.p99_query
            .replace("{server}", server)
            .replace("{window}", &w)
    }
}

impl LatencySource for PrometheusLatency {
    fn name(&self) -> String {
        format!("prometheus {}", self.client.url())
    }

    async fn begin(&self) -> Result<(), HeadroomError> {
        Ok(())
    }

    async fn end(&self, server: &str, window_s: f64) -> Result<LatencyWindow, HeadroomError> {
        let q = self.query_for(server, window_s);
        let samples = self
            .client
            .query(&q, None)
            .await
            .map_err(|e| HeadroomError::Latency {
                source_name: self.name(),
                message: e.to_string(),
            })?;
        // No sample (no traffic in the window) is unknown, not an error.
        let p99 = samples.first().map_or(f64::NAN, |s| s.value);
        Ok(LatencyWindow {
            p99_ms: p99 * self.scale_to_ms,
            ..LatencyWindow::UNKNOWN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_query_template() {
        let p = PrometheusLatency::from_url("http://127.0.0.1:9090/", DEFAULT_PROM_QUERY, 1000.0)
            .unwrap();
        let q = p.query_for("s1", 4.2);
        assert!(q.contains("server=\"s1\"") && q.contains("[5s]"), "{q}");
        assert_eq!(p.name(), "prometheus http://127.0.0.1:9090");
        assert!(PrometheusLatency::from_url("127.0.0.1:9090", DEFAULT_PROM_QUERY, 1.0).is_err());
    }
}
