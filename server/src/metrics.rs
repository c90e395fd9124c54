//! `/metrics`: what the server did, for Prometheus to scrape.
//!
//! Counters by webhook and status, outcomes (decisions, duplicates, ignored),
//! rejected requests by reason, and a request-latency histogram per route.
//! Label values come from fixed sets (routes, sources, statuses), never from
//! request data, so a hostile sender cannot blow up the series count.
//! Encoded by `prometheus-client` in the OpenMetrics text format; served as
//! such to scrapers that ask for it (Prometheus does, in its `Accept`
//! header), and otherwise rewritten to the classic Prometheus text format
//! 0.0.4 (counter families named with their `_total`, no `# EOF`), which is
//! what `curl` users and older tools expect and what `promtool check metrics`
//! lints.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of [`Metrics::encode_prometheus`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceStatus {
    source: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    route: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCode {
    route: &'static str,
    code: u16,
}

/// Per-app series: app names come from the controller's config, a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabel {
    app: String,
}

/// A forecast series of an app: `quantile` is `mean` or the level (`0.9`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppQuantile {
    app: String,
    quantile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    alerts_received: Family<SourceStatus, Counter>,
    decisions: Family<SourceLabel, Counter>,
    duplicates: Family<SourceLabel, Counter>,
    ignored: Family<SourceLabel, Counter>,
    rejected: Family<RejectLabels, Counter>,
    requests: Family<RouteCode, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    commit_seconds: Histogram,
    batch_requests: Histogram,
    checkpoint_seconds: Histogram,
    app_desired: Family<AppLabel, Gauge>,
    app_observed: Family<AppLabel, Gauge>,
    app_ready: Family<AppLabel, Gauge>,
    app_paused: Family<AppLabel, Gauge>,
    decision_seconds: Family<AppLabel, Histogram, fn() -> Histogram>,
    planned: Family<AppLabel, Gauge>,
    forecast: Family<AppQuantile, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

