//! Reading one timestamp cell.
//!
//! Users export history from whatever they have: a database dump with
//! `2014-07-01 00:30:00`, a JSON API with `2014-07-01T00:30:00Z`, a Unix tool
//! with `1404174600`. We accept all of these and remember which one we saw (as a
//! [`TimeFormat`]) so that a forecast can be written back in the user's own style.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use crest_core::{TimeFormat, Timestamp};

/// What a timestamp cell may look like; quoted in parse errors.
pub const EXPECTED_TIMESTAMP: &str =
    "a timestamp (expected RFC 3339, \"YYYY-MM-DD HH:MM:SS\", \"YYYY/M/D H:MM\" or epoch seconds)";

/// Parse one timestamp cell. Naive date-times and dates are read as UTC.
///
/// Accepted: epoch seconds (`1404174600`), dates (`2014-07-01`), naive date-times with a
/// space or a `T` (`2014-07-01 00:30:00`, `2014-07-01T00:30`, optional fractional seconds)
/// RFC 3339 with `Z` or an offset (`2014-07-01T00:30:00+08:00`), and the slashed
/// spreadsheet spelling (`2014/7/1 0:30`, `2014/07/01 00:30:00`, `2014/7/1`).
pub fn parse_timestamp(cell: &str) -> Option<(Timestamp, TimeFormat)> {
    let s = cell.trim();
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let digits = if b[0] == b'-' { &b[1..] } else { b };
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        let secs: i64 = s.parse().ok()?;
        // Keep within chrono's range so every timestamp can be formatted back
        // (`unsigned_abs`: `abs` of i64::MIN overflowed, and the wrapped
        // value was read as 1970-01-01).
        if secs.unsigned_abs() > 8_000_000_000_000 {
            return None;
        }
        return Timestamp::checked_from_secs(secs).map(|t| (t, TimeFormat::EpochSeconds));
    }
    if s.contains('/') {
        // Spreadsheets in zh-CN (and other) locales: 2014/7/1 0:30. Read as
        // naive; written back in the ISO spelling.
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y/%m/%d") {
            let dt = d.and_hms_opt(0, 0, 0)?;
            return Some((Timestamp::from_naive_utc(&dt), TimeFormat::Date));
        }
        let dt = NaiveDateTime::parse_from_str(s, "%Y/%m/%d %H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y/%m/%d %H:%M"))
            .ok()?;
        return Some((Timestamp::from_naive_utc(&dt), TimeFormat::Naive));
    }
    if b.len() == 10 {
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let dt = d.and_hms_opt(0, 0, 0)?;
        return Some((Timestamp::from_naive_utc(&dt), TimeFormat::Date));
    }
    if b.len() < 16 {
        return None;
    }
    let t_sep = b[10] == b'T' || b[10] == b't';
    let last = b[b.len() - 1];
    let has_zone = last == b'Z' || last == b'z' || {
        // An offset "+08:00" / "-05:00" at the end, after the time part.
        b.len() >= 22 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':'
    };
    if has_zone {
        let dt = DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M%#z"))
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%#z"))
            .ok()?;
        let offset_s = dt.offset().local_minus_utc();
        return Some((
            Timestamp::from_datetime(&dt),
            TimeFormat::Rfc3339 { offset_s },
        ));
    }
    let (fmt_s, fmt_m, kind) = if t_sep {
        ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", TimeFormat::NaiveT)
    } else {
        ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", TimeFormat::Naive)
    };
    let dt = NaiveDateTime::parse_from_str(s, fmt_s)
        .or_else(|_| NaiveDateTime::parse_from_str(s, fmt_m))
        .ok()?;
    Some((Timestamp::from_naive_utc(&dt), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_404_174_600; // 2014-07-01 00:30:00Z

    #[test]
    fn epochs_out_of_range_are_refused_not_wrapped_to_1970() {
        for cell in [
            "-9223372036854775808",
            "9223372036854775807",
            "-9223372036854775807",
            "8000000000001",
            "-8000000000001",
        ] {
            assert_eq!(parse_timestamp(cell), None, "{cell}");
        }
        assert_eq!(
            parse_timestamp("-8000000000000").map(|(t, _)| t.secs()),
            Some(-8_000_000_000_000)
        );
        assert_eq!(Timestamp::checked_from_secs(i64::MIN), None);
        assert_eq!(Timestamp::checked_from_secs(-1), Some(Timestamp(-1000)));
    }

    #[test]
    fn every_accepted_shape_parses_to_the_same_instant() {
        let cases = [
            ("2014-07-01 00:30:00", TimeFormat::Naive),
            ("2014-07-01T00:30:00", TimeFormat::NaiveT),
            ("2014-07-01T00:30", TimeFormat::NaiveT),
            ("2014-07-01 00:30", TimeFormat::Naive),
            ("2014-07-01 00:30:00.000", TimeFormat::Naive),
            ("2014-07-01T00:30:00Z", TimeFormat::Rfc3339 { offset_s: 0 }),
            (
                "2014-07-01T08:30:00+08:00",
                TimeFormat::Rfc3339 { offset_s: 28_800 },
            ),
            (
                "2014-07-01 08:30:00+08:00",
                TimeFormat::Rfc3339 { offset_s: 28_800 },
            ),
            ("1404174600", TimeFormat::EpochSeconds),
            ("2014/7/1 0:30", TimeFormat::Naive),
            ("2014/07/01 00:30:00", TimeFormat::Naive),
        ];
        for (s, fmt) in cases {
            assert_eq!(
                parse_timestamp(s),
                Some((Timestamp::from_secs(T), fmt)),
                "{s}"
            );
        }
        for day in ["2014-07-01", "2014/7/1"] {
            assert_eq!(
                parse_timestamp(day),
                Some((Timestamp::from_secs(T - 1800), TimeFormat::Date)),
                "{day}"
            );
        }
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "",
            "2014-13-01",
            "2014-02-30 00:00:00",
            "yesterday",
            "12:00",
            "2014-07-01 25:00:00",
            "1e9",
            "2014/13/1 0:00",
            "2014/7/1 25:00",
            "1/7/2014 0:30",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn round_trips_in_the_input_style() {
        for s in [
            "2014-07-01 00:30:00",
            "2014-07-01T00:30:00",
            "2014-07-01T08:30:00+08:00",
            "1404174600",
            "2014-07-01",
        ] {
            let (t, fmt) = parse_timestamp(s).unwrap();
            assert_eq!(t.format(fmt), s);
        }
    }
}
