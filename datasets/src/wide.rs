//! Wide daily tables: one row per day, one column per time of day.
//!
//! Grid operators and load-forecasting contests publish load as
//! `YMD,T0000,T0015,…,T2345` (the bundled Chinese regional load is such a
//! file): a date, then the value at the start of each interval of that day.
//! Others label each value with the end of its interval (`T0015 … T2400`);
//! a `24:00` column says so, and those are moved to their interval's start.
//! crest reads it as the ordinary `timestamp,value` series it describes, so
//! the same file works in `crest forecast --input`, `crest rehearse --history`
//! and `crest datasets show` without a conversion step. Every cell is checked
//! here, so an error names the line and the column of the original file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;

use crate::{DatasetError, Place};

/// Minutes after midnight of a time-of-day column header: `T0015`, `0015`,
/// `00:15`, `0:15`, `T00:15`, `00:15:00`; `None` for anything else.
fn column_minutes(name: &str) -> Option<u32> {
    let s = name.trim();
    let s = s.strip_prefix(['T', 't']).unwrap_or(s);
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        (n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let (h, m) = if s.contains(':') {
        let mut parts = s.split(':');
        let h = digits(parts.next()?, 1..=2)?;
        let m = digits(parts.next()?, 2..=2)?;
        // Seconds, when given, must be zero: a column is a time of day.
        if let Some(sec) = parts.next()
            && digits(sec, 2..=2)? != 0
        {
            return None;
        }
        if parts.next().is_some() {
            return None;
        }
        (h, m)
    } else {
        let d = digits(s, 4..=4)?;
        (d / 100, d % 100)
    };
    // 24:00 closes the day's last interval (interval-end labels).
    ((h < 24 && m < 60) || (h == 24 && m == 0)).then_some(h * 60 + m)
}

/// Interval-end labels (`T0015 … T2400`, as many grid operators publish 96
/// points a day) moved to the start of their interval, the time crest
/// stores; labels without `24:00` are interval starts already. `Err` says
/// why a header naming `24:00` cannot be read that way.
fn interval_starts(minutes: &mut [u32]) -> Result<(), String> {
    if !minutes.contains(&1440) {
        return Ok(());
    }
    let mut sorted = minutes.to_vec();
    sorted.sort_unstable();
    // The interval that 24:00 closes opens at the next-latest label.
    let (first, step) = (
        sorted[0],
        1440 - sorted.iter().rev().nth(1).copied().unwrap_or(0),
    );
    if first != step {
        return Err(format!(
            "a column is 24:00, so the columns are read as interval ends, which must run from one interval after midnight ({step} min) to 24:00; the first is {first} min"
        ));
    }
    minutes.iter_mut().for_each(|m| *m -= step);
    Ok(())
}

/// The cells of one line: split at commas, trimmed, one pair of enclosing
/// double quotes removed (quoting exports). Dates, times and numbers hold no
/// comma, so no cell needs a quoted one.
fn cells(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|c| {
            let c = c.trim();
            c.strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .unwrap_or(c)
                .trim()
        })
        .collect()
}

/// The header's column names, without the empty ones a comma ending every
/// line (spreadsheet exports) leaves at its end.
fn header_names(header: &str) -> Vec<&str> {
    let mut names = cells(header);
    while names.len() > 1 && names.last().is_some_and(|c| c.is_empty()) {
        names.pop();
    }
    names
}

/// True when the header line is a wide daily table: a first (date) column,
/// then at least two time-of-day columns and nothing else.
pub(crate) fn is_wide_header(header: &str) -> bool {
    let cols = header_names(header);
    cols.len() >= 3 && cols[1..].iter().all(|c| column_minutes(c).is_some())
}

