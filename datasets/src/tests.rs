//! Loader tests: the bundled data, every accepted shape, and one test per bad input.

use super::*;

fn err(text: &str) -> String {
    load_csv_str("data.csv", text).unwrap_err().to_string()
}

#[test]
fn nyc_taxi_is_10320_half_hours_without_gaps() {
    let d = bundled("nyc_taxi").unwrap();
    assert_eq!(d.series.len(), 1);
    let s = &d.series[0];
    let m = summary(s);
    assert_eq!(m.points, 10_320);
    assert_eq!(m.interval_s, 1800);
    assert_eq!(m.missing, 0);
    assert_eq!(m.gaps, 0);
    assert_eq!(
        m.start.unwrap().format(TimeFormat::Naive),
        "2014-07-01 00:00:00"
    );
    assert_eq!(
        m.end.unwrap().format(TimeFormat::Naive),
        "2015-01-31 23:30:00"
    );
    assert_eq!(s.values()[0], 10844.0);
    assert_eq!(s.time_format(), TimeFormat::Naive);
    assert!(d.report.series[0].gaps.is_empty());
}

#[test]
fn elb_requests_has_its_eight_ten_minute_holes_reported() {
    let d = bundled("elb_requests").unwrap();
    let s = &d.series[0];
    assert_eq!(s.step_s(), 300);
    let r = &d.report.series[0];
    assert_eq!(r.rows, 4032);
    assert_eq!(r.gaps.len(), 8);
    assert!(r.gaps.iter().all(|g| g.steps == 1 && g.duration_s == 300));
    assert_eq!(s.len(), 4040);
    assert_eq!(s.missing(), 8);
}

#[test]
fn anomaly_windows_are_exposed() {
    let w = anomaly_windows("nyc_taxi");
    assert_eq!(w.len(), 5);
    let (a, b) = w[1];
    assert_eq!(a.format(TimeFormat::Naive), "2014-11-25 12:00:00");
    assert_eq!(b.format(TimeFormat::Naive), "2014-11-29 19:00:00");
    assert_eq!(anomaly_windows("elb_requests").len(), 2);
    assert!(anomaly_windows("nope").is_empty());
    assert_eq!(
        bundled_names(),
        &[
            "nyc_taxi",
            "elb_requests",
            "china_load_area1",
            "bike_sharing"
        ]
    );
}

