//! `crest forecast --regressors FILE` and `crest forecast backtest
//! --regressors FILE`: known future regressors (daily weather for a load),
//! their errors (file, line, column; the first missing future time), and the
//! bundled Area1 weather by name.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{crest, ok_stdout as stdout};

fn failure(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure");
    assert!(o.stdout.is_empty(), "nothing on stdout on error");
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Six weeks of hourly load driven by a daily temperature (cooling above
/// 22 °C), plus the weather file: `days_known` days of temperature from the
/// first day. Returns (history, weather, the hidden next day's load).
fn write_driven(dir: &Path, days_known: usize) -> (PathBuf, PathBuf, Vec<f64>) {
    let days = 42;
    let mut x: u64 = 11;
    let temps: Vec<f64> = (0..=days)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            10.0 + 25.0 * ((x >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect();
    let load = |d: usize, h: usize| {
        (200.0 + 15.0 * (temps[d] - 22.0).max(0.0))
            * (1.0 + 0.3 * (std::f64::consts::TAU * h as f64 / 24.0).sin())
    };
    let date = |d: usize| {
        chrono::NaiveDate::from_ymd_opt(2024, 6, 1).unwrap() + chrono::TimeDelta::days(d as i64)
    };
    let mut hist = String::from("timestamp,value\n");
    for d in 0..days {
        for h in 0..24 {
            hist.push_str(&format!("{} {h:02}:00:00,{}\n", date(d), load(d, h)));
        }
    }
    let mut w = String::from("date,temperature,promo\n");
    for (d, t) in temps.iter().enumerate().take(days_known) {
        w.push_str(&format!("{},{t:.2},{}\n", date(d), d % 7 == 3));
    }
    let w = w.replace("true", "1").replace("false", "0");
    let (hp, wp) = (dir.join("load.csv"), dir.join("weather.csv"));
    std::fs::write(&hp, hist).unwrap();
    std::fs::write(&wp, w).unwrap();
    (hp, wp, (0..24).map(|h| load(days, h)).collect())
}

fn means(csv: &str) -> Vec<f64> {
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

fn wape(f: &[f64], y: &[f64]) -> f64 {
    f.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.iter().sum::<f64>()
}

#[test]
fn forecast_with_regressors_prints_csv_and_json_and_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let (hist, weather, actual) = write_driven(dir.path(), 43);
    let (h, w) = (hist.to_str().unwrap(), weather.to_str().unwrap());
    // The calendar regression, the model that takes regressors.
    let base = [
        "forecast",
        "--input",
        h,
        "--horizon",
        "24",
        "--model",
        "regression",
    ];
    let with: Vec<&str> = base.iter().copied().chain(["--regressors", w]).collect();
    let out = stdout(&crest(&with, dir.path()));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,mean,p10,p50,p90");
    assert_eq!(lines.len(), 25);
    assert!(lines[1].starts_with("2024-07-13 00:00:00,"), "{}", lines[1]);
    let without = stdout(&crest(&base, dir.path()));
    let (e1, e0) = (wape(&means(&out), &actual), wape(&means(&without), &actual));
    eprintln!("next-day WAPE with the weather {e1:.4}, without {e0:.4}");
    assert!(e1 < 0.5 * e0, "the regressor is not used: {e1} vs {e0}");
    // Same input, same bytes.
    assert_eq!(out, stdout(&crest(&with, dir.path())));
    let json: Vec<&str> = with.iter().copied().chain(["--format", "json"]).collect();
    let v: serde_json::Value = serde_json::from_str(&stdout(&crest(&json, dir.path()))).unwrap();
    assert_eq!(v["mean"].as_array().unwrap().len(), 24);
    assert!(v["calibration_wape"]["regression"].is_number());
}

#[test]
fn missing_future_values_name_the_first_missing_time() {
    let dir = tempfile::tempdir().unwrap();
    // The file stops with the history: the forecast's day is unknown.
    let (hist, weather, _) = write_driven(dir.path(), 42);
    let o = crest(
        &[
            "forecast",
            "--input",
            hist.to_str().unwrap(),
            "--horizon",
            "24",
            "--regressors",
            weather.to_str().unwrap(),
        ],
        dir.path(),
    );
    let e = failure(&o);
    assert!(
        e.contains("weather.csv")
            && e.contains("2024-07-13 00:00:00")
            && e.contains("\"temperature\""),
        "{e}"
    );
}

#[test]
fn bad_regressor_files_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (hist, weather, _) = write_driven(dir.path(), 43);
    let h = hist.to_str().unwrap();
    let text = std::fs::read_to_string(&weather).unwrap();
    let cases = [
        // Line 6 (the header is line 1): a word where a number belongs.
        (
            text.lines()
                .map(|l| {
                    if l.starts_with("2024-06-05,") {
                        "2024-06-05,hot,0".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
            vec!["bad.csv", "line 6", "\"temperature\"", "a number"],
        ),
        (
            text.replace("2024-06-03,", "June third,"),
            vec!["bad.csv", "line 4", "\"date\""],
        ),
        (
            String::from("date\n2024-06-01\n"),
            vec!["bad.csv", "line 1", "numeric column"],
        ),
    ];
    for (body, want) in cases {
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, body).unwrap();
        let e = failure(&crest(
            &[
                "forecast",
                "--input",
                h,
                "--horizon",
                "24",
                "--regressors",
                p.to_str().unwrap(),
            ],
            dir.path(),
        ));
        for w in want {
            assert!(e.contains(w), "{w:?} not in: {e}");
        }
    }
    let e = failure(&crest(
        &[
            "forecast",
            "--input",
            h,
            "--horizon",
            "24",
            "--regressors",
            "no_such",
        ],
        dir.path(),
    ));
    assert!(
        e.contains("no_such") && e.contains("china_load_area1_weather"),
        "{e}"
    );
}

#[test]
fn backtest_with_regressors_says_it_is_an_oracle_and_beats_itself_without() {
    let dir = tempfile::tempdir().unwrap();
    let (hist, weather, _) = write_driven(dir.path(), 43);
    let (h, w) = (hist.to_str().unwrap(), weather.to_str().unwrap());
    let base = [
        "forecast",
        "backtest",
        "--input",
        h,
        "--horizon",
        "24",
        "--origins",
        "5",
        "--at-midnight",
        "--format",
        "json",
    ];
    let with: Vec<&str> = base.iter().copied().chain(["--regressors", w]).collect();
    let o = crest(&with, dir.path());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let note = String::from_utf8(o.stderr.clone()).unwrap();
    assert!(
        note.contains("actual values") && note.contains("oracle"),
        "{note}"
    );
    let v0: serde_json::Value = serde_json::from_str(&stdout(&crest(&base, dir.path()))).unwrap();
    let wape = |v: &serde_json::Value, m: &str| v["overall"][m]["wape"].as_f64().unwrap();
    eprintln!(
        "regression {:.4} (without {:.4}), daily naive {:.4}",
        wape(&v, "regression"),
        wape(&v0, "regression"),
        wape(&v, "daily_naive")
    );
    assert!(wape(&v, "regression") < 0.5 * wape(&v0, "regression"));
    assert_eq!(wape(&v, "daily_naive"), wape(&v0, "daily_naive"));
    let help = stdout(&crest(&["forecast", "backtest", "--help"], dir.path()));
    assert!(help.contains("ACTUAL future"), "{help}");
}
