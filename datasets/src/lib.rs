//! crest-datasets: history in, regular series out; plus the holiday calendars.
//!
//! Every forecast, plan and simulation in crest starts from a [`Series`] on a
//! regular grid and a [`Calendar`]. This crate is the one edge where messy input
//! (CSV or Parquet exports, gaps, odd timestamp styles, zones, epoch seconds)
//! becomes that clean shape, and it says what it did on the way: the detected
//! interval, every gap and the rule that filled it. Bad input is an error that
//! names the file, the line and the column, never a panic.
//!
//! ```text
//!  CSV / Parquet ──> load (polars, all text) ──> validate row by row ──> regularize ──> Dataset
//!  bundled NAB data (embedded) ─────────────────────────────────────────────^
//!  us | cn | none | events.toml ──> calendar::resolve_calendar ──> Calendar
//! ```
//!
//! Start with [`resolve`] (a bundled name or a path; [`resolve_with`] takes a fill
//! rule), [`summary`], [`resample`] and [`calendar::resolve_calendar`]. Tests that
//! need a crest of known height and place use [`synthetic::crest`] (seeded).
//!
//! ```
//! use crest_datasets::{bundled, resample, summary, Agg, calendar};
//!
//! let taxi = bundled("nyc_taxi")?;
//! let s = &taxi.series[0];
//! assert_eq!(s.step_s(), 1800);
//! assert_eq!(summary(s).points, 10_320);
//!
//! let hourly = resample(s, 3600, Agg::Sum)?;
//! assert_eq!(hourly.len(), 5_160);
//!
//! let cn = calendar::resolve_calendar("cn")?;
//! let d = chrono::NaiveDate::from_ymd_opt(2024, 2, 10).expect("valid date");
//! assert_eq!(cn.holiday_name(d), Some("Spring Festival"));
//! # Ok::<(), crest_datasets::DatasetError>(())
//! ```
//!
//! Data formats: a header with `timestamp,value`, or the long form
//! `series_id,timestamp,value` (column order free, names case-insensitive).
//! Timestamps: RFC 3339 (`2014-07-01T00:30:00Z`, `...+08:00`), naive
//! `2014-07-01 00:30:00` or `2014-07-01T00:30:00` (read as UTC), dates, or epoch
//! seconds. Empty value cells (and `NaN`, `NA`, `null`) are missing observations.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod calendar;
mod error;
mod load;
pub mod points;
pub mod regressors;
mod regular;
pub mod synthetic;
mod time;
mod wide;

use std::path::{Path, PathBuf};

pub use crest_core::{Calendar, Series, TimeFormat, Timestamp};
pub use error::{DatasetError, Place};
pub use regressors::{RegressorTable, parse_regressors, resolve_regressors};
pub use regular::{
    Agg, FillRule, Gap, MAX_SLOTS, RegularizationReport, SeriesReport, Summary, detect_interval,
    fill_missing, human_step, regularize, resample, summary,
};
pub use time::{EXPECTED_TIMESTAMP, parse_timestamp};

/// Where a data set came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Embedded in the binary; the upstream file it was copied from.
    Bundled {
        /// Path in the upstream repository, e.g. `realKnownCause/nyc_taxi.csv`.
        upstream: &'static str,
    },
    /// A file the user gave.
    File(PathBuf),
    /// Text handed to [`load_csv_str`].
    Inline,
    /// A Prometheus range query (pulled, or read back from its cache).
    Prometheus {
        /// The server's base URL.
        url: String,
        /// The PromQL.
        query: String,
    },
}

/// One loaded data set: one or more regular series plus what regularizing did.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Short name: the bundled name or the file stem.
    pub name: String,
    /// Where it came from.
    pub source: Source,
    /// True when the input had a `series_id` column.
    pub long_format: bool,
    /// The series, in order of first appearance in the input.
    pub series: Vec<Series>,
    /// Gaps found and how they were filled, per series.
    pub report: RegularizationReport,
}

/// Options for loading: the fill rule and, optionally, a fixed step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// How missing steps are filled (default: left `NaN`).
    pub fill: FillRule,
    /// Grid step in seconds; `None` detects it (the most common positive difference).
    pub step_s: Option<i64>,
}

struct Bundled {
    name: &'static str,
    upstream: &'static str,
    text: &'static str,
    description: &'static str,
    /// How `text` becomes `timestamp,value` CSV.
    shape: Shape,
}