#[test]
fn long_format_gives_one_series_per_id_in_input_order() {
    let text = "series_id,timestamp,value\nb,2024-01-01T00:00:00Z,1\na,2024-01-01T00:00:00Z,10\nb,2024-01-01T01:00:00Z,2\na,2024-01-01T01:00:00Z,20\na,2024-01-01T03:00:00Z,40\n";
    let d = load_csv_str("long.csv", text).unwrap();
    assert!(d.long_format);
    let ids: Vec<&str> = d.series.iter().map(|s| s.id()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(d.series[1].len(), 4);
    assert_eq!(d.report.series[1].gaps.len(), 1);
    assert_eq!(
        d.series[0].time_format(),
        TimeFormat::Rfc3339 { offset_s: 0 }
    );
}

#[test]
fn zones_epoch_seconds_and_unsorted_rows() {
    let text = "timestamp,value\n2014-07-01T09:00:00+08:00,2\n2014-07-01T08:30:00+08:00,1\n";
    let d = load_csv_str("z.csv", text).unwrap();
    let s = &d.series[0];
    assert_eq!(s.start(), Timestamp::from_secs(1_404_174_600));
    assert_eq!(s.values(), &[1.0, 2.0]);
    assert_eq!(s.time_format(), TimeFormat::Rfc3339 { offset_s: 28_800 });
    let d = load_csv_str("e.csv", "timestamp,value\n1404174600,1\n1404176400,2\n").unwrap();
    assert_eq!(d.series[0].time_format(), TimeFormat::EpochSeconds);
    assert_eq!(d.series[0].step_s(), 1800);
    let d = load_csv_str("d.csv", "value,timestamp\n3,2024-01-01\n4,2024-01-02\n").unwrap();
    assert_eq!(d.series[0].step_s(), 86_400);
    assert_eq!(d.series[0].time_format(), TimeFormat::Date);
}

#[test]
fn empty_value_cells_are_missing_and_can_be_filled() {
    let text =
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,\n2024-01-01 03:00:00,4\n";
    let d = load_csv_str("m.csv", text).unwrap();
    assert_eq!(d.series[0].missing(), 2);
    assert_eq!(d.report.series[0].empty_values, 1);
    let opts = LoadOptions {
        fill: FillRule::Linear,
        step_s: None,
    };
    let d = load_csv_str_with("m.csv", text, &opts).unwrap();
    assert_eq!(d.series[0].values(), &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(d.report.fill, FillRule::Linear);
}

#[test]
fn blank_lines_do_not_shift_line_numbers() {
    let text = "timestamp,value\n2024-01-01 00:00:00,1\n\n\n2024-01-01 01:00:00,2\n\n2024-01-01 02:00:00,x\n\n";
    assert_eq!(
        err(text),
        "failed to read data.csv: line 7, column \"value\": cannot parse \"x\" as a finite number"
    );
    let ok = load_csv_str(
        "b.csv",
        "timestamp,value\n\n2024-01-01,1\n\n2024-01-02,2\n\n",
    )
    .unwrap();
    assert_eq!(ok.series[0].values(), &[1.0, 2.0]);
}

// ---- one test per bad-input case ----

#[test]
fn bad_missing_column() {
    assert_eq!(
        err("time,value\n2024-01-01,1\n"),
        "failed to read data.csv: missing column \"timestamp\" (found columns: time,value; expected timestamp,value or series_id,timestamp,value)"
    );
    assert!(err("timestamp,count\n2024-01-01,1\n").contains("missing column \"value\""));
}

#[test]
fn bad_unparsable_timestamp() {
    let mut text = String::from("timestamp,value\n");
    for h in 0..15 {
        text.push_str(&format!("2014-01-01 {h:02}:00:00,1\n"));
    }
    text.push_str("2014-13-01,5\n");
    assert_eq!(
        err(&text),
        "failed to read data.csv: line 17, column \"timestamp\": cannot parse \"2014-13-01\" as a timestamp (expected RFC 3339, \"YYYY-MM-DD HH:MM:SS\", \"YYYY/M/D H:MM\" or epoch seconds)"
    );
}

#[test]
fn bad_duplicate_timestamp_names_both_lines() {
    let text =
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,2\n2024-01-01 00:00:00,3\n";
    assert_eq!(
        err(text),
        "failed to read data.csv: line 4, column \"timestamp\": duplicate timestamp \"2024-01-01 00:00:00\" (first seen on line 2)"
    );
    let long = "series_id,timestamp,value\na,1,1\nb,1,1\na,1,2\n";
    assert_eq!(
        err(long),
        "failed to read data.csv: line 4, column \"timestamp\": duplicate timestamp \"1\" (first seen on line 2) in series \"a\""
    );
}

#[test]
fn bad_empty_file() {
    assert_eq!(err(""), "failed to read data.csv: the file is empty");
    assert_eq!(
        err("timestamp,value\n"),
        "failed to read data.csv: no data rows after the header"
    );
}

#[test]
fn bad_non_utf8_names_the_line() {
    let mut bytes = b"timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("latin1.csv");
    std::fs::write(&p, &bytes).unwrap();
    let e = load_path(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "failed to read {}: line 3, column 21: invalid UTF-8 (byte 0xff); save the file as UTF-8",
            p.display()
        )
    );
}

#[test]
fn bad_non_numeric_value() {
    let text = "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 01:00:00,12abc\n";
    assert_eq!(
        err(text),
        "failed to read data.csv: line 3, column \"value\": cannot parse \"12abc\" as a finite number"
    );
    assert!(err("timestamp,value\n2024-01-01,inf\n").contains("cannot parse \"inf\""));
}

#[test]
fn bad_single_row_has_no_interval() {
    assert_eq!(
        err("timestamp,value\n2024-01-01,1\n"),
        "failed to detect the sampling interval of data.csv: need at least two distinct timestamps, found 1"
    );
}

#[test]
fn bad_ragged_rows_are_a_format_error_not_a_panic() {
    let e = err("timestamp,value\n2024-01-01,1,7,8\n2024-01-02,2\n");
    assert!(e.starts_with("failed to read data.csv"), "{e}");
}

#[test]
fn unknown_names_and_missing_files() {
    assert_eq!(
        resolve("no_such_thing").unwrap_err().to_string(),
        "failed to find data set \"no_such_thing\": not a bundled name (nyc_taxi, elb_requests, china_load_area1, bike_sharing) and no such file"
    );
}

#[test]
fn files_on_disk_csv_and_parquet() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("h.csv");
    std::fs::write(
        &csv,
        "timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:05:00,2\n",
    )
    .unwrap();
    let d = resolve(csv.to_str().unwrap()).unwrap();
    assert_eq!(d.name, "h");
    assert_eq!(d.series[0].time_format(), TimeFormat::NaiveT);

    // Parquet with text timestamps, a long shape and integer values.
    let mut df = df!(
        "series_id" => ["a", "a", "b", "b", "b"],
        "timestamp" => ["2024-01-01 00:00:00", "2024-01-01 01:00:00", "2024-01-01 00:00:00", "2024-01-01 01:00:00", "2024-01-01 03:00:00"],
        "value" => [1i64, 2, 3, 4, 5],
    )
    .unwrap();
    let pq = dir.path().join("long.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let d = load_path(&pq).unwrap();
    assert!(d.long_format);
    assert_eq!(d.series.len(), 2);
    assert_eq!(d.series[1].len(), 4);
    assert_eq!(d.series[1].missing(), 1);

    // Parquet with a real datetime column and epoch-second integers.
    let ms = Int64Chunked::new("timestamp".into(), &[0i64, 60_000, 120_000])
        .into_datetime(TimeUnit::Milliseconds, None)
        .into_column();
    let mut df =
        DataFrame::new_infer_height(vec![ms, Column::new("value".into(), &[1.5f64, 2.5, 3.5])])
            .unwrap();
    let pq = dir.path().join("dt.pq");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let d = load_path(&pq).unwrap();
    assert_eq!(d.series[0].step_s(), 60);
    assert_eq!(d.series[0].values(), &[1.5, 2.5, 3.5]);

    // Parquet with a bad value names the row.
    let mut df = df!("timestamp" => ["2024-01-01", "2024-01-02"], "value" => ["1", "two"]).unwrap();
    let pq = dir.path().join("bad.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    assert_eq!(
        load_path(&pq).unwrap_err().to_string(),
        format!(
            "failed to read {}: row 2, column \"value\": cannot parse \"two\" as a finite number",
            pq.display()
        )
    );

    // A CSV renamed .parquet is caught, not a panic.
    let fake = dir.path().join("fake.parquet");
    std::fs::write(&fake, "timestamp,value\n").unwrap();
    let e = load_path(&fake).unwrap_err().to_string();
    assert!(e.contains("not a readable Parquet file"), "{e}");
}

#[test]
fn crlf_quotes_bom_and_case_insensitive_headers() {
    let text = "\u{feff}\"Timestamp\",\"VALUE\"\r\n\"2024-01-01 00:00:00\",\"1.5\"\r\n2024-01-01 00:10:00,2.5\r\n";
    let d = load_csv_str("w.csv", text).unwrap();
    assert_eq!(d.series[0].values(), &[1.5, 2.5]);
    assert_eq!(d.series[0].step_s(), 600);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any text after a valid header gives a dataset or an error, never a panic.
        #[test]
        fn arbitrary_rows(body in "[0-9a-zT:+ ,.\\-\"\n]{0,200}") {
            let text = format!("timestamp,value\n{body}");
            let _ = load_csv_str("fuzz.csv", &text);
        }

        /// Arbitrary bytes, including invalid UTF-8, as a file.
        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("fuzz.csv");
            std::fs::write(&p, &bytes).unwrap();
            let _ = load_path(&p);
            let q = dir.path().join("fuzz.parquet");
            std::fs::write(&q, &bytes).unwrap();
            let _ = load_path(&q);
        }
    }
}

