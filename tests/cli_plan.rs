//! `crest plan` and `crest run` as a user runs them: a forecast in, a plan
//! table / JSON / document out, the verification gate refusing a plan sized
//! for the median (exit 3, nothing written) unless `--force`, and `crest run
//! --dry-run` executing a plan document through the driver after re-verifying
//! it.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use crest_autoscaler::PlanDocument;
use crest_core::Timestamp;

mod common;
use common::{crest, stderr, stdout, write_forecast};

#[test]
fn plan_table_verify_and_document() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 12);
    let o = crest(
        &[
            "plan",
            "--forecast",
            "forecast.json",
            "--per-instance-qps",
            "20",
            "--verify",
            "--scenarios",
            "20",
            "--output",
            "plan.json",
            "--plot",
            "plan.png",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // p90 crest 920 rps at 80 % of 20 rps per instance = 58 instances.
    assert!(out.contains("peak instances        58"), "{out}");
    assert!(
        // 20 quantile draws and the two default stress cases.
        out.contains("(crest-sim/fluid engine, 22 scenarios)"),
        "{out}"
    );
    assert!(out.contains("-> PASS"), "{out}");
    // A bare forecast file carries no errors to learn the draws' roughness.
    assert!(
        out.contains("quantile draws: step correlation 0.950 (default"),
        "{out}"
    );
    let doc: PlanDocument = common::read_json(dir.path().join("plan.json"));
    assert!(doc.verification.unwrap().passed);
    assert!(!doc.forced);
    // Forecast values are step averages, read as linear between step
    // midpoints: the crest's full height is at the middle of step 12 (6 h 15 m).
    // The capacity for it must be asked for at least the 5 min lead time before.
    let crest_at = Timestamp::from_secs(1_417_046_400 + 6 * 3600 + 900 - 300);
    let first_big = doc
        .plan
        .steps()
        .iter()
        .find(|s| s.replicas.0 >= 58)
        .unwrap();
    assert!(first_big.at <= crest_at, "{} !< {crest_at}", first_big.at);
    let png = std::fs::read(dir.path().join("plan.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn json_output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 12);
    let args = [
        "plan",
        "--forecast",
        "forecast.json",
        "--per-instance-qps",
        "20",
        "--verify",
        "--engine",
        "fluid",
        "--format",
        "json",
        "--seed",
        "7",
    ];
    let a = crest(&args, dir.path());
    let b = crest(&args, dir.path());
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["peak"], 58);
    assert!(v["plan"]["steps"].as_array().unwrap().len() > 3);
    assert_eq!(v["verification"]["passed"], true);
}

#[test]
fn gate_refuses_a_median_plan_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 12);
    let base = [
        "plan",
        "--forecast",
        "forecast.json",
        "--per-instance-qps",
        "20",
        "--risk",
        "p50",
        "--utilisation",
        "1.0",
        "--verify",
        "--engine",
        "fluid",
        "--output",
        "median.json",
    ];
    let o = crest(&base, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("-> FAIL"));
    assert!(stderr(&o).contains("plan not written"));
    assert!(!dir.path().join("median.json").exists());

    let mut forced = base.to_vec();
    forced.push("--force");
    let o = crest(&forced, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: PlanDocument = common::read_json(dir.path().join("median.json"));
    assert!(doc.forced);

    // `crest run` re-verifies and refuses it too.
    let o = crest(
        &[
            "run",
            "--schedule",
            "median.json",
            "--dry-run",
            "--start-now",
            "--speed",
            "100000",
            "--reverify-before",
            "1m",
            "--engine",
            "fluid",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("not executed"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("dry-run: set"));
}

#[test]
fn run_dry_run_follows_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
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
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(
        dir.path().join("schedule.json"),
        r#"{"runs":[{"plan":"p.json"}]}"#,
    )
    .unwrap();
    let o = crest(
        &[
            "run",
            "--schedule",
            "schedule.json",
            "--dry-run",
            "--start-now",
            "--speed",
            "20000",
            "--reverify-before",
            "1m",
            "--engine",
            "fluid",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("-> PASS"), "{out}");
    assert!(out.contains("dry-run: set app replicas"), "{out}");
    assert!(out.contains("-> 58"), "{out}");
    assert!(out.contains("done"), "{out}");

    // Without --dry-run nothing is done.
    let o = crest(&["run", "--schedule", "schedule.json"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--dry-run"));
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
    let o = crest(&["plan", "--forecast", "forecast.json"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--per-instance-qps"), "{}", stderr(&o));
    let o = crest(
        &[
            "plan",
            "--forecast",
            "forecast.json",
            "--per-instance-qps",
            "20",
            "--rate",
            "lots",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("failed to read rate \"lots\""),
        "{}",
        stderr(&o)
    );
    std::fs::write(dir.path().join("broken.json"), "{").unwrap();
    let o = crest(
        &[
            "plan",
            "--forecast",
            "broken.json",
            "--per-instance-qps",
            "20",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("broken.json"), "{}", stderr(&o));
}

/// Issue 17: the day-ahead plan for New Year's Eve in NYC taxi passed a gate
/// that only drew from its own forecast's quantiles. The forecaster's own
/// day-ahead errors on the days before (it ran up to 1.5× short after
/// midnight over the holidays) now refuse it: two of the seven days breach
/// (one before the regression stopped fitting holiday-window days).
#[test]
fn plan_from_bundled_history_is_refused_on_the_forecasters_own_errors() {
    let dir = tempfile::tempdir().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "plan",
            "--history",
            "nyc_taxi",
            "--from",
            "2014-12-31",
            "--to",
            "2015-01-02",
            "--calendar",
            "us",
            "--per-step",
            "--requests-per-unit",
            "100",
            "--per-instance-qps",
            "50",
            "--verify",
            "--scenarios",
            "20",
            "--format",
            "json",
        ];
        a.extend_from_slice(extra);
        a
    };
    let o = crest(&args(&["--output", "nye.json"]), dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!dir.path().join("nye.json").exists());
    assert!(
        stderr(&o).contains("breaches: empirical 2/7"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let gate = &v["verification"];
    assert_eq!(gate["engine"], "crest-sim/fluid");
    assert_eq!(gate["passed"], false, "{v}");
    assert_eq!(gate["scenarios"], 29);
    let kinds: Vec<(String, u64, u64, bool)> = gate["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kind"].as_str().unwrap().to_string(),
                k["scenarios"].as_u64().unwrap(),
                k["breaches"].as_u64().unwrap(),
                k["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds[1],
        ("empirical".to_string(), 7, 2, false),
        "{kinds:?}"
    );
    assert_eq!(kinds[0].0, "quantile");
    assert!(kinds[0].3, "the quantile draws alone pass: {kinds:?}");
    assert_eq!(
        &kinds[2..],
        [
            ("surge x1.2".to_string(), 1, 0, true),
            ("lead p99".to_string(), 1, 0, true)
        ]
    );
    assert!((gate["breach_probability"].as_f64().unwrap() - 2.0 / 7.0).abs() < 1e-9);
    let source = v["empirical_source"].as_str().unwrap();
    assert!(
        source.contains("day-ahead errors on the 7 days before 2014-12-31")
            && source.contains("New Year's Day has no earlier year"),
        "{source}"
    );
    let peak = v["peak"].as_u64().unwrap();
    assert!((20..60).contains(&peak), "peak {peak}");
    // Scale-out for the evening starts on the 31st, before the window's crest.
    let starts = v["scale_out_starts"].as_i64().unwrap();
    assert!(starts < 1_420_070_400_000, "{starts}");

    // Forced out, the document keeps the draws' roughness learned from the
    // same seven days' errors (half-hourly taxi errors: smoother than the
    // 0.95 default), so a re-verification draws the same scenarios.
    let o = crest(&args(&["--force", "--output", "forced.json"]), dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("forced.json")).unwrap()).unwrap();
    let rho = doc["gate"]["rho"].as_f64().unwrap();
    assert!((0.955..0.999).contains(&rho), "rho {rho}");

    // The old gate (the forecast's quantiles only) passes the same plan,
    // its draws at the default roughness (no errors to learn it from).
    let o = crest(
        &args(&[
            "--empirical",
            "none",
            "--stress",
            "none",
            "--output",
            "old.json",
        ]),
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verification"]["passed"], true, "{v}");
    assert!(v["verification"].get("kinds").is_none());
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("old.json")).unwrap()).unwrap();
    assert_eq!(doc["gate"]["rho"], 0.95);
}

#[test]
fn stress_cases_refuse_a_plan_the_quantiles_pass() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 12);
    let base = [
        "plan",
        "--forecast",
        "forecast.json",
        "--per-instance-qps",
        "20",
        "--verify",
        "--engine",
        "fluid",
        "--scenarios",
        "20",
    ];
    let with = |stress: &'static str| {
        let mut a = base.to_vec();
        a.extend_from_slice(&["--stress", stress]);
        crest(&a, dir.path())
    };
    let o = with("surge=3");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("quantile") && out.contains("0/20"), "{out}");
    assert!(out.contains("surge x3") && out.contains("1/1"), "{out}");
    assert!(
        stderr(&o).contains("breaches: surge x3 1/1"),
        "{}",
        stderr(&o)
    );
    let o = with("lead=p99");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("lead p99"), "{}", stdout(&o));
    let o = with("surge=lots");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--stress"), "{}", stderr(&o));
    assert!(stderr(&o).contains("surge=lots"), "{}", stderr(&o));
}

/// A plan over a holiday carries the shapes its forecast's mean blends
/// (the models' workday and the holiday analog's day off, bike sharing's
/// Independence Day 2012) in its document, so that `crest run
/// --track-level` measures live demand against each as the rehearsal does;
/// the document reads back with them.
#[test]
fn a_holiday_plan_document_carries_its_forecasts_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let o = crest(
        &[
            "plan",
            "--history",
            "bike_sharing",
            "--calendar",
            "us",
            "--from",
            "2012-07-04",
            "--to",
            "2012-07-05",
            "--per-step",
            "--requests-per-unit",
            "100",
            "--per-instance-qps",
            "50",
            "--output",
            "plan.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: PlanDocument = common::read_json(dir.path().join("plan.json"));
    let f = &doc.forecast;
    assert_eq!(f.shapes.len(), 2, "{f:?}");
    assert!(f.shapes.iter().all(|s| s.len() == f.mean.len()));
    // 08:00: the models' commuter peak far above the analog's quiet morning.
    assert!(f.shapes[0][8] > 2.0 * f.shapes[1][8], "{:?}", f.shapes);
}
