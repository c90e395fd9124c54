//! End to end on real services, as root: a real Alertmanager posts firing
//! alerts to `crest serve` with the controller on, and crest scales the app
//! through containerd + CNI + HAProxy (scripts/bench-controller.sh, small:
//! +3 instances, 3 latency alerts). Checked from its JSON line:
//! - each alert's first container start was requested, and the burst's new
//!   instances all passed HAProxy's health checks;
//! - kill -9 of crest mid-scale-out, then a restarted crest (a new lease
//!   holder, after the lease expired) finished with exactly 1+N containers,
//!   addresses and balancer entries: nothing doubled;
//! - the resolve scaled in, but only after the cooldown, and only down to
//!   the floor of the plan in force (2), not to the base (1);
//! - nothing leaked after `crest scale web 0`.

#![allow(clippy::unwrap_used)] // a panic is the failure report

use std::path::Path;
use std::process::Command;

mod common;

use serde_json::Value;

#[test]
fn alertmanager_drives_the_fleet_through_the_controller_and_kill9_leaves_nothing() {
    let tools = [
        "containerd",
        "ctr",
        "runc",
        "haproxy",
        "socat",
        "ip",
        "sqlite3",
        "curl",
        "python3",
        "bc",
        "prometheus-alertmanager",
        "/usr/lib/cni/bridge",
        "/usr/lib/cni/host-local",
        "/bin/busybox",
    ];
    if let Some(t) = common::missing_tool(&tools) {
        crest_core::services::skip_or_fail(
            "e2e_controller",
            &format!("{t} is missing (CI installs it: scripts/install-deps.sh)"),
        );
        return;
    }
    if !common::is_root() {
        crest_core::services::skip_or_fail("e2e_controller", "containerd and CNI need root");
        return;
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let n = 3;
    let out = Command::new("bash")
        .arg(here.join("scripts/bench-controller.sh"))
        .arg(n.to_string())
        .env("CREST", env!("CARGO_BIN_EXE_crest"))
        .env("TRIALS", "3")
        .env("KILL9", "1")
        .env("COOLDOWN_S", "3")
        .env("SKIP_INSTALL", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench-controller.sh failed:\n{stdout}\n{stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}\n{stderr}"));
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    assert_eq!(v["instances"], n, "{v}");
    assert_eq!(v["kill9"], 1, "the kill -9 trial ran: {v}");
    assert_eq!(
        v["burst_containers"],
        1 + n,
        "exactly base + N containers after the restart: {v}"
    );
    let lat = v["alert_to_first_start_ms"].as_array().unwrap();
    assert_eq!(lat.len(), 3, "{v}");
    assert!(
        lat.iter().all(|l| l.as_i64().is_some_and(|l| l >= 0)),
        "{v}"
    );
    assert!(
        f("alert_to_all_healthy_s") > 0.0 && f("alert_to_all_healthy_s") < 60.0,
        "all new instances passed HAProxy's health checks: {v}"
    );
    assert!(
        f("scale_in_after_resolve_s") >= 3.0,
        "scale-in only after the 3 s cooldown: {v}"
    );
    assert_eq!(
        v["plan_floor_kept"], true,
        "the plan's floor held through the alert: {v}"
    );
    for k in ["leaked_containers", "leaked_ips", "leaked_lb_entries"] {
        assert_eq!(v[k], 0, "{k}: {v}\n{stderr}");
    }
}
