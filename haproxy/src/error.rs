//! The one error type of this crate, and its mapping onto the seam error kinds.

use crest_core::seams::{SeamError, SeamErrorKind};
use thiserror::Error;

/// A failed exchange with HAProxy's runtime API.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HaproxyError {
    /// The socket could not be reached (missing file, refused, reset).
    #[error("failed to talk to haproxy at {addr} while sending {command:?}")]
    Io {
        /// The socket address.
        addr: String,
        /// The command being sent.
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// HAProxy did not answer in time.
    #[error("failed to get an answer from haproxy at {addr} to {command:?} within {timeout_ms} ms")]
    Timeout {
        /// The socket address.
        addr: String,
        /// The command.
        command: String,
        /// The limit.
        timeout_ms: u64,
    },
    /// The backend or server named does not exist.
    #[error("failed to run {command:?}: haproxy says {message:?}")]
    NotFound {
        /// The command.
        command: String,
        /// HAProxy's answer.
        message: String,
    },
    /// HAProxy refused the command (bad argument, wrong state, permission).
    #[error("failed to run {command:?}: haproxy refused it with {message:?}")]
    Refused {
        /// The command.
        command: String,
        /// HAProxy's answer.
        message: String,
    },
    /// A name or argument we were asked to send is not acceptable (would break the line protocol).
    #[error("failed to build a command: invalid {what} {value:?} ({why})")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it was refused.
        why: &'static str,
    },
    /// An answer could not be parsed (missing column, non-numeric field, short line).
    #[error("failed to parse the answer to {command:?} at line {line}: {message}")]
    Parse {
        /// The command.
        command: String,
        /// 1-based line of the answer.
        line: usize,
        /// What was expected and what was found.
        message: String,
    },
}

impl HaproxyError {
    /// The seam error kind: whether a retry could help.
    pub fn kind(&self) -> SeamErrorKind {
        match self {
            HaproxyError::Io { .. } | HaproxyError::Timeout { .. } => SeamErrorKind::Unavailable,
            HaproxyError::NotFound { .. } => SeamErrorKind::NotFound,
            HaproxyError::Refused { .. } | HaproxyError::InvalidArgument { .. } => {
                SeamErrorKind::Rejected
            }
            HaproxyError::Parse { .. } => SeamErrorKind::Protocol,
        }
    }
}

impl From<HaproxyError> for SeamError {
    /// The message carries the whole cause chain (e.g. the OS error), so the
    /// seam error reads completely without walking its sources twice.
    fn from(e: HaproxyError) -> Self {
        let mut message = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cur = c.source();
        }
        SeamError::new("haproxy", e.kind(), message)
    }
}
