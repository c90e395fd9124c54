//! Issue 16, items 7–10: absurd numbers given to the CLI. Each command of the
//! hostile run (a panic, an allocation abort, a hang over 60 s, or a silently
//! wrong answer) must now exit 1 or 2 within seconds with an error naming
//! the number, and never panic. The bounds live in `crest_core::bounds`;
//! run sizes are priced by `WorkEstimate` and refused by `WorkLimits`.

#![allow(clippy::unwrap_used)] // a panic is the failure report

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{stderr, stdout, write_forecast};

/// Run crest in `dir`, killed after 30 s (a hang is a failure, not a stuck test).
fn crest(args: &[&str], dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    #[allow(clippy::disallowed_methods)] // a hang is measured on the wall clock
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("crest {args:?} still ran after 30 s (a hang)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Refused with exit `code`, the error naming `needle`, no panic.
#[track_caller]
fn refused(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{err}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
}

fn plan_doc(dir: &Path) -> serde_json::Value {
    write_forecast(dir, 4);
    let o = crest(
        &[
            "plan",
            "--forecast",
            "forecast.json",
            "--per-instance-qps",
            "20",
            "--output",
            "p.json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    common::read_json(dir.join("p.json"))
}

fn run_doc(dir: &Path, doc: &serde_json::Value, force: bool) -> Output {
    std::fs::write(dir.join("bad.json"), serde_json::to_string(doc).unwrap()).unwrap();
    std::fs::write(dir.join("s.toml"), "[[runs]]\nplan = \"bad.json\"\n").unwrap();
    let mut args = vec![
        "run",
        "--schedule",
        "s.toml",
        "--start-now",
        "--speed",
        "50000",
        "--engine",
        "fluid",
        "--dry-run",
    ];
    if force {
        args.push("--force");
    }
    crest(&args, dir)
}

const FLEET: &str = "[traffic]\nkind = \"poisson\"\nrate_per_s = 9.0\n[fleet]\nconcurrency = 1\n\
                     service = { dist = \"exp\", mean_s = 1.0 }\n";

fn sim(dir: &Path, toml: &str) -> Output {
    std::fs::write(dir.join("s.toml"), toml).unwrap();
    crest(&["sim", "--scenario", "s.toml"], dir)
}

// ---- 7. Panics ----

/// `crest plan --forecast forecast.json --per-instance-qps 50` and `extra`.
fn plan_50(extra: &[&str], dir: &Path) -> Output {
    let mut args = vec![
        "plan",
        "--forecast",
        "forecast.json",
        "--per-instance-qps",
        "50",
    ];
    args.extend_from_slice(extra);
    crest(&args, dir)
}

#[test]
fn item7_min_above_max_is_an_error_not_a_clamp_panic() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
    let o = plan_50(&["--min", "10", "--max", "5"], dir.path());
    refused(&o, 1, "min 10 is above max 5");
}

#[test]
fn item7_a_forecast_step_of_2_pow_61_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_forecast(dir.path(), 4);
    let mut f: serde_json::Value = common::read_json(&path);
    f["step_s"] = serde_json::json!(1_u64 << 61);
    std::fs::write(&path, f.to_string()).unwrap();
    let o = plan_50(&[], dir.path());
    refused(&o, 1, "invalid forecast step");
}

#[test]
fn item7_resample_to_2_pow_61_seconds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s1.csv"),
        "timestamp,value\n1,1\n2,2\n3,3\n",
    )
    .unwrap();
    let o = crest(
        &[
            "datasets",
            "show",
            "s1.csv",
            "--resample",
            "2305843009213693952",
        ],
        dir.path(),
    );
    refused(&o, 1, "invalid new step");
}

#[test]
fn item7_a_plan_document_with_a_2_pow_61_forecast_step_is_refused_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = plan_doc(dir.path());
    doc["forecast"]["step_s"] = serde_json::json!(1_u64 << 61);
    refused(
        &run_doc(dir.path(), &doc, false),
        1,
        "invalid forecast step",
    );
}

// ---- 8. Allocation crashes ----

#[test]
fn item8_a_billion_step_horizon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = crest(&["forecast", "--horizon", "1000000000"], dir.path());
    refused(&o, 1, "forecast horizon end");
}

#[test]
fn item8_a_horizon_within_the_calendar_but_too_big_names_the_estimate_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    // 10^7 half-hours reach the year 2585: inside the calendar, but about
    // 3 GB of features; a lower memory limit refuses it with the estimate.
    let o = crest(
        &[
            "forecast",
            "--horizon",
            "10000000",
            "--max-memory-mb",
            "100",
        ],
        dir.path(),
    );
    refused(&o, 1, "--max-memory-mb");
    assert!(stderr(&o).contains("MiB of memory"), "{}", stderr(&o));
}

#[test]
fn item8_scale_to_u32_max_replicas_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    refused(
        &crest(&["scale", "web", "4294967295", "--dry-run"], dir.path()),
        2,
        "at most 100000 replicas",
    );
    refused(
        &crest(
            &["scale", "web", "0", "--dry-run", "--from", "4294967295"],
            dir.path(),
        ),
        2,
        "at most 100000 replicas",
    );
}