#[test]
fn bundled_china_load_and_bike_sharing_load_on_their_grids() {
    let area1 = crate::bundled("china_load_area1").unwrap();
    let s = &area1.series[0];
    assert_eq!(s.step_s(), 900);
    // 2009-01-01 .. 2015-01-10: the contest's empty target week is dropped.
    assert_eq!(s.len(), 2201 * 96);
    assert!(s.values().iter().all(|v| v.is_finite()));
    let bike = crate::bundled("bike_sharing").unwrap();
    let b = &bike.series[0];
    assert_eq!(b.step_s(), 3600);
    assert_eq!(b.len(), 731 * 24);
    let missing = b.values().iter().filter(|v| !v.is_finite()).count();
    assert_eq!(missing, 165, "UCI documents 165 hours with no record");
    assert!(crate::CHINA_LOAD_AREA1_WEATHER.starts_with("YMD,Max_Temperature"));
}

#[test]
fn cn_calendar_reaches_back_to_2007_with_named_periods() {
    let cn = crate::calendar::resolve_calendar("cn").unwrap();
    let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
    assert_eq!(cn.holiday_name(d(2010, 2, 14)), Some("Spring Festival"));
    assert_eq!(cn.holiday_name(d(2007, 5, 3)), Some("Labour Day"));
    assert_eq!(cn.holiday_name(d(2007, 10, 3)), Some("National Day"));
    let sf: Vec<_> = cn
        .holiday_periods()
        .into_iter()
        .filter(|p| p.name == "Spring Festival" && (2009..=2015).contains(&p.first.year()))
        .map(|p| (p.first, p.last))
        .collect();
    use chrono::Datelike;
    assert_eq!(
        sf,
        vec![
            (d(2009, 1, 25), d(2009, 1, 31)),
            (d(2010, 2, 13), d(2010, 2, 19)),
            (d(2011, 2, 2), d(2011, 2, 8)),
            (d(2012, 1, 22), d(2012, 1, 28)),
            (d(2013, 2, 9), d(2013, 2, 15)),
            (d(2014, 1, 31), d(2014, 2, 6)),
            (d(2015, 2, 18), d(2015, 2, 24)),
        ]
    );
}

#[test]
fn calendar_files_override_effect_windows_and_reject_absurd_ones() {
    let c = crate::calendar::parse_toml(
        "w.toml",
        "[[window]]\nname = \"Spring Festival\"\nbefore = 14\nafter = 20\n",
    )
    .unwrap();
    let w = c.effect_window("Spring Festival");
    assert_eq!((w.before, w.after), (14, 20));
    let e = crate::calendar::parse_toml(
        "w.toml",
        "[[window]]\nname = \"x\"\nbefore = 400\nafter = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("line 2") && e.contains("before"), "{e}");
}