/// Convert a wide daily table to `timestamp,value` CSV text (naive times,
/// read as UTC like any naive timestamp). Empty cells stay missing; days
/// at the end of the file with no value at all (a contest's forecast target)
/// are dropped, so the series ends at its last observation.
///
/// # Errors
/// [`DatasetError::Parse`] for a date or value that cannot be read,
/// [`DatasetError::Format`] for a row with the wrong number of cells or a
/// column that repeats a time, [`DatasetError::Duplicate`] for a date given
/// twice, each naming the line of the original file.
pub(crate) fn wide_to_long(file: &str, text: &str) -> Result<String, DatasetError> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "the file is empty",
        });
    };
    let names = header_names(header);
    let mut minutes = Vec::with_capacity(names.len() - 1);
    let mut seen = BTreeMap::new();
    for name in &names[1..] {
        let m = column_minutes(name).unwrap_or(0);
        if let Some(first) = seen.insert(m, *name) {
            return Err(DatasetError::Format {
                file: file.to_string(),
                message: format!("line 1: columns \"{first}\" and \"{name}\" name the same time"),
            });
        }
        minutes.push(m);
    }
    interval_starts(&mut minutes).map_err(|why| DatasetError::Format {
        file: file.to_string(),
        message: format!("line 1: {why}"),
    })?;
    let mut rows: Vec<(NaiveDate, Vec<Option<f64>>)> = Vec::new();
    let mut dates: BTreeMap<NaiveDate, usize> = BTreeMap::new();
    for (i, line) in lines {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut cells = cells(line);
        // Empty cells past the header's last column are the same trailing
        // comma; anything else there is an error.
        if cells
            .get(names.len()..)
            .is_some_and(|rest| rest.iter().all(|c| c.is_empty()))
        {
            cells.truncate(names.len());
        }
        if cells.len() != names.len() {
            return Err(DatasetError::Format {
                file: file.to_string(),
                message: format!(
                    "line {line_no}: {} cells where the header has {} columns",
                    cells.len(),
                    names.len()
                ),
            });
        }
        let date = NaiveDate::parse_from_str(cells[0], "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(cells[0], "%Y%m%d"))
            // Spreadsheets in zh-CN locales export dates as 2009/1/1.
            .or_else(|_| NaiveDate::parse_from_str(cells[0], "%Y/%m/%d"))
            .map_err(|_| DatasetError::Parse {
                file: file.to_string(),
                place: Place::Line(line_no),
                column: names[0].to_string(),
                found: shorten(cells[0]),
                expected: "a date (YYYY-MM-DD, YYYYMMDD or YYYY/M/D)",
            })?;
        if let Some(first) = dates.insert(date, line_no) {
            return Err(DatasetError::Duplicate {
                file: file.to_string(),
                place: Place::Line(line_no),
                first: Place::Line(first),
                found: cells[0].to_string(),
                series: String::new(),
            });
        }
        let mut values = Vec::with_capacity(minutes.len());
        for (j, cell) in cells[1..].iter().enumerate() {
            let v = if cell.is_empty() || matches!(*cell, "NaN" | "nan" | "NA" | "null") {
                None
            } else {
                match cell.parse::<f64>() {
                    Ok(v) if v.is_finite() => Some(v),
                    _ => {
                        return Err(DatasetError::Parse {
                            file: file.to_string(),
                            place: Place::Line(line_no),
                            column: names[j + 1].to_string(),
                            found: shorten(cell),
                            expected: "a finite number",
                        });
                    }
                }
            };
            values.push(v);
        }
        rows.push((date, values));
    }
    while rows
        .last()
        .is_some_and(|(_, v)| v.iter().all(Option::is_none))
    {
        rows.pop();
    }
    if rows.is_empty() {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "no data rows after the header",
        });
    }
    rows.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(rows.len() * minutes.len() * 32);
    out.push_str("timestamp,value\n");
    for (date, values) in rows {
        for (m, v) in minutes.iter().zip(values) {
            let _ = write!(out, "{date} {:02}:{:02}:00,", m / 60, m % 60);
            if let Some(v) = v {
                let _ = write!(out, "{v}");
            }
            out.push('\n');
        }
    }
    Ok(out)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_wide_headers() {
        assert!(is_wide_header("YMD,T0000,T0015,T0030"));
        assert!(is_wide_header("date,00:00,12:00"));
        assert!(is_wide_header("date,0:00,0:15,23:45"));
        assert!(is_wide_header("date,00:00:00,00:15:00"));
        assert!(!is_wide_header("date,00:00:30,00:15"));
        assert!(!is_wide_header("date,0:0,0:15"));
        assert!(is_wide_header("date,00:15,24:00"));
        assert!(!is_wide_header("date,00:15,24:15"));
        assert!(!is_wide_header("timestamp,value"));
        assert!(!is_wide_header("YMD,T0000"));
    }

    #[test]
    fn converts_and_drops_trailing_empty_days() {
        let text = "YMD,T0000,T1200\n2014-01-02,3,4\n2014-01-01,1,\n2014-01-03,,\n";
        let long = wide_to_long("f.csv", text).unwrap();
        assert_eq!(
            long,
            "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 12:00:00,\n\
             2014-01-02 00:00:00,3\n2014-01-02 12:00:00,4\n"
        );
    }

    #[test]
    fn interval_end_labels_are_read_as_the_intervals_they_close() {
        let start = "YMD,T0000,T1200\n2014-01-01,1,2\n";
        let end = "YMD,T1200,T2400\n2014-01-01,1,2\n";
        assert_eq!(
            wide_to_long("f.csv", end).unwrap(),
            wide_to_long("f.csv", start).unwrap()
        );
        // Both midnights, or ends that skip the first interval: refused,
        // naming the header.
        for bad in [
            "YMD,T0000,T1200,T2400\n2014-01-01,1,2,3\n",
            "YMD,T0600,T1200,T2400\n2014-01-01,1,2,3\n",
        ] {
            let e = wide_to_long("f.csv", bad).unwrap_err().to_string();
            assert!(e.contains("line 1") && e.contains("interval ends"), "{e}");
        }
    }

    #[test]
    fn quoted_cells_and_trailing_commas_read_as_plain_ones() {
        let plain = "YMD,T0000,T1200\n2014-01-01,1,2\n2014-01-02,3,\n";
        let want = wide_to_long("f.csv", plain).unwrap();
        for text in [
            "\"YMD\",\"T0000\",\"T1200\"\n\"2014-01-01\",\"1\",\"2\"\n\"2014-01-02\",\"3\",\"\"\n",
            "YMD,T0000,T1200,\n2014-01-01,1,2,\n2014-01-02,3,,\n",
        ] {
            assert!(is_wide_header(text.lines().next().unwrap()), "{text}");
            assert_eq!(wide_to_long("f.csv", text).unwrap(), want, "{text}");
        }
        // A row longer than the header is still an error.
        let e = wide_to_long("f.csv", "YMD,T0000,T1200,\n2014-01-01,1,2,3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("4 cells"), "{e}");
    }

    #[test]
    fn reads_the_date_spellings_spreadsheets_export() {
        let want = wide_to_long("f.csv", "YMD,T0000\n2014-01-02,3\n").unwrap();
        for date in ["20140102", "2014/1/2", "2014/01/02"] {
            let text = format!("YMD,T0000\n{date},3\n");
            assert_eq!(wide_to_long("f.csv", &text).unwrap(), want, "{date}");
        }
    }

    #[test]
    fn errors_name_the_original_line_and_column() {
        let e = wide_to_long("f.csv", "YMD,T0000,T1200\n2014-01-01,1,x\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("T1200") && e.contains("\"x\""),
            "{e}"
        );
        let e = wide_to_long("f.csv", "YMD,T0000,T1200\n2014-01-01,1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("2 cells"), "{e}");
        let e = wide_to_long("f.csv", "YMD,T0000,T1200\n2014-01-01,1,2\n2014-01-01,1,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("line 2"), "{e}");
        let e = wide_to_long("f.csv", "YMD,T0000,T1200\n2014-13-01,1,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("YMD"), "{e}");
    }
}
