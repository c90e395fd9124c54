//! The one error type of `crest-datasets`.
//!
//! Every message names the file (or the bundled data set), and where it can the
//! line (CSV) or row (Parquet) and the column, and says what was expected and
//! what was found: a user fixing a 10,000-line export must be able to jump
//! straight to the bad cell.

use std::fmt;
use std::path::PathBuf;

/// Where in an input a problem sits: a CSV line (1-based, the header is line 1)
/// or a Parquet row (1-based, data rows only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Line of a text file.
    Line(usize),
    /// Row of a columnar file.
    Row(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Everything that can go wrong while loading, regularizing or resampling data
/// and while reading calendars.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file could not be opened or read.
    #[error("failed to read {file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file has no bytes, or a header and no data rows.
    #[error("failed to read {file}: {what}")]
    Empty {
        /// The file.
        file: String,
        /// "the file is empty" or "no data rows after the header".
        what: &'static str,
    },
    /// A byte sequence that is not UTF-8.
    #[error(
        "failed to read {file}: {place}, column {col}: invalid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
    )]
    NotUtf8 {
        /// The file.
        file: String,
        /// Where.
        place: Place,
        /// 1-based byte column within the line.
        col: usize,
        /// The first offending byte.
        byte: u8,
    },
    /// A required column is absent.
    #[error(
        "failed to read {file}: missing column \"{column}\" (found columns: {found}; expected timestamp,value or series_id,timestamp,value)"
    )]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column.
        column: String,
        /// The columns that are there, comma-separated.
        found: String,
    },
    /// A cell could not be parsed.
    #[error(
        "failed to read {file}: {place}, column \"{column}\": cannot parse \"{found}\" as {expected}"
    )]
    Parse {
        /// The file.
        file: String,
        /// Where.
        place: Place,
        /// The column.
        column: String,
        /// The cell's text (shortened if long).
        found: String,
        /// What was expected, e.g. "a number".
        expected: &'static str,
    },
    /// A timestamp appears twice in one series.
    #[error(
        "failed to read {file}: {place}, column \"timestamp\": duplicate timestamp \"{found}\" (first seen on {first}){series}"
    )]
    Duplicate {
        /// The file.
        file: String,
        /// The second occurrence.
        place: Place,
        /// The first occurrence.
        first: Place,
        /// The timestamp's text.
        found: String,
        /// `" in series \"x\""` for long files, empty otherwise.
        series: String,
    },
    /// The sampling interval cannot be found.
    #[error("failed to detect the sampling interval of {file}{series}: {why}")]
    Interval {
        /// The file.
        file: String,
        /// `" series \"x\""` for long files, empty otherwise.
        series: String,
        /// Why.
        why: String,
    },
    /// polars could not parse the file's structure (quoting, ragged rows, corrupt Parquet).
    #[error("failed to read {file}: {message}")]
    Format {
        /// The file.
        file: String,
        /// polars' description.
        message: String,
    },
    /// A request that makes no sense for this series (e.g. resampling 30 min to 45 min).
    #[error("failed to {action}: {why}")]
    Invalid {
        /// What was attempted.
        action: String,
        /// Why it cannot be done.
        why: String,
    },
    /// No bundled data set or file by that name.
    #[error("failed to find data set \"{name}\": not a bundled name ({known}) and no such file")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// The bundled names.
        known: String,
    },
    /// A calendar file or spec is wrong.
    #[error("failed to read calendar {file}: {}{why}", location(.place, .field))]
    Calendar {
        /// The file (or the spec).
        file: String,
        /// `"line N"`, or empty when not known.
        place: String,
        /// The field (TOML key or CSV column), or empty.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// A known-future regressor has no value at a step the forecast needs.
    #[error(
        "failed to read regressors {file}: column \"{column}\" has no value for {at} (the file covers {covered}); a forecast needs every regressor known over the whole horizon"
    )]
    MissingRegressor {
        /// The file (or bundled name).
        file: String,
        /// The column.
        column: String,
        /// The first step without a value, as the series writes times.
        at: String,
        /// The span of the file's rows.
        covered: String,
    },
    /// A core type rejected a value.
    #[error("failed to build a series for {file}: {source}")]
    Core {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: crest_core::CoreError,
    },
}

/// `"line 3, field \"date\": "`, `"field \"date\": "`, `"line 3: "` or `""`.
fn location(place: &str, field: &str) -> String {
    match (place.is_empty(), field.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("{place}: "),
        (true, false) => format!("field \"{field}\": "),
        (false, false) => format!("{place}, field \"{field}\": "),
    }
}