/// What the newest stored plan of an app says about now.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanNow {
    /// The app.
    pub app: String,
    /// Replicas the plan asks for now.
    pub planned: u32,
    /// The plan's forecast at now: (`mean` or the quantile level, requests/s);
    /// empty when the plan came without one or its forecast does not cover now.
    pub forecast: Vec<(String, f64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let alerts_received = Family::<SourceStatus, Counter>::default();
        let decisions = Family::<SourceLabel, Counter>::default();
        let duplicates = Family::<SourceLabel, Counter>::default();
        let ignored = Family::<SourceLabel, Counter>::default();
        let rejected = Family::<RejectLabels, Counter>::default();
        let requests = Family::<RouteCode, Counter>::default();
        let latency: Family<RouteLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "crest_alerts_received",
            "Alerts received in accepted webhook payloads, by webhook and alert status",
            alerts_received.clone(),
        );
        registry.register(
            "crest_decisions",
            "Scaling decisions recorded from alerts, by webhook",
            decisions.clone(),
        );
        registry.register(
            "crest_alert_duplicates",
            "Alerts already seen (same fingerprint, status and start): deduplication hits",
            duplicates.clone(),
        );
        registry.register(
            "crest_alerts_ignored",
            "Alerts recorded without a decision (no app label, unknown app, no matching rule, nothing to resolve, stale)",
            ignored.clone(),
        );
        registry.register(
            "crest_requests_rejected",
            "Requests refused, by route and reason (unauthorized, bad_payload, too_large, unavailable)",
            rejected.clone(),
        );
        registry.register(
            "crest_http_requests",
            "HTTP requests answered, by route and status code",
            requests.clone(),
        );
        registry.register(
            "crest_http_request_duration_seconds",
            "Time from request received to response ready, by route (alert routes: including the durable commit)",
            latency.clone(),
        );
        let commit_seconds = latency_histogram();
        let batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "crest_store_commit_duration_seconds",
            "Time the writer spent on one group-commit batch (statements + COMMIT with fsync)",
            commit_seconds.clone(),
        );
        registry.register(
            "crest_store_batch_requests",
            "Requests acknowledged by one group commit",
            batch_requests.clone(),
        );
        let checkpoint_seconds = latency_histogram();
        registry.register(
            "crest_store_checkpoint_duration_seconds",
            "Time the writer spent copying the WAL into the database (after answering, when idle)",
            checkpoint_seconds.clone(),
        );
        let app_desired = Family::<AppLabel, Gauge>::default();
        let app_observed = Family::<AppLabel, Gauge>::default();
        let app_ready = Family::<AppLabel, Gauge>::default();
        let app_paused = Family::<AppLabel, Gauge>::default();
        let decision_seconds: Family<AppLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "crest_app_desired_replicas",
            "Replicas the controller asks for, by app",
            app_desired.clone(),
        );
        registry.register(
            "crest_app_observed_replicas",
            "Instances running or starting, by app (as the actuator observes them)",
            app_observed.clone(),
        );
        registry.register(
            "crest_app_ready_replicas",
            "Instances passing the load balancer's health check, by app",
            app_ready.clone(),
        );
        registry.register(
            "crest_app_paused",
            "1 while the app's actuation is paused (POST /v1/apps/APP/pause)",
            app_paused.clone(),
        );
        registry.register(
            "crest_controller_decision_duration_seconds",
            "Time from the reconcile loop waking (alert or period) to its decision, by app",
            decision_seconds.clone(),
        );
        let planned = Family::<AppLabel, Gauge>::default();
        let forecast = Family::<AppQuantile, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "crest_planned_replicas",
            "Replicas the newest stored plan of each app asks for now (POST /v1/plans)",
            planned.clone(),
        );
        registry.register(
            "crest_forecast_requests_per_second",
            "The newest stored plan's forecast at now, by app and quantile (`mean` or the level)",
            forecast.clone(),
        );
        Metrics {
            registry,
            planned,
            forecast,
            app_desired,
            app_observed,
            app_ready,
            app_paused,
            decision_seconds,
            checkpoint_seconds,
            commit_seconds,
            batch_requests,
            alerts_received,
            decisions,
            duplicates,
            ignored,
            rejected,
            requests,
            latency,
        }
    }

    /// One alert of an accepted payload.
    pub fn alert_received(&self, source: &'static str, status: &'static str) {
        self.alerts_received
            .get_or_create(&SourceStatus { source, status })
            .inc();
    }

    /// One decision made.
    pub fn decision(&self, source: &'static str) {
        self.decisions.get_or_create(&SourceLabel { source }).inc();
    }

    /// One duplicate alert.
    pub fn duplicate(&self, source: &'static str) {
        self.duplicates.get_or_create(&SourceLabel { source }).inc();
    }

    /// One alert recorded without a decision.
    pub fn ignored(&self, source: &'static str) {
        self.ignored.get_or_create(&SourceLabel { source }).inc();
    }

    /// One request refused.
    pub fn rejected(&self, route: &'static str, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectLabels { route, reason })
            .inc();
    }

    /// One request answered.
    pub fn request(&self, route: &'static str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteCode { route, code })
            .inc();
        self.latency
            .get_or_create(&RouteLabel { route })
            .observe(seconds);
    }

    /// One group commit: its duration and how many requests it carried.
    pub fn commit(&self, seconds: f64, requests: usize) {
        self.commit_seconds.observe(seconds);
        self.batch_requests.observe(requests as f64);
    }

    /// An app's replicas as the controller last saw them.
    pub fn app_replicas(&self, app: &str, desired: u32, observed: u32, ready: u32, paused: bool) {
        let l = AppLabel { app: app.into() };
        self.app_desired.get_or_create(&l).set(i64::from(desired));
        self.app_observed.get_or_create(&l).set(i64::from(observed));
        self.app_ready.get_or_create(&l).set(i64::from(ready));
        self.app_paused.get_or_create(&l).set(i64::from(paused));
    }

    /// One reconcile decision of an app, from wake-up to decision.
    pub fn decision_latency(&self, app: &str, seconds: f64) {
        self.decision_seconds
            .get_or_create(&AppLabel { app: app.into() })
            .observe(seconds);
    }

    /// The plans in force, read at scrape time: apps without one drop out.
    pub fn plans_now(&self, plans: &[PlanNow]) {
        self.planned.clear();
        self.forecast.clear();
        for p in plans {
            self.planned
                .get_or_create(&AppLabel { app: p.app.clone() })
                .set(i64::from(p.planned));
            for (q, v) in &p.forecast {
                self.forecast
                    .get_or_create(&AppQuantile {
                        app: p.app.clone(),
                        quantile: q.clone(),
                    })
                    .set(*v);
            }
        }
    }

    /// One WAL checkpoint.
    pub fn checkpoint(&self, seconds: f64) {
        self.checkpoint_seconds.observe(seconds);
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# failed to encode metrics\n# EOF\n");
        }
        out
    }
}

