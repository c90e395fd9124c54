//! A real Prometheus scrapes crest-loadlab's test servers (`/metrics`:
//! request counter and latency histogram) while an open-loop generator
//! sends a known rate pattern. crest pulls that history through
//! `crest_prometheus::pull` and recovers each plateau's rate within 2 %;
//! the probe's `PrometheusLatency` reads a p99 that matches the servers'
//! service time; the live `PrometheusMetrics` source reads the demand, then
//! fails with a typed "unavailable" error once Prometheus is killed (the
//! driver then holds: it applies nothing on a failed observation).

#![allow(clippy::unwrap_used)] // a panic is the failure report
#![allow(clippy::disallowed_methods)] // a real Prometheus scraping real servers runs on the wall clock

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crest_core::AppId;
use crest_core::seams::{MetricsSource, SeamErrorKind};
use crest_headroom::PrometheusLatency;
use crest_headroom::latency::{DEFAULT_PROM_QUERY, LatencySource};
use crest_loadlab::loadgen::{self, LoadGenConfig};
use crest_loadlab::server::{self, TestServerConfig};
use crest_prometheus::local::{LocalPrometheus, prometheus_binary};
use crest_prometheus::{AppQueries, Client, ClientConfig, PrometheusMetrics, RangeRequest};

const SERVICE_MS: u64 = 20;
/// The pattern: (requests per second, seconds).
const PATTERN: [(f64, u64); 3] = [(40.0, 14), (90.0, 14), (60.0, 14)];

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_history_latency_and_live_metrics_from_scraped_test_servers() {
    let Some(bin) = prometheus_binary() else {
        crest_core::services::skip_or_fail(
            "prometheus_history_latency_and_live_metrics_from_scraped_test_servers",
            "prometheus is not installed (CI installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut targets = Vec::new();
    let mut stops = Vec::new();
    for name in ["s0", "s1"] {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        targets.push(l.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stops.push(tx);
        let cfg = TestServerConfig {
            name: name.into(),
            workers: 8,
            service_time: Duration::from_millis(SERVICE_MS),
        };
        tokio::spawn(server::run(l, cfg, async move {
            let _ = rx.await;
        }));
    }
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loadlab\n    static_configs:\n      - targets: ['{}', '{}']\n        labels:\n          app: web\n",
        targets[0], targets[1]
    );
    let mut prom = LocalPrometheus::start(&bin, dir.path(), &config, &[]).unwrap();
    let client = Client::new(&ClientConfig::new(prom.url())).unwrap();
    // Both targets scraped at least twice before the load starts.
    let mut up = 0;
    for _ in 0..100 {
        up = client
            .query(
                "count(count_over_time(up{job=\"loadlab\"}[10s]) >= 2)",
                None,
            )
            .await
            .ok()
            .and_then(|v| v.first().map(|s| s.value as i32))
            .unwrap_or(0);
        if up == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        up,
        2,
        "prometheus never scraped both servers: {}",
        prom.log_tail()
    );

    // Open loop: the whole pattern on s0, s1 idle (but scraped).
    let mut lg = LoadGenConfig::get(
        format!("http://{}/", targets[0]).parse().unwrap(),
        PATTERN[0].0,
    );
    lg.timeout = Duration::from_secs(5);
    let load = loadgen::spawn(lg).unwrap();
    let mut plateaus = Vec::new();
    for (i, (rate, secs)) in PATTERN.iter().enumerate() {
        if i > 0 {
            load.set_rate(*rate);
        }
        let from = now_s();
        tokio::time::sleep(Duration::from_secs(*secs)).await;
        plateaus.push((*rate, from, now_s()));
    }

    // The probe's latency source on the same data: p99 of s0 over 10 s.
    let lat = PrometheusLatency::from_url(&prom.url(), DEFAULT_PROM_QUERY, 1000.0).unwrap();
    let w = lat.end("s0", 10.0).await.unwrap();
    // 20 ms service, no queueing at 60 rps on 8 workers: p99 lies in the
    // histogram's (16, 32] ms bucket, or the next one on a loaded machine
    // (timer and scheduling delays); never under the service time.
    assert!(w.p99_ms > 16.0 && w.p99_ms <= 64.0, "p99 {} ms", w.p99_ms);

    // Live metrics while the load still runs.
    let mut apps = BTreeMap::new();
    apps.insert(
        "web".to_string(),
        AppQueries {
            demand: r#"sum(rate(http_requests_total{app="{app}"}[5s]))"#.into(),
            p99_ms: Some(
                r#"1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app="{app}"}[5s])))"#.into(),
            ),
            ready: Some(r#"count(up{app="{app}"} == 1)"#.into()),
        },
    );
    let live = PrometheusMetrics::new(client.clone(), apps, None);
    let web = AppId::try_new("web").unwrap();
    let m = live.sample(&web).await.unwrap();
    assert!(
        (m.demand_rps - 60.0).abs() < 6.0,
        "live demand {}",
        m.demand_rps
    );
    assert_eq!(m.running, 2);
    assert!(m.p99_ms > 16.0 && m.p99_ms <= 64.0, "live p99 {}", m.p99_ms);
    load.stop();

    // History: every second over the whole run, then each plateau's interior.
    let start = plateaus[0].1.floor() as i64;
    let end = plateaus[2].2.ceil() as i64;
    let req = RangeRequest {
        query: r#"sum(rate(http_requests_total{app="web"}[4s]))"#.into(),
        start_s: start,
        end_s: end,
        step_s: 1,
    };
    let got = crest_prometheus::pull(&client, &req, &|_| {})
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "one label set (sum)");
    assert_eq!(got[0].id, "");
    for (rate, from, to) in &plateaus {
        // Skip the rate window and a scrape after each change.
        let (a, b) = (from + 6.0, to - 0.5);
        let inside: Vec<f64> = got[0]
            .points
            .iter()
            .filter(|(t, _)| (*t as f64) >= a && (*t as f64) <= b)
            .map(|p| p.1)
            .collect();
        assert!(
            inside.len() >= 6,
            "only {} points in the plateau at {rate}",
            inside.len()
        );
        let mean = inside.iter().sum::<f64>() / inside.len() as f64;
        let err = (mean - rate).abs() / rate;
        assert!(
            err < 0.02,
            "plateau {rate} rps: recovered {mean:.2} ({:.1} % off)",
            err * 100.0
        );
    }

    // Prometheus gone: a typed, retryable "unavailable", never a zero demand.
    prom.kill();
    let e = live.sample(&web).await.unwrap_err();
    assert_eq!(e.kind, SeamErrorKind::Unavailable, "{e}");
    assert!(e.is_retryable());
    for s in stops {
        let _ = s.send(());
    }
}
