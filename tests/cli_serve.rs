//! `crest serve` as a user runs it: `--check`, config errors with field and
//! line, serving on 127.0.0.1, surviving SIGKILL after a 2xx, SIGTERM exit 0.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crest_server::client::HttpClient;

const TOKEN: &str = "cli-serve-test-token-0123";
const FIRING: &str = include_str!("../server/tests/fixtures/alertmanager-v4-webhook.json");

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("crest.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
db_path = "state.db"
token_env = "CREST_TEST_TOKEN"

[[mapping.rules]]
alertname = "HighLatency"
step = 4
{extra}
[apps.flight-search]
min_replicas = 2
max_replicas = 40
"#
        ),
    )
    .unwrap();
    path
}

fn crest() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crest"));
    c.env("CREST_TEST_TOKEN", TOKEN);
    c
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &Path) -> (Server, SocketAddr) {
    let mut child = crest()
        .args(["serve", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("crest serve did not say where it listens");
    (Server(child), addr.parse().unwrap())
}

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let out = crest()
        .args(["serve", "--check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": ok (listen 127.0.0.1:0"), "{stdout}");
}

/// The database is opened and migrated before the port is bound: a bad
/// database is an exit 1 naming the file, never "listening on" first.
#[test]
fn an_unopenable_database_exits_1_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    // `state.db` is a directory: SQLite cannot open it.
    std::fs::create_dir(dir.path().join("state.db")).unwrap();
    let out = crest()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(
        err.contains("failed to open the state database") && err.contains("state.db"),
        "{err}"
    );
}

#[test]
fn invalid_config_names_field_and_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[defaults]\nmin_replicas = 5\nmax_replicas = 2\n",
    );
    let out = crest()
        .args(["serve", "--check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 11: defaults.max_replicas"), "{err}");

    std::fs::write(&cfg, "[server]\nlisten = \"127.0.0.1:0\"\ndb_path = \"x\"\ntoken = \"0123456789abcdef0\"\nport = 9\n").unwrap();
    let out = crest()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 5") && err.contains("port"), "{err}");

    let out = crest()
        .env_remove("CREST_TEST_TOKEN")
        .args(["serve", "--check", "--config"])
        .arg(write_config(dir.path(), ""))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CREST_TEST_TOKEN"));
}

#[test]
fn serves_survives_sigkill_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let (mut server, addr) = start(&cfg);
    rt.block_on(async {
        let mut c = HttpClient::connect(addr).await.unwrap();
        let (s, _) = c
            .post("/v1/alerts/alertmanager", None, FIRING)
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 401);
        let (s, b) = c
            .post("/v1/alerts/alertmanager", Some(TOKEN), FIRING)
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&b));
    });
    // Killed right after the 2xx: the decision must be on disk.
    server.0.kill().unwrap();
    server.0.wait().unwrap();

    let (mut server, addr) = start(&cfg);
    rt.block_on(async {
        let mut c = HttpClient::connect(addr).await.unwrap();
        let (s, b) = c.get("/v1/decisions").await.unwrap();
        assert_eq!(s.as_u16(), 200);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        let ds = v["decisions"].as_array().unwrap();
        assert_eq!(ds.len(), 1, "{v}");
        assert_eq!(ds[0]["app"], "flight-search");
        assert_eq!(ds[0]["desired_replicas"], 6);
    });
    let pid = server.0.id().to_string();
    let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(st.success());
    let status = server.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM should stop crest serve cleanly"
    );
}

/// Issue 16, item 4: a second `crest serve` on the same database exits 1
/// before listening, naming the first (pid, host); the first keeps serving.
#[test]
fn a_second_server_on_the_same_database_exits_1_naming_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let (first, addr) = start(&cfg);
    let out = crest()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another crest serve holds it"), "{err}");
    assert!(err.contains(&format!("pid {}", first.0.id())), "{err}");
    assert!(!err.contains("listening"), "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = HttpClient::connect(addr).await.unwrap();
        let (s, b) = c
            .post("/v1/alerts/alertmanager", Some(TOKEN), FIRING)
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&b));
    });
}
