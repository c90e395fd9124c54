//! End to end with a real Prometheus Alertmanager (Debian
//! `prometheus-alertmanager`): an alert pushed to Alertmanager's API reaches
//! crest through its webhook receiver (bearer token, `send_resolved`), becomes
//! a decision, and its resolution undoes the step; and a real Prometheus
//! scrapes crest's `/metrics`. Everything on 127.0.0.1. Each test skips
//! (passes with a message) only when its binary is missing.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report
#![allow(clippy::disallowed_methods)] // polls a real Alertmanager in wall time

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crest_server::ServerConfig;
use crest_server::client::HttpClient;
use serde_json::Value;

const TOKEN: &str = "e2e-alertmanager-token-0123";

fn alertmanager_binary() -> Option<PathBuf> {
    [
        "/usr/bin/prometheus-alertmanager",
        "/usr/local/bin/alertmanager",
        "/usr/bin/alertmanager",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child process (Alertmanager, Prometheus) killed when the test ends, pass or fail.
struct Alertmanager(Child);

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_alertmanager(bin: &Path, dir: &Path, crest: SocketAddr) -> (Alertmanager, SocketAddr) {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"route:
  receiver: crest
  group_by: ['alertname', 'app']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: crest
    webhook_configs:
      - url: http://{crest}/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"#
        ),
    )
    .unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Alertmanager(child), addr)
}

async fn wait_ready(am: SocketAddr, dir: &Path) {
    for _ in 0..200 {
        if let Ok(mut c) = HttpClient::connect(am).await
            && let Ok((s, _)) = c.get("/-/ready").await
            && s.is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "alertmanager did not become ready: {}",
        std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
    );
}

async fn push(am: SocketAddr, ends_at: Option<&str>) {
    let now = chrono::Utc::now();
    let starts =
        (now - chrono::Duration::seconds(5)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut alert = serde_json::json!({
        "labels": {"alertname": "HighLatency", "app": "flight-search", "severity": "page"},
        "annotations": {"summary": "p99 over SLO"},
        "startsAt": starts,
    });
    if let Some(e) = ends_at {
        alert["endsAt"] = Value::String(e.to_string());
    }
    let mut c = HttpClient::connect(am).await.unwrap();
    let (s, b) = c
        .post(
            "/api/v2/alerts",
            None,
            serde_json::to_vec(&[alert]).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        s.is_success(),
        "alertmanager refused the alert: {s} {}",
        String::from_utf8_lossy(&b)
    );
}

async fn wait_decisions(crest: SocketAddr, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let mut c = HttpClient::connect(crest).await.unwrap();
        let (_, b) = c.get("/v1/decisions?app=flight-search").await.unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        let ds = v["decisions"].as_array().cloned().unwrap_or_default();
        if ds.len() >= n {
            return ds;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("crest did not record {n} decision(s) within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhook_to_decision_and_back() {
    let Some(bin) = alertmanager_binary() else {
        crest_core::services::skip_or_fail(
            "e2e_alertmanager",
            "prometheus-alertmanager is not installed \
             (apt-get install prometheus-alertmanager; CI installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::from_toml(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndb_path = \"crest.db\"\ntoken = \"{TOKEN}\"\n\
             [[mapping.rules]]\nalertname = \"HighLatency\"\nstep = 4\n\
             [apps.flight-search]\nmin_replicas = 2\nmax_replicas = 40\n"
        ),
        "e2e.toml",
        dir.path(),
        |_| None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let crest = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crest_server::run(listener, config, async move {
        let _ = stopped.await;
    }));

    let (_am, am) = start_alertmanager(&bin, dir.path(), crest);
    wait_ready(am, dir.path()).await;

    push(am, None).await;
    let ds = wait_decisions(crest, 1).await;
    assert_eq!(ds[0]["status"], "firing");
    assert_eq!(ds[0]["source"], "alertmanager");
    assert_eq!(ds[0]["alertname"], "HighLatency");
    assert_eq!(ds[0]["delta"], 4);
    assert_eq!(ds[0]["desired_replicas"], 6);
    let fingerprint = ds[0]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(
        fingerprint.len(),
        16,
        "Alertmanager fingerprints are 16 hex digits"
    );

    // repeat_interval 1s: Alertmanager re-sends the firing group; crest must
    // count a duplicate and make no second decision.
    let mut dup_seen = false;
    for _ in 0..100 {
        let mut c = HttpClient::connect(crest).await.unwrap();
        let (_, m) = c.get("/metrics").await.unwrap();
        if String::from_utf8_lossy(&m)
            .contains("crest_alert_duplicates_total{source=\"alertmanager\"}")
        {
            dup_seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dup_seen,
        "Alertmanager did not re-send the firing alert within 10 s"
    );
    assert_eq!(
        wait_decisions(crest, 1).await.len(),
        1,
        "a re-sent alert made a second decision"
    );

    // Resolve: push the same alert with endsAt in the past.
    let ended = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    push(am, Some(&ended)).await;
    let ds = wait_decisions(crest, 2).await;
    assert_eq!(ds[1]["status"], "resolved");
    assert_eq!(ds[1]["fingerprint"], fingerprint.as_str());
    assert_eq!(ds[1]["delta"], -4);
    assert_eq!(ds[1]["desired_replicas"], 2);

    // Every delivery was authorized and exactly two decisions were made.
    let mut c = HttpClient::connect(crest).await.unwrap();
    let (_, m) = c.get("/metrics").await.unwrap();
    let m = String::from_utf8_lossy(&m);
    assert!(
        m.contains("crest_decisions_total{source=\"alertmanager\"} 2"),
        "{m}"
    );
    assert!(!m.contains("reason=\"unauthorized\""), "{m}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn prometheus_binary() -> Option<PathBuf> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A real Prometheus scrapes crest's `/metrics` (it negotiates OpenMetrics)
/// and can query the decision counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_crest_metrics() {
    let Some(bin) = prometheus_binary() else {
        crest_core::services::skip_or_fail(
            "prometheus_scrapes_crest_metrics",
            "prometheus is not installed (CI installs it)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::from_toml(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndb_path = \"crest.db\"\ntoken = \"{TOKEN}\"\n\
             [[mapping.rules]]\nalertname = \"HighLatency\"\nstep = 4\n\
             [apps.flight-search]\nmin_replicas = 2\nmax_replicas = 40\n"
        ),
        "e2e.toml",
        dir.path(),
        |_| None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let crest = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crest_server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    let mut c = HttpClient::connect(crest).await.unwrap();
    let (s, _) = c
        .post(
            "/v1/alerts/alertmanager",
            Some(TOKEN),
            include_str!("../server/tests/fixtures/alertmanager-v4-webhook.json"),
        )
        .await
        .unwrap();
    assert!(s.is_success());

    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: crest\n    static_configs:\n      - targets: ['{crest}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prom = Alertmanager(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let mut value = None;
    for _ in 0..300 {
        if let Ok(mut pc) = HttpClient::connect(prom).await
            && let Ok((s, b)) = pc
                .get("/api/v1/query?query=crest_decisions_total%7Bsource%3D%22alertmanager%22%7D")
                .await
            && s.is_success()
        {
            let v: Value = serde_json::from_slice(&b).unwrap();
            if let Some(x) = v["data"]["result"][0]["value"][1].as_str() {
                value = Some(x.to_string());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        value.as_deref(),
        Some("1"),
        "prometheus never scraped crest_decisions_total: {}",
        std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
