//! Known future regressors: a table of numeric columns over time (daily
//! weather for an electric load, a promotion flag for orders) whose values
//! are known for the forecast horizon too.
//!
//! The file is CSV: a time column (`timestamp`, `time`, `date`, `ds` or
//! `YMD`, else the first column) and one or more numeric columns, one row per
//! time, ascending. Cells that are empty, `NaN`, `NA` or `null` are unknown.
//!
//! **Alignment rule.** A step of the series' grid takes, for each column, the
//! value of the latest row at or before it *on the same calendar day* (in the
//! series' own UTC offset): a daily file (`2012-07-01`) covers the whole day, an
//! hourly file covers each hour until the next row, and a value never carries
//! over midnight. A step with no such row, or whose row's cell is empty, is
//! unknown. The forecast needs every step of the horizon known:
//! [`RegressorTable::require`] names the first unknown one (time and column),
//! so a missing day of weather is an error, never a silent zero.

use chrono::NaiveDate;
use crest_core::{TimeFormat, Timestamp};

use crate::{DatasetError, Place, parse_timestamp};

/// Header names taken as the time column (case-insensitive).
const TIME_NAMES: [&str; 6] = ["timestamp", "time", "date", "ds", "ymd", "datetime"];

/// A parsed regressor file: times ascending, one value per column per row.
#[derive(Debug, Clone)]
pub struct RegressorTable {
    /// The file (or bundled name), for messages.
    pub file: String,
    /// Column names, in file order (the time column left out).
    pub names: Vec<String>,
    /// Row times, strictly ascending.
    pub times: Vec<Timestamp>,
    /// Row values, `rows[i][c]`; `NaN` where unknown.
    pub rows: Vec<Vec<f64>>,
}

/// Bundled name of the Area1 daily weather (`china_load_area1`'s regressors).
pub const CHINA_LOAD_AREA1_WEATHER_NAME: &str = "china_load_area1_weather";

/// Parse regressor CSV text; `file` names it in errors.
///
/// # Errors
/// [`DatasetError::Empty`] without data rows, [`DatasetError::Format`] for a
/// file with no value column or a row with the wrong number of cells,
/// [`DatasetError::Parse`] for a time or number that cannot be read (line and
/// column named), [`DatasetError::Duplicate`] for a time given twice and
/// [`DatasetError::Format`] for rows out of order.
pub fn parse_regressors(file: &str, text: &str) -> Result<RegressorTable, DatasetError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() => continue,
            Some((_, l)) => break l,
            None => {
                return Err(DatasetError::Empty {
                    file: file.to_string(),
                    what: "the file is empty",
                });
            }
        }
    };
    let cols: Vec<String> = header.split(',').map(|c| unquote(c).to_string()).collect();
    let tcol = cols
        .iter()
        .position(|c| TIME_NAMES.contains(&c.to_ascii_lowercase().as_str()))
        .unwrap_or(0);
    let names: Vec<String> = cols
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != tcol)
        .map(|(_, c)| c.clone())
        .collect();
    if names.is_empty() {
        return Err(DatasetError::Format {
            file: file.to_string(),
            message: format!(
                "line 1: expected a time column and at least one numeric column, found \"{header}\""
            ),
        });
    }
    let mut times: Vec<Timestamp> = Vec::new();
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (i, line) in lines {
        let ln = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').map(unquote).collect();
        if cells.len() != cols.len() {
            return Err(DatasetError::Format {
                file: file.to_string(),
                message: format!(
                    "line {ln}: expected {} cells (as in the header), found {}",
                    cols.len(),
                    cells.len()
                ),
            });
        }
        let (t, _) = parse_timestamp(cells[tcol]).ok_or_else(|| DatasetError::Parse {
            file: file.to_string(),
            place: Place::Line(ln),
            column: cols[tcol].clone(),
            found: short(cells[tcol]),
            expected: crate::EXPECTED_TIMESTAMP,
        })?;
        if let Some(&prev) = times.last() {
            if t == prev {
                return Err(DatasetError::Duplicate {
                    file: file.to_string(),
                    place: Place::Line(ln),
                    first: Place::Line(ln - 1),
                    found: cells[tcol].to_string(),
                    series: String::new(),
                });
            }
            if t < prev {
                return Err(DatasetError::Format {
                    file: file.to_string(),
                    message: format!(
                        "line {ln}, column \"{}\": \"{}\" comes before the previous row's time; sort the rows by time",
                        cols[tcol], cells[tcol]
                    ),
                });
            }
        }
        let mut row = Vec::with_capacity(names.len());
        for (c, cell) in cells.iter().enumerate() {
            if c == tcol {
                continue;
            }
            let v = match cell.to_ascii_lowercase().as_str() {
                "" | "nan" | "na" | "null" => f64::NAN,
                _ => cell
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| DatasetError::Parse {
                        file: file.to_string(),
                        place: Place::Line(ln),
                        column: cols[c].clone(),
                        found: short(cell),
                        expected: "a number",
                    })?,
            };
            row.push(v);
        }
        times.push(t);
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "no data rows after the header",
        });
    }
    Ok(RegressorTable {
        file: file.to_string(),
        names,
        times,
        rows,
    })
}