/// The layout of a bundled file.
#[derive(Clone, Copy)]
enum Shape {
    /// Read as it is (`timestamp,value`, or a wide daily table).
    AsIs,
    /// UCI bike sharing `hour.csv`: `dteday`, `hr` and the total `cnt`.
    BikeHours,
}

impl Bundled {
    fn load(&self, opts: &LoadOptions) -> Result<load::Loaded, DatasetError> {
        match self.shape {
            Shape::AsIs => load::read_csv(self.name, self.text.as_bytes(), opts),
            Shape::BikeHours => {
                let long = bike_hours(self.name, self.text)?;
                load::read_csv(self.name, long.as_bytes(), opts)
            }
        }
    }
}

/// `dteday,hr,…,cnt` rows to `timestamp,value` text (hours with no row stay
/// missing: the grid is regularised after).
fn bike_hours(name: &str, text: &str) -> Result<String, DatasetError> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |c: &str| {
        header
            .iter()
            .position(|h| *h == c)
            .ok_or_else(|| DatasetError::MissingColumn {
                file: name.to_string(),
                column: c.to_string(),
                found: header.join(","),
            })
    };
    let (d, h, c) = (col("dteday")?, col("hr")?, col("cnt")?);
    let mut out = String::from("timestamp,value\n");
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(day), Some(hour), Some(cnt)) = (f.get(d), f.get(h), f.get(c)) else {
            return Err(DatasetError::Format {
                file: name.to_string(),
                message: format!("line {}: too few cells", i + 2),
            });
        };
        let hour: u32 = hour.trim().parse().map_err(|_| DatasetError::Parse {
            file: name.to_string(),
            place: Place::Line(i + 2),
            column: "hr".into(),
            found: hour.to_string(),
            expected: "an hour 0-23",
        })?;
        out.push_str(&format!("{} {hour:02}:00:00,{}\n", day.trim(), cnt.trim()));
    }
    Ok(out)
}

const BUNDLED: &[Bundled] = &[
    Bundled {
        name: "nyc_taxi",
        upstream: "realKnownCause/nyc_taxi.csv",
        text: include_str!("../data/nab/nyc_taxi.csv"),
        description: "NYC taxi passengers per 30 min, 2014-07-01 .. 2015-01-31 (NAB)",
        shape: Shape::AsIs,
    },
    Bundled {
        name: "elb_requests",
        upstream: "realAWSCloudwatch/elb_request_count_8c0756.csv",
        text: include_str!("../data/nab/elb_request_count_8c0756.csv"),
        description: "AWS ELB request count per 5 min, 2014-04-10 .. 2014-04-24 (NAB)",
        shape: Shape::AsIs,
    },
    Bundled {
        name: "china_load_area1",
        upstream: "Electricity_Load_Forecast data/Area1_Load.csv (2016 CSEE contest, problem A)",
        text: include_str!("../data/china-load/Area1_Load.csv"),
        description: "Chinese regional electric load (Area 1, MW) per 15 min, 2009-01-01 .. 2015-01-10; six Spring Festivals",
        shape: Shape::AsIs,
    },
    Bundled {
        name: "bike_sharing",
        upstream: "UCI Bike Sharing Dataset hour.csv (cnt)",
        text: include_str!("../data/bike-sharing/hour.csv"),
        description: "Capital Bikeshare (Washington D.C.) rentals per hour, 2011-01-01 .. 2012-12-31 (UCI)",
        shape: Shape::BikeHours,
    },
];

const NAMES: &[&str] = &[
    "nyc_taxi",
    "elb_requests",
    "china_load_area1",
    "bike_sharing",
];

/// Daily weather of the bundled `china_load_area1` (2012-01-01 .. 2015-01-17):
/// `YMD,Max_Temperature,Min_Temperature,Avg_Temperature,Avg_Humidity,Rainfall`,
/// the known-future regressors the load forecast can take.
pub const CHINA_LOAD_AREA1_WEATHER: &str = include_str!("../data/china-load/Area1_Weather.csv");

const WINDOWS_JSON: &str = include_str!("../data/nab/anomaly_windows.json");

/// Names of the data sets embedded in crest.
pub fn bundled_names() -> &'static [&'static str] {
    NAMES
}

/// A one-line description of a bundled data set.
pub fn bundled_description(name: &str) -> Option<&'static str> {
    BUNDLED
        .iter()
        .find(|b| b.name == name)
        .map(|b| b.description)
}

fn unknown(name: &str) -> DatasetError {
    DatasetError::UnknownDataset {
        name: name.to_string(),
        known: NAMES.join(", "),
    }
}

