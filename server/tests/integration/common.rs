//! Start a server on 127.0.0.1:0 with a fresh database; talk to it.

use std::net::SocketAddr;
use std::path::Path;

use crest_server::client::HttpClient;
use crest_server::{ServerConfig, ServerError};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const TOKEN: &str = "integration-test-token-0123";

pub const AM_FIRING: &str = include_str!("../fixtures/alertmanager-v4-webhook.json");
pub const AM_RESOLVED: &str = include_str!("../fixtures/alertmanager-payload-resolved.json");
pub const AM_FROM_PROM: &str =
    include_str!("../fixtures/alertmanager-payload-from-prometheus.json");
pub const GRAFANA: &str = include_str!("../fixtures/grafana-webhook.json");

pub fn config_text(extra: &str) -> String {
    config_text_with(extra, "")
}

/// `server` goes into the `[server]` table, `extra` at the end.
pub fn config_text_with(extra: &str, server: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
db_path = "state.db"
token = "{TOKEN}"
max_body_bytes = 65536
{server}

[[mapping.rules]]
alertname = "HighLatency"
step = 4

[[mapping.rules]]
severity = "page"
step = 2

[[mapping.rules]]
severity = "warning"
step = 1
on_resolve = "end"

[apps.flight-search]
min_replicas = 2
max_replicas = 40

[apps.booking-api]
min_replicas = 1
max_replicas = 20

[apps.search-api]
min_replicas = 3
max_replicas = 30
{extra}
"#
    )
}

pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub async fn start(dir: &Path) -> TestServer {
        Self::start_with(dir, "").await
    }

    pub async fn start_with(dir: &Path, extra: &str) -> TestServer {
        Self::start_text(dir, &config_text(extra)).await
    }

    /// With `server` added to the `[server]` table.
    pub async fn start_with_server(dir: &Path, server: &str) -> TestServer {
        Self::start_text(dir, &config_text_with("", server)).await
    }

    async fn start_text(dir: &Path, text: &str) -> TestServer {
        let config = ServerConfig::from_toml(text, "test.toml", dir, |_| None).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(crest_server::run(listener, config, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn client(&self) -> HttpClient {
        HttpClient::connect(self.addr).await.unwrap()
    }

    /// Graceful stop: waits until the writer has committed and stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

pub async fn post_am(c: &mut HttpClient, body: &str) -> (u16, serde_json::Value) {
    let (s, b) = c
        .post("/v1/alerts/alertmanager", Some(TOKEN), body.to_string())
        .await
        .unwrap();
    (s.as_u16(), json(&b))
}

pub async fn decisions(c: &mut HttpClient, query: &str) -> serde_json::Value {
    let (s, b) = c.get(&format!("/v1/decisions{query}")).await.unwrap();
    assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&b));
    json(&b)
}
