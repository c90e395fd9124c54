//! `crest forecast|plan|rehearse --prometheus`: history pulled from a real
//! Prometheus (started here on 127.0.0.1, its TSDB backfilled with promtool)
//! gives the very forecast the same data gives from a CSV, byte for byte;
//! a re-run reads the Parquet cache (Prometheus stopped), `--refresh`
//! pulls again; bad option combinations are named.

#![allow(clippy::unwrap_used)] // a panic is the failure report

mod common;

use std::path::Path;

use common::{crest, stderr, stdout};
use crest_prometheus::local::{LocalPrometheus, backfill, prometheus_binary, promtool_binary};

/// 15 days at 5 min from 2024-03-01 (4,320 points: one chunk is 11,000, so
/// the 1 m step below takes two), a daily and a weekly shape, and a 1 h gap.
fn history() -> Vec<(i64, f64)> {
    let t0 = 1_709_251_200; // 2024-03-01T00:00:00Z
    (0..4_320)
        .filter(|i| !(2_000..2_012).contains(i))
        .map(|i| {
            let t = t0 + i * 300;
            let day = (i as f64 / 288.0) * std::f64::consts::TAU;
            let v = 1000.0
                + 400.0 * day.sin()
                + 37.0 * ((i % 2016) as f64 / 2016.0)
                + (i % 7) as f64 * 0.125;
            (t, (v * 1000.0).round() / 1000.0)
        })
        .collect()
}

fn rfc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `--prometheus URL --query sum(demand) --from F --to T --step 5m --cache-dir cache`.
fn pull_args(url: &str, from: &str, to: &str) -> Vec<String> {
    [
        "--prometheus",
        url,
        "--query",
        "sum(demand)",
        "--from",
        from,
        "--to",
        to,
        "--step",
        "5m",
        "--cache-dir",
        "cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Run crest with `head`, then `pull`, then `tail` as arguments.
fn crest_with(dir: &Path, head: &[&str], pull: &[String], tail: &[&str]) -> std::process::Output {
    let mut a: Vec<&str> = head.to_vec();
    a.extend(pull.iter().map(String::as_str));
    a.extend_from_slice(tail);
    crest(&a, dir)
}

fn start(dir: &Path, test: &str) -> Option<LocalPrometheus> {
    let (Some(bin), Some(tool)) = (prometheus_binary(), promtool_binary()) else {
        crest_core::services::skip_or_fail(
            test,
            "prometheus/promtool are not installed (CI installs them)",
        );
        return None;
    };
    backfill(
        &tool,
        dir,
        &dir.join("tsdb"),
        "demand",
        &[(String::new(), history())],
    )
    .unwrap();
    // A 1 m lookback: the 1 h gap stays a gap (the default 5 m would carry
    // the last sample into the gap's first steps).
    Some(
        LocalPrometheus::start(
            &bin,
            dir,
            "global:\n  scrape_interval: 1m\n",
            &[
                "--storage.tsdb.retention.time=100y",
                "--query.lookback-delta=1m",
            ],
        )
        .unwrap(),
    )
}

#[test]
fn prometheus_history_gives_the_csv_forecast_and_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut prom) = start(
        dir.path(),
        "prometheus_history_gives_the_csv_forecast_and_is_cached",
    ) else {
        return;
    };
    let h = history();
    let mut csv = String::from("timestamp,value\n");
    for (t, v) in &h {
        csv.push_str(&format!("{},{v}\n", rfc(*t)));
    }
    std::fs::write(dir.path().join("h.csv"), csv).unwrap();
    let (from, to) = (rfc(h[0].0), rfc(h[h.len() - 1].0));
    let url = prom.url();
    let pull = pull_args(&url, &from, &to);
    let run = |extra: &[&str]| {
        let mut tail = vec!["--horizon", "288", "--model", "mstl_ets"];
        tail.extend_from_slice(extra);
        crest_with(dir.path(), &["forecast"], &pull, &tail)
    };
    let from_csv = crest(
        &[
            "forecast",
            "--input",
            "h.csv",
            "--horizon",
            "288",
            "--model",
            "mstl_ets",
        ],
        dir.path(),
    );
    assert!(from_csv.status.success(), "{}", stderr(&from_csv));
    let pulled = run(&[]);
    assert!(
        pulled.status.success(),
        "{}\n{}",
        stderr(&pulled),
        prom.log_tail()
    );
    assert_eq!(
        stdout(&pulled),
        stdout(&from_csv),
        "the pulled history forecast differs from the CSV's"
    );
    assert!(stdout(&pulled).starts_with("timestamp,mean,p10,p50,p90\n"));

    // The same through `forecast backtest` (same scores to the last digit).
    let bt = |input: &[&str]| {
        let mut a = vec!["forecast", "backtest"];
        a.extend_from_slice(input);
        a.extend_from_slice(&[
            "--horizon",
            "288",
            "--origins",
            "2",
            "--model",
            "seasonal_naive",
            "--format",
            "json",
        ]);
        crest(&a, dir.path())
    };
    let b_csv = bt(&["--input", "h.csv"]);
    let pull_refs: Vec<&str> = pull.iter().map(String::as_str).collect();
    let b_prom = bt(&pull_refs);
    assert!(b_prom.status.success(), "{}", stderr(&b_prom));
    assert_eq!(stdout(&b_prom), stdout(&b_csv));

    // Prometheus gone: the re-run reads the cache and says the same.
    prom.kill();
    let cached = run(&[]);
    assert!(cached.status.success(), "{}", stderr(&cached));
    assert_eq!(stdout(&cached), stdout(&from_csv));
    let cache_files: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .collect();
    assert!(
        cache_files.len() >= 2,
        "expected a .parquet and a .json in the cache"
    );
    // --refresh must pull: it fails, naming Prometheus.
    let refreshed = run(&["--refresh"]);
    assert!(!refreshed.status.success());
    let e = stderr(&refreshed);
    assert!(e.contains("Prometheus") && e.contains(&url), "{e}");
}