/// A bundled regressor table by name, else a CSV file.
///
/// # Errors
/// [`DatasetError::UnknownDataset`] when it is neither, [`DatasetError::Io`]
/// when the file cannot be read, else as [`parse_regressors`].
pub fn resolve_regressors(name_or_path: &str) -> Result<RegressorTable, DatasetError> {
    if name_or_path == CHINA_LOAD_AREA1_WEATHER_NAME {
        return parse_regressors(name_or_path, crate::CHINA_LOAD_AREA1_WEATHER);
    }
    let p = std::path::Path::new(name_or_path);
    if !p.exists() {
        return Err(DatasetError::UnknownDataset {
            name: name_or_path.to_string(),
            known: CHINA_LOAD_AREA1_WEATHER_NAME.to_string(),
        });
    }
    let bytes = std::fs::read(p).map_err(|source| DatasetError::Io {
        file: p.to_path_buf(),
        source,
    })?;
    let file = p.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let raw = e.as_bytes();
        let line = raw[..at].iter().filter(|b| **b == b'\n').count() + 1;
        let col = at
            - raw[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |j| j + 1)
            + 1;
        DatasetError::NotUtf8 {
            file: file.clone(),
            place: Place::Line(line),
            col,
            byte: raw[at],
        }
    })?;
    parse_regressors(&file, &text)
}

fn unquote(c: &str) -> &str {
    let c = c.trim();
    c.strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(c)
        .trim()
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The UTC offset (ms) a series' timestamps are written in.
fn offset_ms(fmt: TimeFormat) -> i64 {
    match fmt {
        TimeFormat::Rfc3339 { offset_s } => i64::from(offset_s) * 1000,
        _ => 0,
    }
}

const DAY_MS: i64 = 86_400_000;

impl RegressorTable {
    /// The columns on a grid of `len` steps from `start`, `step_s` apart
    /// (days in the offset of `fmt`), by the module's alignment rule: one
    /// vector per column, `NaN` where unknown.
    pub fn align(
        &self,
        start: Timestamp,
        step_s: i64,
        len: usize,
        fmt: TimeFormat,
    ) -> Vec<Vec<f64>> {
        let off = offset_ms(fmt);
        let mut out = vec![vec![f64::NAN; len]; self.names.len()];
        let step_ms = step_s.max(1) * 1000;
        // Rows and steps both ascend: one pointer walks the rows.
        let mut r = 0usize;
        for i in 0..len {
            let t = start.millis() + step_ms * i as i64;
            while r + 1 < self.times.len() && self.times[r + 1].millis() <= t {
                r += 1;
            }
            let row_t = self.times[r].millis();
            if row_t > t || (row_t + off).div_euclid(DAY_MS) != (t + off).div_euclid(DAY_MS) {
                continue;
            }
            for (c, col) in out.iter_mut().enumerate() {
                col[i] = self.rows[r][c];
            }
        }
        out
    }

    /// Require every step `from..to` of `aligned` (from [`Self::align`] with
    /// the same grid) to be known.
    ///
    /// # Errors
    /// [`DatasetError::MissingRegressor`] naming the first unknown step's
    /// time (in `fmt`) and its column.
    pub fn require(
        &self,
        aligned: &[Vec<f64>],
        start: Timestamp,
        step_s: i64,
        from: usize,
        to: usize,
        fmt: TimeFormat,
    ) -> Result<(), DatasetError> {
        for i in from..to {
            for (c, col) in aligned.iter().enumerate() {
                if !col.get(i).is_some_and(|v| v.is_finite()) {
                    let at = Timestamp::from_millis(start.millis() + step_s * 1000 * i as i64);
                    return Err(DatasetError::MissingRegressor {
                        file: self.file.clone(),
                        column: self.names.get(c).cloned().unwrap_or_default(),
                        at: at.format(fmt),
                        covered: self.span(),
                    });
                }
            }
        }
        Ok(())
    }

    /// `first .. last` row dates, for messages.
    fn span(&self) -> String {
        let d = |t: &Timestamp| {
            t.to_datetime()
                .map(|dt| dt.date_naive())
                .unwrap_or(NaiveDate::MIN)
                .to_string()
        };
        match (self.times.first(), self.times.last()) {
            (Some(a), Some(b)) => format!("{} .. {}", d(a), d(b)),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_rows_cover_their_day_and_never_cross_midnight() {
        let t = parse_regressors("w.csv", "date,temp\n2012-01-01,10\n2012-01-03,12\n").unwrap();
        let start = parse_timestamp("2012-01-01 00:00:00").unwrap().0;
        let a = t.align(start, 6 * 3600, 12, TimeFormat::Naive);
        assert_eq!(&a[0][..4], &[10.0; 4]);
        assert!(a[0][4..8].iter().all(|v| v.is_nan()), "{:?}", a[0]);
        assert_eq!(&a[0][8..], &[12.0; 4]);
        let e = t
            .require(&a, start, 6 * 3600, 0, 12, TimeFormat::Naive)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2012-01-02 00:00:00") && e.contains("\"temp\""),
            "{e}"
        );
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        let e = parse_regressors(
            "w.csv",
            "date,temp,flag\n2012-01-01,10,0\n2012-01-02,warm,1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("w.csv") && e.contains("line 3") && e.contains("\"temp\""),
            "{e}"
        );
        let e = parse_regressors("w.csv", "date,temp\n2012-01-02,1\n2012-01-01,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("sort"), "{e}");
    }

    #[test]
    fn bundled_area1_weather_resolves() {
        let t = resolve_regressors(CHINA_LOAD_AREA1_WEATHER_NAME).unwrap();
        assert_eq!(t.names.len(), 5);
        assert_eq!(t.names[2], "Avg_Temperature");
    }
}
