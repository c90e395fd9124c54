//! Reading CSV and Parquet into regular series.
//!
//! polars does the file-format work (quoting, Parquet decoding); we read every
//! CSV column as text and validate row by row ourselves, because the error a
//! user needs is "line 17, column timestamp", not a type-inference failure
//! somewhere in a chunk. UTF-8 is checked before polars sees the bytes, for the
//! same reason: to name the line.

use std::collections::HashMap;
use std::io::Cursor;

use crest_core::{TimeFormat, Timestamp};
use polars::prelude::*;

use crate::regular::{RegularizationReport, regularize};
use crate::time::{EXPECTED_TIMESTAMP, parse_timestamp};
use crate::{DatasetError, LoadOptions, Place};

/// The series and report read from one input.
pub(crate) struct Loaded {
    pub long_format: bool,
    pub series: Vec<crest_core::Series>,
    pub report: RegularizationReport,
}

/// One series' rows: time, value, and the row's index in the input.
type Rows = Vec<(Timestamp, f64, usize)>;

/// One column of cells, as polars gave it to us.
enum Cells {
    Str(StringChunked),
    Int(Int64Chunked),
    Float(Float64Chunked),
    /// Date-times: the integer values, their unit, and the format to report.
    Time(Int64Chunked, TimeUnit, TimeFormat),
}

impl Cells {
    fn from_column(file: &str, col: &Column) -> Result<Cells, DatasetError> {
        let fmt_err = |e: PolarsError| DatasetError::Format {
            file: file.to_string(),
            message: format!("column \"{}\": {e}", col.name()),
        };
        Ok(match col.dtype() {
            DataType::String => Cells::Str(col.str().map_err(fmt_err)?.clone()),
            DataType::Datetime(unit, tz) => {
                let fmt = if tz.is_some() {
                    TimeFormat::Rfc3339 { offset_s: 0 }
                } else {
                    TimeFormat::Naive
                };
                let ints = col.cast(&DataType::Int64).map_err(fmt_err)?;
                Cells::Time(ints.i64().map_err(fmt_err)?.clone(), *unit, fmt)
            }
            d if d.is_float() => {
                let c = col.cast(&DataType::Float64).map_err(fmt_err)?;
                Cells::Float(c.f64().map_err(fmt_err)?.clone())
            }
            d if d.is_integer() => {
                let c = col.cast(&DataType::Int64).map_err(fmt_err)?;
                Cells::Int(c.i64().map_err(fmt_err)?.clone())
            }
            other => {
                return Err(DatasetError::Format {
                    file: file.to_string(),
                    message: format!(
                        "column \"{}\" has type {other}; expected text, numbers or date-times",
                        col.name()
                    ),
                });
            }
        })
    }

    /// The cell as text, for messages and id columns.
    fn text(&self, i: usize) -> Option<String> {
        match self {
            Cells::Str(c) => c.get(i).map(str::to_string),
            Cells::Int(c) | Cells::Time(c, _, _) => c.get(i).map(|v| v.to_string()),
            Cells::Float(c) => c.get(i).map(|v| v.to_string()),
        }
    }
}