#[test]
fn plan_takes_prometheus_history_and_bad_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prom) = start(
        dir.path(),
        "plan_takes_prometheus_history_and_bad_options_are_named",
    ) else {
        return;
    };
    let h = history();
    let (from, to) = (rfc(h[0].0), rfc(h[h.len() - 1].0));
    let url = prom.url();
    let o = crest_with(
        dir.path(),
        &["plan"],
        &pull_args(&url, &from, &to),
        &[
            "--plan-for",
            "1d",
            "--per-instance-qps",
            "100",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let text = v.to_string();
    // The plan starts one step after the history's last sample.
    assert!(
        text.contains(&(h[h.len() - 1].0 + 300).to_string()) || text.contains("2024-03-16"),
        "{text}"
    );

    // Two label sets are two series; plan takes one and says so.
    let two = crest(
        &[
            "plan",
            "--prometheus",
            &url,
            "--query",
            "demand or label_replace(demand, \"copy\", \"1\", \"\", \"\")",
            "--from",
            &from,
            "--to",
            &to,
            "--step",
            "5m",
            "--per-instance-qps",
            "100",
            "--cache-dir",
            "cache",
        ],
        dir.path(),
    );
    assert!(!two.status.success());
    assert!(
        stderr(&two).contains("takes one series"),
        "{}",
        stderr(&two)
    );

    // Usage errors name the option.
    for (args, want) in [
        (
            vec![
                "forecast",
                "--prometheus",
                &url,
                "--query",
                "up",
                "--horizon",
                "3",
                "--range",
                "1h",
            ],
            "--step",
        ),
        (
            vec![
                "forecast",
                "--prometheus",
                &url,
                "--query",
                "up",
                "--step",
                "1m",
                "--horizon",
                "3",
            ],
            "--range",
        ),
        (
            vec!["forecast", "--step", "5m", "--horizon", "3"],
            "--prometheus",
        ),
        (
            vec!["forecast", "backtest", "--step", "5", "--horizon", "3"],
            "--origin-step",
        ),
        (
            vec![
                "forecast",
                "--prometheus",
                "127.0.0.1:9",
                "--query",
                "up",
                "--step",
                "1m",
                "--range",
                "1h",
                "--horizon",
                "3",
            ],
            "http://",
        ),
        (
            vec![
                "forecast",
                "--prometheus",
                &url,
                "--query",
                "up{",
                "--step",
                "1m",
                "--range",
                "1h",
                "--horizon",
                "3",
                "--cache-dir",
                "c",
            ],
            "bad_data",
        ),
    ] {
        let o = crest(&args, dir.path());
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(
            stderr(&o).contains(want),
            "{args:?}: expected {want:?} in {}",
            stderr(&o)
        );
    }
}

/// `crest rehearse` on NYC taxi pulled from Prometheus reports what it
/// reports on the bundled file (only the history's name differs).
#[test]
fn rehearse_on_pulled_history_matches_the_bundled_file() {
    let (Some(bin), Some(tool)) = (prometheus_binary(), promtool_binary()) else {
        crest_core::services::skip_or_fail(
            "rehearse_on_pulled_history_matches_the_bundled_file",
            "prometheus/promtool are not installed (CI installs them)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let taxi = crest_datasets::bundled("nyc_taxi").unwrap();
    let s = &taxi.series[0];
    let pts: Vec<(i64, f64)> = s
        .iter()
        .filter(|p| p.1.is_finite())
        .map(|(t, v)| (t.secs(), v))
        .collect();
    backfill(
        &tool,
        dir.path(),
        &dir.path().join("tsdb"),
        "taxi",
        &[(String::new(), pts.clone())],
    )
    .unwrap();
    let prom = LocalPrometheus::start(
        &bin,
        dir.path(),
        "global:\n  scrape_interval: 1m\n",
        &[
            "--storage.tsdb.retention.time=100y",
            "--query.lookback-delta=1m",
        ],
    )
    .unwrap();
    let common = [
        "--calendar",
        "us",
        "--crests",
        "new-year-s-day-2015",
        "--seed",
        "7",
        "--format",
        "json",
    ];
    let file = crest_with(
        dir.path(),
        &["rehearse", "--history", "nyc_taxi"],
        &[],
        &common,
    );
    assert!(file.status.success(), "{}", stderr(&file));
    let (from, to) = (rfc(pts[0].0), rfc(pts[pts.len() - 1].0));
    let pull: Vec<String> = [
        "--prometheus",
        &prom.url(),
        "--query",
        "sum(taxi)",
        "--from",
        &from,
        "--to",
        &to,
        "--step",
        "30m",
        "--cache-dir",
        "cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let pulled = crest_with(dir.path(), &["rehearse"], &pull, &common);
    assert!(pulled.status.success(), "{}", stderr(&pulled));
    let a: serde_json::Value = serde_json::from_str(&stdout(&file)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&stdout(&pulled)).unwrap();
    assert_eq!(a["crests"], b["crests"]);
    assert_eq!(a["total"], b["total"]);
    assert_eq!(b["settings"]["history"], "prometheus sum(taxi)");
}
