//! Live metrics from Prometheus: a [`MetricsSource`] for the autoscaler's
//! driver (`crest run`) and anything else that takes one.
//!
//! Per app, three instant queries (PromQL templates; `{app}` is replaced by
//! the app id): demand (requests per second), p99 latency (milliseconds) and
//! ready instances. Only demand is required. Anything the policy cannot trust
//! is an error, never a zero: Prometheus unreachable, an empty answer (the
//! target is gone: Prometheus' staleness markers empty the vector within one
//! scrape), a sample older than `max_age`, or a NaN demand. The driver then
//! applies nothing for that step, so missing data holds the fleet where it
//! is and can never scale it in.

use std::collections::BTreeMap;
use std::time::Duration;

use crest_core::seams::{Metrics, MetricsSource, SeamError};
use crest_core::{AppId, Clock, Timestamp, WallClock};
use serde::{Deserialize, Serialize};

use crate::{Client, PromError};

/// The PromQL of one app (templates: `{app}` is the app id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppQueries {
    /// Arriving requests per second (required).
    pub demand: String,
    /// p99 latency in milliseconds.
    #[serde(default)]
    pub p99_ms: Option<String>,
    /// Ready (serving) instances.
    #[serde(default)]
    pub ready: Option<String>,
}

impl AppQueries {
    /// The defaults for services exporting `http_requests_total` and the
    /// `http_request_duration_seconds` histogram with an `app` label (as
    /// crest-loadlab's test servers do), and `up` per instance.
    pub fn defaults() -> Self {
        AppQueries {
            demand: r#"sum(rate(http_requests_total{app="{app}"}[30s]))"#.into(),
            p99_ms: Some(
                r#"1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}"}[30s])))"#
                    .into(),
            ),
            ready: Some(r#"count(up{app="{app}"} == 1)"#.into()),
        }
    }

    fn render(t: &str, app: &AppId) -> String {
        t.replace("{app}", app.as_str())
    }
}

/// A [`MetricsSource`] over Prometheus instant queries.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    client: Client,
    apps: BTreeMap<String, AppQueries>,
    fallback: Option<AppQueries>,
    max_age: Duration,
}

impl PrometheusMetrics {
    /// Queries per app; apps not listed use `fallback` (or fail with
    /// [`crest_core::seams::SeamErrorKind::NotFound`] when it is `None`).
    pub fn new(
        client: Client,
        apps: BTreeMap<String, AppQueries>,
        fallback: Option<AppQueries>,
    ) -> Self {
        PrometheusMetrics {
            client,
            apps,
            fallback,
            max_age: Duration::from_secs(120),
        }
    }

    /// Refuse samples older than this (default 2 minutes).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    fn queries(&self, app: &AppId) -> Option<&AppQueries> {
        self.apps.get(app.as_str()).or(self.fallback.as_ref())
    }

    /// The one value of an instant query that must answer.
    async fn one(&self, promql: &str, now_s: f64) -> Result<(f64, f64), PromError> {
        let samples = self.client.query(promql, None).await?;
        let s = samples.first().ok_or_else(|| PromError::NoData {
            query: promql.to_string(),
        })?;
        if samples.len() > 1 {
            return Err(PromError::Protocol {
                url: self.client.url().to_string(),
                message: format!(
                    "{promql:?} returned {} series; aggregate it to one (sum, max)",
                    samples.len()
                ),
            });
        }
        let age = now_s - s.at_s;
        if age > self.max_age.as_secs_f64() {
            return Err(PromError::Stale {
                query: promql.to_string(),
                age_s: age,
                limit_s: self.max_age.as_secs_f64(),
            });
        }
        if !s.value.is_finite() {
            return Err(PromError::NoData {
                query: promql.to_string(),
            });
        }
        Ok((s.at_s, s.value))
    }

    /// Sample `app` (the typed error behind [`MetricsSource::sample`]).
    ///
    /// # Errors
    /// [`PromError`]: unreachable, empty, stale or non-finite demand.
    pub async fn sample_typed(&self, app: &AppId) -> Result<Metrics, PromError> {
        let q = self
            .queries(app)
            .ok_or_else(|| PromError::Config(format!("no Prometheus queries for app {app}")))?;
        let now_s = WallClock.now().secs_f64();
        let (at, demand) = self.one(&AppQueries::render(&q.demand, app), now_s).await?;
        let p99_ms = match &q.p99_ms {
            // No traffic gives NaN p99: unknown, not an error.
            Some(t) => match self.one(&AppQueries::render(t, app), now_s).await {
                Ok((_, v)) => v,
                Err(PromError::NoData { .. }) => f64::NAN,
                Err(e) => return Err(e),
            },
            None => f64::NAN,
        };
        let running = match &q.ready {
            Some(t) => match self.one(&AppQueries::render(t, app), now_s).await {
                Ok((_, v)) if v >= 0.0 => v.round().min(f64::from(u32::MAX)) as u32,
                Ok(_) | Err(PromError::NoData { .. }) => 0,
                Err(e) => return Err(e),
            },
            None => 0,
        };
        Ok(Metrics {
            at: Timestamp::from_millis((at * 1000.0).round() as i64),
            demand_rps: demand,
            throughput_rps: demand,
            p99_ms,
            error_rate: 0.0,
            utilisation: f64::NAN,
            running,
        })
    }
}

impl MetricsSource for PrometheusMetrics {
    async fn sample(&self, app: &AppId) -> Result<Metrics, SeamError> {
        self.sample_typed(app).await.map_err(PromError::into_seam)
    }
}