/// Run a polars reader, turning its errors (and, should a corrupt file trip
/// one, its panics) into [`DatasetError::Format`]: bad input must never crash crest.
pub(crate) fn guarded(
    file: &str,
    read: impl FnOnce() -> PolarsResult<DataFrame>,
) -> Result<DataFrame, DatasetError> {
    let fail = |message: String| DatasetError::Format {
        file: file.to_string(),
        message,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail("the file's structure could not be decoded".into())),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        let head: String = s.chars().take(40).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// Read a CSV file's bytes.
pub(crate) fn read_csv(
    file: &str,
    bytes: &[u8],
    opts: &LoadOptions,
) -> Result<Loaded, DatasetError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "the file is empty",
        });
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        let at = e.valid_up_to();
        let before = &bytes[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        return Err(DatasetError::NotUtf8 {
            file: file.to_string(),
            place: Place::Line(line),
            col: at - line_start + 1,
            byte: bytes[at],
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.lines().next().is_some_and(crate::wide::is_wide_header)
    {
        let long = crate::wide::wide_to_long(file, text)?;
        return read_csv(file, long.as_bytes(), opts);
    }
    let df = guarded(file, || {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(Cursor::new(bytes))
            .finish()
    })
    .map_err(|e| match ragged_line(bytes) {
        // polars says "found more fields than defined in 'Schema'" without
        // a line: find the line ourselves.
        Some((line, found, header)) => DatasetError::Format {
            file: file.to_string(),
            message: format!(
                "line {line} has {found} fields where the header has {header} \
                 (a stray comma, or a quote left open?)"
            ),
        },
        None => e,
    })?;
    // polars keeps blank lines as all-null rows (skipped in `from_frame`), so
    // data row i sits on line i + 2. (A quoted field spanning lines would shift
    // this; such files are rare for time series.)
    let place = |i: usize| Place::Line(i + 2);
    from_frame(file, &df, &place, opts)
}

/// The first line whose field count differs from the header's, as
/// `(line, fields, header fields)`; quotes (`"a,b"`, `""`) are honoured and
/// blank lines skipped.
fn ragged_line(bytes: &[u8]) -> Option<(usize, usize, usize)> {
    let mut header = None;
    let mut fields = 1;
    let mut in_quotes = false;
    let mut line = 1;
    let mut start_line = 1;
    let mut empty = true;
    for &b in bytes.iter().chain(std::iter::once(&b'\n')) {
        match b {
            b'"' => {
                in_quotes = !in_quotes;
                empty = false;
            }
            b',' if !in_quotes => {
                fields += 1;
                empty = false;
            }
            b'\n' if !in_quotes => {
                if !empty {
                    match header {
                        None => header = Some(fields),
                        Some(h) if h != fields => return Some((start_line, fields, h)),
                        Some(_) => {}
                    }
                }
                line += 1;
                start_line = line;
                fields = 1;
                empty = true;
            }
            b'\n' => line += 1,
            b'\r' | b' ' | b'\t' => {}
            _ => empty = false,
        }
    }
    None
}

/// Read a Parquet file's bytes.
pub(crate) fn read_parquet(
    file: &str,
    bytes: &[u8],
    opts: &LoadOptions,
) -> Result<Loaded, DatasetError> {
    if bytes.is_empty() {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "the file is empty",
        });
    }
    let df =
        guarded(file, || ParquetReader::new(Cursor::new(bytes)).finish()).map_err(|e| match e {
            DatasetError::Format { file, message } => DatasetError::Format {
                file,
                message: format!("not a readable Parquet file: {message}"),
            },
            other => other,
        })?;
    from_frame(file, &df, &|i| Place::Row(i + 1), opts)
}

fn find_column<'a>(df: &'a DataFrame, name: &str) -> Option<&'a Column> {
    df.columns()
        .iter()
        .find(|c| c.name().trim().eq_ignore_ascii_case(name))
}