#[test]
fn item8_plan_documents_with_a_billion_scenarios_or_u32_max_replicas_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let doc = plan_doc(dir.path());
    let mut d = doc.clone();
    d["gate"]["scenarios"] = serde_json::json!(1_000_000_000_u64);
    refused(&run_doc(dir.path(), &d, false), 1, "gate.scenarios");
    let mut d = doc;
    d["plan"]["steps"][0]["replicas"] = serde_json::json!(u32::MAX);
    refused(&run_doc(dir.path(), &d, false), 1, "plan step 0 replicas");
}

#[test]
fn item8_sim_rate_0_tiny_intervals_and_huge_fleets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rate0 = FLEET.replace("9.0", "0.0") + "instances = 10\n[run]\nrequests = 1000\n";
    refused(&sim(d, &rate0), 1, "it would never end");
    let od = FLEET.replace(
        "rate_per_s = 9.0",
        "rate_per_s = 9.0\noverdispersion_cv = 0.5\noverdispersion_interval_s = 1e-300",
    ) + "instances = 10\n[run]\nrequests = 1000\n";
    refused(&sim(d, &od), 1, "traffic.overdispersion_interval_s");
    let big = FLEET.replace("concurrency = 1", "concurrency = 65536")
        + "instances = 65536\n[run]\nrequests = 1000\n";
    let o = sim(d, &big);
    refused(&o, 1, "MiB of memory");
    assert!(stderr(&o).contains("--max-memory-mb"), "{}", stderr(&o));
}

// ---- 9. Hangs ----

#[test]
fn item9_backtest_origins_are_bounded_by_the_data_not_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("timestamp,value\n");
    for h in 0..(24 * 21) {
        csv.push_str(&format!(
            "{},{}\n",
            1_600_000_000 + h * 3600,
            100 + (h % 24) * 10
        ));
    }
    std::fs::write(dir.path().join("h.csv"), csv).unwrap();
    let o = crest(
        &[
            "forecast",
            "backtest",
            "--input",
            "h.csv",
            "--horizon",
            "24",
            "--origins",
            "1000000000000000000",
            "--model",
            "seasonal_naive",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn item9_sim_runs_too_long_to_finish_are_refused_with_the_estimate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let req = FLEET.to_string() + "instances = 10\n[run]\nrequests = 1000000000000000\n";
    let o = sim(d, &req);
    refused(&o, 1, "3.6e15 events");
    assert!(stderr(&o).contains("--max-events"), "{}", stderr(&o));
    let inst = FLEET.to_string() + "instances = 4294967295\n[run]\nrequests = 1000\n";
    refused(&sim(d, &inst), 1, "expected at most 100000 instances");
    let eval = FLEET.to_string()
        + "instances = 10\n[autoscaler]\npolicy = \"target-tracking\"\nmetric = \"utilisation\"\n\
           target = 0.6\nmin = 1\nmax = 20\nevaluate_every_s = 1e-300\n[run]\nrequests = 1000\n";
    refused(&sim(d, &eval), 1, "autoscaler.evaluate_every_s");
    let dur =
        FLEET.to_string() + "instances = 10\n[run]\nduration_s = 1e12\ntimeline_step_s = 60\n";
    refused(&sim(d, &dur), 1, "run.duration_s");
    // Inside every bound, but 10^8 timeline points: the work estimate refuses.
    let long = FLEET.to_string()
        + "instances = 10\n[run]\nduration_s = 3e9\ntimeline_step_s = 60\nmode = \"fluid\"\n";
    refused(&sim(d, &long), 1, "refusing this scenario");
}

#[test]
fn item9_a_forced_plan_with_steps_near_i64_max_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = plan_doc(dir.path());
    let steps = doc["plan"]["steps"].as_array_mut().unwrap();
    let n = steps.len() as i64;
    for (i, s) in steps.iter_mut().enumerate() {
        s["at"] = serde_json::json!(i64::MAX - (n - i as i64) * 1000);
    }
    let o = run_doc(dir.path(), &doc, true);
    refused(&o, 1, "years 0 to 9999");
    assert!(!stdout(&o).contains("set app"), "{}", stdout(&o));
}

// ---- 10. Silently wrong ----

#[test]
fn item10_values_of_1e308_are_refused_with_file_and_line_not_forecast_as_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("timestamp,value\n");
    for h in 0..(24 * 30) {
        csv.push_str(&format!("{},1e308\n", 1_600_000_000 + h * 3600));
    }
    std::fs::write(dir.path().join("big.csv"), csv).unwrap();
    let o = crest(
        &["forecast", "--input", "big.csv", "--horizon", "24"],
        dir.path(),
    );
    refused(&o, 1, "big.csv: line 2, column \"value\"");
    assert!(
        stderr(&o).contains("magnitude at most 1e15"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn item10_a_rate_of_one_per_1e300_seconds_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
    let o = plan_50(&["--rate", "1/1e300s"], dir.path());
    refused(&o, 1, "found 1e300");
    assert!(!stdout(&o).contains("instance-hours"), "{}", stdout(&o));
    let o = plan_50(&["--rate", "1/2d"], dir.path());
    refused(&o, 1, "a period of at most 86400 s");
}

#[test]
fn item10_a_ragged_csv_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ragged.csv"),
        "timestamp,value\n2020-01-01 00:00:00,1\n\"2020-01-01 01:00:00\",2\n2020-01-01 02:00:00,2,3\n",
    )
    .unwrap();
    let o = crest(&["datasets", "show", "ragged.csv"], dir.path());
    refused(
        &o,
        1,
        "ragged.csv: line 4 has 3 fields where the header has 2",
    );
}