/// Load a bundled data set by name (see [`bundled_names`]).
///
/// # Errors
/// [`DatasetError::UnknownDataset`] for a name that is not bundled.
pub fn bundled(name: &str) -> Result<Dataset, DatasetError> {
    let b = BUNDLED
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| unknown(name))?;
    let l = b.load(&LoadOptions::default())?;
    Ok(Dataset {
        name: b.name.to_string(),
        source: Source::Bundled {
            upstream: b.upstream,
        },
        long_format: l.long_format,
        series: l.series,
        report: l.report,
    })
}

/// The labelled anomaly windows (NAB's `combined_windows.json`) of a bundled data
/// set, as `(start, end)` pairs; empty for unknown names.
pub fn anomaly_windows(name: &str) -> Vec<(Timestamp, Timestamp)> {
    #[derive(serde::Deserialize)]
    struct Entry {
        windows: Vec<(String, String)>,
    }
    let Ok(all) = serde_json::from_str::<std::collections::BTreeMap<String, Entry>>(WINDOWS_JSON)
    else {
        return Vec::new();
    };
    all.get(name)
        .map(|e| {
            e.windows
                .iter()
                .filter_map(|(a, b)| Some((parse_timestamp(a)?.0, parse_timestamp(b)?.0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Load CSV text (e.g. from a test or stdin); `name` is used in messages.
///
/// # Errors
/// Any [`DatasetError`] describing bad input, naming `name`, the line and the column.
pub fn load_csv_str(name: &str, text: &str) -> Result<Dataset, DatasetError> {
    load_csv_str_with(name, text, &LoadOptions::default())
}

/// [`load_csv_str`] with options.
///
/// # Errors
/// As [`load_csv_str`].
pub fn load_csv_str_with(
    name: &str,
    text: &str,
    opts: &LoadOptions,
) -> Result<Dataset, DatasetError> {
    let l = load::read_csv(name, text.as_bytes(), opts)?;
    Ok(Dataset {
        name: name.to_string(),
        source: Source::Inline,
        long_format: l.long_format,
        series: l.series,
        report: l.report,
    })
}

/// Load a CSV or Parquet file (by extension `.parquet`/`.pq`, or by the Parquet
/// magic bytes; anything else is read as CSV), missing steps left `NaN`.
///
/// # Errors
/// [`DatasetError::Io`] when the file cannot be read, or any error describing bad
/// input with the file, line (row) and column.
pub fn load_path(path: &Path) -> Result<Dataset, DatasetError> {
    load_path_with(path, &LoadOptions::default())
}

/// [`load_path`] with options (fill rule, fixed step).
///
/// # Errors
/// As [`load_path`].
pub fn load_path_with(path: &Path, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let parquet = matches!(ext.as_deref(), Some("parquet" | "pq")) || bytes.starts_with(b"PAR1");
    let l = if parquet {
        load::read_parquet(&file, &bytes, opts)?
    } else {
        load::read_csv(&file, &bytes, opts)?
    };
    let name = path
        .file_stem()
        .map_or_else(|| file.clone(), |s| s.to_string_lossy().into_owned());
    Ok(Dataset {
        name,
        source: Source::File(path.to_path_buf()),
        long_format: l.long_format,
        series: l.series,
        report: l.report,
    })
}

/// A bundled name first, then a file path.
///
/// # Errors
/// [`DatasetError::UnknownDataset`] when it is neither; otherwise as [`load_path`].
pub fn resolve(name_or_path: &str) -> Result<Dataset, DatasetError> {
    resolve_with(name_or_path, &LoadOptions::default())
}

/// [`resolve`] with options (bundled data are regular already; the fill rule
/// applies to files, and a fixed step to both).
///
/// # Errors
/// As [`resolve`].
pub fn resolve_with(name_or_path: &str, opts: &LoadOptions) -> Result<Dataset, DatasetError> {
    if let Some(b) = BUNDLED.iter().find(|b| b.name == name_or_path) {
        let l = b.load(opts)?;
        return Ok(Dataset {
            name: b.name.to_string(),
            source: Source::Bundled {
                upstream: b.upstream,
            },
            long_format: l.long_format,
            series: l.series,
            report: l.report,
        });
    }
    let p = Path::new(name_or_path);
    if !p.exists() {
        return Err(unknown(name_or_path));
    }
    load_path_with(p, opts)
}

#[cfg(test)]
mod tests;