fn from_frame(
    file: &str,
    df: &DataFrame,
    place: &dyn Fn(usize) -> Place,
    opts: &LoadOptions,
) -> Result<Loaded, DatasetError> {
    let found = || {
        df.columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let missing = |column: &str| DatasetError::MissingColumn {
        file: file.to_string(),
        column: column.to_string(),
        found: found(),
    };
    let tcol = find_column(df, "timestamp").ok_or_else(|| missing("timestamp"))?;
    let vcol = find_column(df, "value").ok_or_else(|| missing("value"))?;
    let icol = find_column(df, "series_id");
    if df.height() == 0 {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "no data rows after the header",
        });
    }
    let tcells = Cells::from_column(file, tcol)?;
    let vcells = Cells::from_column(file, vcol)?;
    let icells = icol.map(|c| Cells::from_column(file, c)).transpose()?;

    let parse_err =
        |i: usize, column: &str, found: String, expected: &'static str| DatasetError::Parse {
            file: file.to_string(),
            place: place(i),
            column: column.to_string(),
            found: shorten(&found),
            expected,
        };

    // Rows grouped per series, in order of first appearance.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(String, TimeFormat, Rows)> = Vec::new();
    let blank = |c: &Cells, i: usize| c.text(i).is_none_or(|s| s.trim().is_empty());
    for i in 0..df.height() {
        if blank(&tcells, i) && blank(&vcells, i) && icells.as_ref().is_none_or(|c| blank(c, i)) {
            continue; // a blank line
        }
        let id = match &icells {
            None => String::new(),
            Some(c) => match c.text(i) {
                Some(s) if !s.trim().is_empty() => s.trim().to_string(),
                _ => {
                    return Err(parse_err(i, "series_id", String::new(), "a series id"));
                }
            },
        };
        let (t, fmt) = match &tcells {
            Cells::Str(c) => {
                let s = c.get(i).unwrap_or("");
                parse_timestamp(s)
                    .ok_or_else(|| parse_err(i, "timestamp", s.to_string(), EXPECTED_TIMESTAMP))?
            }
            Cells::Int(c) => match c.get(i) {
                Some(s) => (Timestamp::from_secs(s), TimeFormat::EpochSeconds),
                None => return Err(parse_err(i, "timestamp", String::new(), EXPECTED_TIMESTAMP)),
            },
            Cells::Time(c, unit, fmt) => match c.get(i) {
                Some(v) => {
                    let ms = match unit {
                        TimeUnit::Nanoseconds => v.div_euclid(1_000_000),
                        TimeUnit::Microseconds => v.div_euclid(1_000),
                        TimeUnit::Milliseconds => v,
                    };
                    (Timestamp::from_millis(ms), *fmt)
                }
                None => return Err(parse_err(i, "timestamp", String::new(), EXPECTED_TIMESTAMP)),
            },
            Cells::Float(c) => {
                let s = c.get(i).map(|v| v.to_string()).unwrap_or_default();
                return Err(parse_err(i, "timestamp", s, EXPECTED_TIMESTAMP));
            }
        };
        let v = match &vcells {
            Cells::Float(c) => c.get(i).unwrap_or(f64::NAN),
            Cells::Int(c) => c.get(i).map_or(f64::NAN, |v| v as f64),
            Cells::Str(c) => {
                let s = c.get(i).unwrap_or("").trim();
                match s {
                    "" | "NaN" | "nan" | "NA" | "N/A" | "null" | "NULL" => f64::NAN,
                    _ => match s.parse::<f64>() {
                        Ok(x) if x.is_finite() => x,
                        _ => return Err(parse_err(i, "value", s.to_string(), "a finite number")),
                    },
                }
            }
            Cells::Time(..) => {
                let s = vcells.text(i).unwrap_or_default();
                return Err(parse_err(i, "value", s, "a number"));
            }
        };
        if v.is_infinite() {
            return Err(parse_err(i, "value", v.to_string(), "a finite number"));
        }
        if v.abs() > crest_core::bounds::MAX_ABS_VALUE {
            return Err(parse_err(
                i,
                "value",
                crest_core::bounds::show(v),
                "a number of magnitude at most 1e15",
            ));
        }
        let g = *index.entry(id.clone()).or_insert_with(|| {
            groups.push((id.clone(), fmt, Vec::new()));
            groups.len() - 1
        });
        groups[g].2.push((t, v, i));
    }

    if groups.is_empty() {
        return Err(DatasetError::Empty {
            file: file.to_string(),
            what: "no data rows after the header",
        });
    }
    let mut series = Vec::with_capacity(groups.len());
    let mut reports = Vec::with_capacity(groups.len());
    for (id, fmt, mut rows) in groups {
        rows.sort_by_key(|r| r.0);
        // The duplicate reported is the one whose second occurrence comes first in the file.
        let dup = rows
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| (w[0].2.min(w[1].2), w[0].2.max(w[1].2), w[0].0))
            .min_by_key(|d| d.1);
        if let Some((first, second, t)) = dup {
            return Err(DatasetError::Duplicate {
                file: file.to_string(),
                place: place(second),
                first: place(first),
                found: tcells.text(second).unwrap_or_else(|| t.format(fmt)),
                series: if id.is_empty() {
                    String::new()
                } else {
                    format!(" in series \"{id}\"")
                },
            });
        }
        let points: Vec<(Timestamp, f64)> = rows.iter().map(|r| (r.0, r.1)).collect();
        let (s, r) = regularize(file, &id, &points, opts.step_s, opts.fill, fmt)?;
        series.push(s);
        reports.push(r);
    }
    Ok(Loaded {
        long_format: icells.is_some(),
        series,
        report: RegularizationReport {
            fill: opts.fill,
            series: reports,
        },
    })
}
