//! `crest serve` with the controller's sections (`[actuator]`, `[[app]]`) as
//! a user runs it: `--check` counts the controlled apps, a bad `[[app]]` is
//! named by line and field, `[[app]]` without `[actuator]` is refused unless
//! `--dry-run`, and `--dry-run` prints what an alert would make it do (the
//! fleet actuator's steps over printing backends) and exits 0 on SIGTERM.

#![allow(clippy::unwrap_used)] // a panic is the failure report

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crest_server::client::HttpClient;

const TOKEN: &str = "cli-serve-controller-token-0123";
const FIRING: &str = include_str!("../server/tests/fixtures/alertmanager-v4-webhook.json");

fn write_config(dir: &Path, app: &str) -> PathBuf {
    let path = dir.join("crest.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndb_path = \"state.db\"\ntoken = \"{TOKEN}\"\n\
             [[mapping.rules]]\nalertname = \"HighLatency\"\nstep = 4\n\
             [apps.flight-search]\nmin_replicas = 2\nmax_replicas = 40\n\n{app}"
        ),
    )
    .unwrap();
    path
}

const APP: &str = "[[app]]\nname = \"flight-search\"\nbase = 2\nmin_instances = 2\nmax_instances = 10\nmax_step = 10\nperiod_s = 1\n";

fn crest(args: &[&str], cfg: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap()
}

#[test]
fn check_counts_controlled_apps_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = crest(&["serve", "--check"], &write_config(dir.path(), APP));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 controlled app(s)"), "{stdout}");

    let bad = format!("{APP}[[app]]\nname = \"api\"\nmin_instances = 5\nmax_instances = 3\n");
    let out = crest(&["serve", "--check"], &write_config(dir.path(), &bad));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // 11 lines of server sections, then the first [[app]] (7 lines): the second names line 20.
    assert!(
        err.contains("crest.toml") && err.contains("line 20: app[1].max_instances"),
        "{err}"
    );
}

#[test]
fn apps_without_an_actuator_are_refused_unless_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = crest(&["serve"], &write_config(dir.path(), APP));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("need an [actuator] section"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
}

#[test]
fn dry_run_prints_what_an_alert_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), APP);
    let mut child = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(["serve", "--dry-run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("E {l}"));
        }
    });
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(format!("O {l}"));
        }
    });
    // stdout and stderr interleave in any order (the loop may decide before
    // the server prints its address): a needle already seen counts.
    let mut seen: Vec<String> = Vec::new();
    let mut wait_for = |needle: &str| -> String {
        if let Some(l) = seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            let l = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no {needle:?} in:\n{}", seen.join("\n")));
            seen.push(l.clone());
            if l.contains(needle) {
                return l;
            }
        }
    };
    let l = wait_for("listening on http://");
    let addr: std::net::SocketAddr = l
        .split("listening on http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    wait_for("would: set flight-search to 2 replicas (baseline 2)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = HttpClient::connect(addr).await.unwrap();
        let (st, _) = c
            .post(
                "/v1/alerts/alertmanager",
                Some(TOKEN),
                FIRING.as_bytes().to_vec(),
            )
            .await
            .unwrap();
        assert!(st.is_success());
    });
    // Woken by the alert: base 2 + step 4.
    wait_for("would: set flight-search to 6 replicas (alert alertmanager:c22a44858553d3e2)");
    wait_for("would:   containerd: start task flight-search-00006");
    let _ = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{}", seen.join("\n"));
    // Dry run: no controller state written.
    let out = Command::new("sqlite3")
        .arg(dir.path().join("state.db"))
        .arg("SELECT count(*) FROM controller_history")
        .output();
    if let Ok(o) = out
        && o.status.success()
    {
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "0");
    }
}
