//! `crest sim` end to end: the issue's M/M/c file, JSON fields, validation
//! errors with lines, plots.

use std::process::Command;

fn crest() -> Command {
    Command::new(env!("CARGO_BIN_EXE_crest"))
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("the temp dir is writable");
    p
}

#[test]
fn mmc_example_matches_erlang_c_and_json_has_the_contract_fields() {
    let out = crest()
        .args(["sim", "--scenario", "examples/mmc.toml", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in [
        "requests_completed",
        "requests_dropped",
        "mean_wait_s",
        "mean_latency_s",
        "p50_latency_s",
        "p99_latency_s",
        "events_processed",
        "wall_s",
        "slo_violation_minutes",
        "instance_hours",
        "timeline",
    ] {
        assert!(v.get(f).is_some(), "missing {f}");
    }
    let w = v["mean_wait_s"].as_f64().unwrap();
    assert!((w - 0.6687).abs() / 0.6687 < 0.01, "mean_wait_s {w}");
    assert_eq!(v["requests_completed"], 10_000_000);
    assert_eq!(v["mode"], "exact");
    let p = &v["timeline"][0];
    for f in ["demand", "capacity", "instances", "p99_ms", "drops"] {
        assert!(p.get(f).is_some(), "timeline misses {f}");
    }
}

#[test]
fn invalid_scenarios_list_every_problem_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.toml",
        "[traffic]\nkind = \"poisson\"\nrate_per_s = -1\n\n[fleet]\ninstances = 2\nconcurrency = 0\n",
    );
    let out = crest()
        .args(["sim", "--scenario"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: `traffic.rate_per_s`"), "{err}");
    assert!(err.contains("line 7: `fleet.concurrency`"), "{err}");
    let p = write(
        dir.path(),
        "typo.toml",
        "[traffic]\nkind = \"poisson\"\nrate_per_s = 1\nburst = 3\n[fleet]\ninstance = 2\n",
    );
    let out = crest()
        .args(["sim", "--scenario"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 4: `traffic.burst`: unknown field"),
        "{err}"
    );
    assert!(
        err.contains("line 6: `fleet.instance`: unknown field"),
        "{err}"
    );
}

#[test]
fn replications_plots_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "small.toml",
        r#"
name = "small"
start = "2026-01-01T00:00:00Z"
[traffic]
kind = "series"
step_s = 300
values = [50, 80, 120, 80, 50, 40]
[fleet]
instances = 2
concurrency = 4
service = { dist = "lognormal", mean_s = 0.05, cv = 0.5 }
[provisioner]
platform = "container"
[autoscaler]
policy = "target-tracking"
target = 0.5
min = 1
max = 20
"#,
    );
    let plots = dir.path().join("plots");
    let out = crest()
        .args(["sim", "--replications", "3", "--seed", "4", "--plot"])
        .arg(&plots)
        .arg("--scenario")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("policy target-tracking"), "{table}");
    assert!(table.contains("(95 %, n=3)"), "{table}");
    for ext in ["png", "svg"] {
        let f = plots.join(format!("sim-small.{ext}"));
        assert!(
            std::fs::metadata(&f).unwrap().len() > 1000,
            "{}",
            f.display()
        );
    }
}

#[test]
fn history_traffic_replays_a_bundled_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "elb.toml",
        r#"
[traffic]
kind = "history"
file = "elb_requests"
from = "2014-04-15T00:00:00Z"
scale = 0.01
[fleet]
instances = 4
concurrency = 4
service = { dist = "exp", mean_s = 0.05 }
[run]
duration_s = 7200
"#,
    );
    let out = crest()
        .args(["sim", "--format", "json", "--scenario"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["requests_arrived"].as_u64().unwrap() > 0);
    assert_eq!(v["timeline"].as_array().unwrap().len(), 120);
    // The run starts at the first 5-minute step at or after `from`.
    let at = v["timeline"][0]["at_ms"].as_i64().unwrap();
    assert!((1_397_520_000_000..1_397_520_300_000).contains(&at), "{at}");
}
