//! Dev-only helpers: read the NAB NYC taxi CSV with std code and a US federal
//! holiday calendar for its span, until `crest-datasets` provides both.
#![allow(dead_code, missing_docs)]

use chrono::NaiveDate;
use crest_core::{Calendar, DayKind, Series, Timestamp};

pub const NYC_TAXI: &str = "/work/shared/datasets/nab/realKnownCause/nyc_taxi.csv";

pub fn parse_ts(s: &str) -> Timestamp {
    let dt = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f"))
        .expect("timestamp");
    Timestamp::from_naive_utc(&dt)
}

/// The NYC taxi series, or `None` when the shared data is not on this machine.
pub fn nyc_taxi() -> Option<Series> {
    let text = std::fs::read_to_string(NYC_TAXI).ok()?;
    let mut rows = text.lines().skip(1).filter(|l| !l.trim().is_empty());
    let first = rows.next()?;
    let (t0, v0) = first.split_once(',')?;
    let start = parse_ts(t0);
    let mut values = vec![v0.trim().parse().ok()?];
    for l in rows {
        let (_, v) = l.split_once(',')?;
        values.push(v.trim().parse().ok()?);
    }
    Series::try_new("", start, 1800, values).ok()
}

pub fn us_calendar() -> Calendar {
    let mut c = Calendar::new("us");
    for (y, m, d, name) in [
        (2014, 7, 4, "Independence Day"),
        (2014, 9, 1, "Labor Day"),
        (2014, 10, 13, "Columbus Day"),
        (2014, 11, 11, "Veterans Day"),
        (2014, 11, 27, "Thanksgiving Day"),
        (2014, 12, 25, "Christmas Day"),
        (2015, 1, 1, "New Year's Day"),
        (2015, 1, 19, "Martin Luther King Jr. Day"),
    ] {
        c.insert(
            NaiveDate::from_ymd_opt(y, m, d).expect("date"),
            DayKind::Holiday { name: name.into() },
        );
    }
    c
}

/// NAB's labelled anomaly windows for nyc_taxi (combined_windows.json).
pub fn windows() -> Vec<(Timestamp, Timestamp)> {
    [
        ("2014-10-30 15:30:00", "2014-11-03 22:30:00"),
        ("2014-11-25 12:00:00", "2014-11-29 19:00:00"),
        ("2014-12-23 11:30:00", "2014-12-27 18:30:00"),
        ("2014-12-29 21:30:00", "2015-01-03 04:30:00"),
        ("2015-01-24 20:30:00", "2015-01-29 03:30:00"),
    ]
    .into_iter()
    .map(|(a, b)| (parse_ts(a), parse_ts(b)))
    .collect()
}

pub fn in_windows(w: &[(Timestamp, Timestamp)], t: Timestamp) -> bool {
    w.iter().any(|(a, b)| t >= *a && t <= *b)
}