impl Metrics {
    /// The exposition in the Prometheus text format 0.0.4.
    pub fn encode_prometheus(&self) -> String {
        openmetrics_to_prometheus(&self.encode())
    }
}

/// Rewrite OpenMetrics text (as `prometheus-client` writes it) into the
/// Prometheus text format: a counter family `x` becomes `x_total` in its
/// `# HELP`/`# TYPE` lines (its samples already carry `_total`), and `# EOF`
/// goes. Histograms and gauges read the same in both formats.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut help: Option<&str> = None;
    for line in text.lines() {
        if line == "# EOF" {
            continue;
        }
        if line.starts_with("# HELP ") {
            if let Some(h) = help.take() {
                out.push_str(h);
                out.push('\n');
            }
            help = Some(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.splitn(2, ' ');
            let name = parts.next().unwrap_or_default();
            let kind = parts.next().unwrap_or_default();
            if kind == "counter" && !name.ends_with("_total") {
                if let Some(h) = help.take() {
                    let text = h.strip_prefix("# HELP ").and_then(|r| r.strip_prefix(name));
                    match text {
                        Some(t) => out.push_str(&format!("# HELP {name}_total{t}\n")),
                        None => {
                            out.push_str(h);
                            out.push('\n');
                        }
                    }
                }
                out.push_str(&format!("# TYPE {name}_total counter\n"));
                continue;
            }
        }
        if let Some(h) = help.take() {
            out.push_str(h);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(h) = help {
        out.push_str(h);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_families() {
        let m = Metrics::new();
        m.alert_received("alertmanager", "firing");
        m.decision("alertmanager");
        m.duplicate("grafana");
        m.request("alerts_alertmanager", 200, 0.0012);
        let text = m.encode();
        assert!(
            text.contains(
                "crest_alerts_received_total{source=\"alertmanager\",status=\"firing\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("crest_alert_duplicates_total{source=\"grafana\"} 1"),
            "{text}"
        );
        assert!(text.contains("crest_http_request_duration_seconds_bucket{le=\"0.0016\",route=\"alerts_alertmanager\"} 1")
            || text.contains("crest_http_request_duration_seconds_bucket{route=\"alerts_alertmanager\",le=\"0.0016\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));

        let prom = m.encode_prometheus();
        assert!(
            prom.contains("# HELP crest_decisions_total Scaling decisions"),
            "{prom}"
        );
        assert!(
            prom.contains("# TYPE crest_decisions_total counter\n"),
            "{prom}"
        );
        assert!(prom.contains("# TYPE crest_http_request_duration_seconds histogram\n"));
        assert!(!prom.contains("# EOF"));
    }

    /// `promtool check metrics` (Debian `prometheus`, installed by
    /// scripts/install-deps.sh) accepts the Prometheus-format exposition.
    #[test]
    fn promtool_accepts_the_prometheus_format() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let Ok(mut child) = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        else {
            crest_core::services::skip_or_fail(
                "promtool_accepts_the_prometheus_format",
                "promtool not installed (Debian package prometheus)",
            );
            return;
        };
        let m = Metrics::new();
        m.alert_received("grafana", "resolved");
        m.decision("grafana");
        m.duplicate("alertmanager");
        m.ignored("alertmanager");
        m.rejected("alerts_grafana", "unauthorized");
        m.request("healthz", 200, 0.0001);
        m.commit(0.0004, 3);
        m.checkpoint(0.004);
        let text = m.encode_prometheus();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// With `CREST_REQUIRE_SERVICES=1`, the promtool test run without
    /// promtool on its PATH fails instead of skipping (issue 16, item 11).
    #[test]
    fn a_missing_promtool_fails_when_services_are_required() {
        let run = |require: &str| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "metrics::tests::promtool_accepts_the_prometheus_format",
                    "--nocapture",
                ])
                .env("PATH", "/nonexistent")
                .env("CI", "")
                .env(crest_core::services::REQUIRE_VAR, require)
                .output()
                .unwrap()
        };
        let out = run("1");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a missing promtool passed: {err}");
        assert!(err.contains("skipping is forbidden"), "{err}");
        let out = run("0");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(
            err.contains("SKIP promtool_accepts_the_prometheus_format"),
            "{err}"
        );
    }
}
