//! `crest datasets` end to end: the built binary on bundled data and on user files.

use std::process::Command;

fn crest(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .output()
        .expect("run the crest binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn show_nyc_taxi_prints_the_known_summary() {
    let (code, out, err) = crest(&["datasets", "show", "nyc_taxi"]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("value"))
        .expect("a series row");
    for want in [
        "30 min",
        "2014-07-01 00:00:00",
        "2015-01-31 23:30:00",
        "10,320",
        "39197",
    ] {
        assert!(row.contains(want), "{want} missing in {row}");
    }
    assert!(out.contains("no gaps"), "{out}");
}

#[test]
fn show_json_is_machine_readable() {
    let (code, out, err) = crest(&["datasets", "show", "elb_requests", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let s = &v["series"][0];
    assert_eq!(s["interval_s"], 300);
    assert_eq!(s["points"], 4040);
    assert_eq!(s["missing"], 8);
    assert_eq!(s["input"]["rows"], 4032);
    assert_eq!(s["input"]["gaps"].as_array().map(Vec::len), Some(8));
    assert_eq!(v["fill"], "nan");
}

#[test]
fn list_names_every_bundled_set() {
    let (code, out, _) = crest(&["datasets", "list"]);
    assert_eq!(code, 0);
    let taxi = out
        .lines()
        .find(|l| l.starts_with("nyc_taxi"))
        .expect("taxi");
    assert!(taxi.contains("30 min") && taxi.contains("10,320"), "{taxi}");
    assert!(out.lines().any(|l| l.starts_with("elb_requests")));
}

#[test]
fn show_a_user_file_with_a_gap_filled_and_resampled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("orders.csv");
    std::fs::write(
        &p,
        "timestamp,value\n2024-01-01T00:00:00+08:00,1\n2024-01-01T00:30:00+08:00,2\n2024-01-01T01:30:00+08:00,4\n2024-01-01T02:00:00+08:00,5\n",
    )
    .expect("write");
    let f = p.to_str().expect("utf-8 path");
    let (code, out, err) = crest(&["datasets", "show", f, "--fill", "linear"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gap at 2024-01-01T01:00:00+08:00"), "{out}");
    assert!(out.contains("filled by linear interpolation"), "{out}");
    let (code, out, err) = crest(&[
        "datasets",
        "show",
        f,
        "--fill",
        "linear",
        "--resample",
        "3600",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    // 2024-01-01 00:00+08:00 is 16:00 UTC: hourly buckets 16:00 and 17:00 (3 + 7).
    assert_eq!(v["series"][0]["points"], 2);
    assert_eq!(v["series"][0]["max"], 7.0);
}

/// A grid operator's spreadsheet export of a wide daily table (quoted
/// cells, a comma ending every line, dates spelled 2014/1/2, values labelled
/// by the end of their interval) reads as the plain table it is.
#[test]
fn a_spreadsheet_export_of_a_wide_table_reads_as_the_plain_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.csv");
    std::fs::write(
        &plain,
        "YMD,T0000,T0600,T1200,T1800\n2014-01-01,1,2,3,4\n2014-01-02,5,6,,8\n",
    )
    .expect("write");
    let export = dir.path().join("export.csv");
    std::fs::write(
        &export,
        "\"日期\",\"0600\",\"1200\",\"1800\",\"2400\",\n\"2014/1/1\",\"1\",\"2\",\"3\",\"4\",\n\"2014/1/2\",\"5\",\"6\",\"\",\"8\",\n",
    )
    .expect("write");
    let show = |p: &std::path::Path| {
        let (code, out, err) = crest(&[
            "datasets",
            "show",
            p.to_str().expect("utf-8 path"),
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        v["series"][0].clone()
    };
    let (a, b) = (show(&plain), show(&export));
    for k in [
        "interval_s",
        "points",
        "missing",
        "min",
        "max",
        "mean",
        "start",
        "end",
    ] {
        assert_eq!(a[k], b[k], "{k}: {a} vs {b}");
    }
    assert_eq!(a["points"], 8, "{a}");
    assert_eq!(a["missing"], 1, "{a}");
}

#[test]
fn a_bad_file_fails_with_file_line_column_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, "timestamp,value\n2014-07-01 00:00:00,1\n2014-13-01,2\n").expect("write");
    let (code, out, err) = crest(&["datasets", "show", p.to_str().expect("utf-8 path")]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "failed to read {}: line 3, column \"timestamp\": cannot parse \"2014-13-01\" as a timestamp",
            p.display()
        )),
        "{err}"
    );
}

#[test]
fn an_unknown_name_fails_plainly() {
    let (code, _, err) = crest(&["datasets", "show", "no_such_set"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not a bundled name (nyc_taxi, elb_requests, china_load_area1, bike_sharing) and no such file"),
        "{err}"
    );
}
