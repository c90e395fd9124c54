//! `crest forecast` as other tools use it: the CSV/JSON contract, many series,
//! determinism, plots, backtest and watch.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::path::Path;

mod common;
use common::{crest, ok_stdout as stdout};

/// Three weeks of hourly data, one or two series.
fn write_input(dir: &Path, long: bool) -> std::path::PathBuf {
    let mut text = String::from(if long {
        "series_id,timestamp,value\n"
    } else {
        "timestamp,value\n"
    });
    let ids: &[&str] = if long { &["web", "api"] } else { &[""] };
    let mut x: u64 = 42;
    for (k, id) in ids.iter().enumerate() {
        for i in 0..24 * 21 {
            let day = i / 24 + 1;
            let hour = i % 24;
            let v = 100.0
                * (k + 1) as f64
                * (1.5 + ((hour as f64) / 24.0 * std::f64::consts::TAU).sin())
                + {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    ((x >> 40) % 20) as f64
                };
            if long {
                text.push_str(&format!("{id},2024-03-{day:02}T{hour:02}:00:00,{v}\n"));
            } else {
                text.push_str(&format!("2024-03-{day:02}T{hour:02}:00:00,{v}\n"));
            }
        }
    }
    let p = dir.join(if long { "many.csv" } else { "one.csv" });
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_contract_single_series() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), false);
    let out = stdout(&crest(
        &[
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "24",
        ],
        dir.path(),
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,mean,p10,p50,p90");
    assert_eq!(lines.len(), 25);
    // Timestamps written as the input wrote them, continuing the series.
    assert!(lines[1].starts_with("2024-03-22T00:00:00,"), "{}", lines[1]);
    assert!(lines[24].starts_with("2024-03-22T23:00:00,"));
    for l in &lines[1..] {
        let v: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
        assert!(v[1] <= v[2] && v[2] <= v[3], "{l}");
    }
}

#[test]
fn many_series_custom_quantiles_output_file_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), true);
    let args = |out: &str| {
        vec![
            "forecast".to_string(),
            "--input".into(),
            input.to_str().unwrap().into(),
            "--horizon".into(),
            "12".into(),
            "--quantiles".into(),
            "0.05,0.5,0.975".into(),
            "--output".into(),
            out.into(),
        ]
    };
    for out in ["a.csv", "b.csv"] {
        let a: Vec<String> = args(out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        stdout(&crest(&a, dir.path()));
    }
    let a = std::fs::read(dir.path().join("a.csv")).unwrap();
    let b = std::fs::read(dir.path().join("b.csv")).unwrap();
    assert_eq!(a, b, "same input, same bytes");
    let text = String::from_utf8(a).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "series_id,timestamp,mean,p5,p50,p97.5");
    assert_eq!(lines.len(), 1 + 2 * 12);
    // Input order: web first, then api.
    assert!(lines[1].starts_with("web,") && lines[13].starts_with("api,"));
}

#[test]
fn json_is_crest_forecast_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), false);
    let out = stdout(&crest(
        &[
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "6",
            "--format",
            "json",
        ],
        dir.path(),
    ));
    let f: crest_core::Forecast = serde_json::from_str(&out).unwrap();
    assert_eq!(f.horizon(), 6);
    assert!(f.quantile(0.9).is_some());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["model"].is_string());
}

#[test]
fn plots_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), false);
    for name in ["f.png", "f.svg"] {
        stdout(&crest(
            &[
                "forecast",
                "--input",
                input.to_str().unwrap(),
                "--horizon",
                "24",
                "--plot",
                name,
            ],
            dir.path(),
        ));
        let meta = std::fs::metadata(dir.path().join(name)).unwrap();
        assert!(meta.len() > 1000, "{name} is {} bytes", meta.len());
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = crest(
        &["forecast", "--input", "nope.csv", "--horizon", "5"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.csv"));
    let input = write_input(dir.path(), false);
    let o = crest(
        &[
            "forecast",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "5",
            "--quantiles",
            "1.5",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("quantile"));
    let o = crest(
        &["forecast", "--input", input.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "missing --horizon is a usage error"
    );
}

#[test]
fn backtest_reports_every_metric_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), true);
    let out = stdout(&crest(
        &[
            "forecast",
            "backtest",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "12",
            "--origins",
            "3",
            "--format",
            "json",
        ],
        dir.path(),
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for model in [
        "auto",
        "regression",
        "seasonal_naive",
        "mstl_ets",
        "ensemble",
    ] {
        let m = &v["overall"][model];
        for k in [
            "mape",
            "wape",
            "smape",
            "mase",
            "pinball",
            "coverage",
            "interval_coverage",
        ] {
            assert!(!m[k].is_null(), "{model}.{k} missing: {m}");
        }
    }
    assert!(v["per_series"]["web"]["auto"]["wape"].is_number());
    let table = stdout(&crest(
        &[
            "forecast",
            "backtest",
            "--input",
            input.to_str().unwrap(),
            "--horizon",
            "12",
            "--origins",
            "2",
        ],
        dir.path(),
    ));
    assert!(
        table.contains("WAPE") && table.contains("regression"),
        "{table}"
    );
}

#[test]
fn bundled_nyc_taxi_default_and_watch_scores_windows() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&crest(
        &["forecast", "--horizon", "48", "--calendar", "us"],
        dir.path(),
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,mean,p10,p50,p90");
    assert_eq!(lines[1].split(',').next().unwrap(), "2015-02-01 00:00:00");
    let w = stdout(&crest(
        &[
            "forecast",
            "watch",
            "--calendar",
            "us",
            "--days",
            "60",
            "--format",
            "json",
        ],
        dir.path(),
    ));
    let v: serde_json::Value = serde_json::from_str(&w).unwrap();
    let score = &v[0]["score"];
    assert!(
        score["precision"].is_number() && score["recall"].is_number(),
        "{score}"
    );
}

/// `forecast backtest --around-holidays` on the bundled Area1 load: one row
/// per Spring Festival with crest beside daily and weekly naive, JSON with
/// the same figures, and clear errors for a bad window or holiday name.
#[test]
fn backtest_around_holidays_reports_crest_beside_naive() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = crest(args, dir.path());
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let args = [
        "forecast",
        "backtest",
        "--input",
        "china_load_area1",
        "--calendar",
        "cn",
        "--horizon",
        "96",
        "--around-holidays",
        "--holidays",
        "Spring Festival",
        "--years",
        "2013..2014",
        "--window=-2..1",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("daily naive") && out.contains("weekly naive"),
        "{out}"
    );
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Spring Festival") && (l.contains("2013") || l.contains("2014")))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    for r in rows {
        assert!(r.contains("     4 "), "four origins per year: {r}");
        assert!(
            r.trim_end().ends_with("yes"),
            "crest beats daily naive: {r}"
        );
    }
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let (code, out, err) = run(&json_args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v[""]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        let c = r["crest"]["wape"].as_f64().unwrap();
        let d = r["daily_naive"]["wape"].as_f64().unwrap();
        assert!(c < d, "{r}");
        assert!(r["weekly_naive"]["mase"].as_f64().unwrap() > 0.0);
    }
    let (code, _, err) = run(&[&args[..9], &["--window=5..-3"]].concat());
    assert_eq!(code, 1);
    assert!(err.contains("--window") && err.contains("ends"), "{err}");
    let (code, _, err) = run(&[&args[..9], &["--holidays", "Spring Festivl"]].concat());
    assert_eq!(code, 1);
    assert!(
        err.contains("Spring Festivl") && err.contains("Spring Festival"),
        "{err}"
    );
}
