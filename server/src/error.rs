//! The crate's one error enum.
//!
//! Configuration problems are collected, not reported one at a time: an
//! operator fixing a config file wants every mistake (field and line) in one
//! go. Store errors keep the SQLite cause so the log says what the disk said.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted field path, e.g. `apps.flight-search.max_replicas`.
    pub field: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Everything that can go wrong in crest-server.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The config file could not be read.
    #[error("failed to read config file {file}")]
    ReadConfig {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid TOML or does not fit the schema.
    #[error("failed to parse config file {file}: {message}")]
    ParseConfig {
        /// The file.
        file: String,
        /// The parser's message (it names the line and column).
        message: String,
    },
    /// The config parsed but some values are invalid.
    #[error("failed to validate config file {file}: {}", format_problems(problems))]
    InvalidConfig {
        /// The file.
        file: String,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
    },
    /// Another server holds the state database's lease (`server_lease`).
    #[error(
        "failed to open the state database {path}: another crest serve holds it (pid {pid} on {host}, since {since}, lease until {until}); stop that server first (a server that died on another host frees it when the lease expires)"
    )]
    Leased {
        /// The database file.
        path: PathBuf,
        /// The holder's process id.
        pid: i64,
        /// The holder's host name.
        host: String,
        /// When it took the lease (RFC 3339).
        since: String,
        /// When the lease expires unless renewed (RFC 3339).
        until: String,
    },
    /// The state database could not be opened or migrated.
    #[error("failed to open the state database {path}")]
    OpenDb {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// An HTTP client request (load generator, tests) failed.
    #[error("failed to {what}: {message}")]
    Http {
        /// What was being done.
        what: String,
        /// The cause, as text.
        message: String,
    },
    /// Binding or serving the listener failed.
    #[error("failed to {what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn format_problems(problems: &[ConfigProblem]) -> String {
    let mut s = format!("{} problem(s)", problems.len());
    for p in problems {
        s.push_str("\n  ");
        s.push_str(&p.to_string());
    }
    s
}
