//! The crate's one error enum, and its mapping onto the seam error.
//!
//! Library callers get [`ActuatorError`] with the file, table or backend that
//! failed; the `Actuator` seam speaks [`SeamError`], whose kind tells the
//! autoscaler whether a retry can help.

use std::path::PathBuf;

use crest_core::seams::{SeamError, SeamErrorKind};
use thiserror::Error;

#[cfg(feature = "mesos")]
use crate::mesos::recordio::RecordIoError;

/// Everything that can go wrong in crest-actuator: journal, config, files,
/// backends, and (feature `mesos`) talking to a Mesos master.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ActuatorError {
    /// The SQLite journal could not be opened, read or written.
    #[error("failed to {what} in journal {path}")]
    Journal {
        /// What was being done.
        what: String,
        /// The journal file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// A journal row did not parse.
    #[error("failed to read journal {path}: row {row}: {message}")]
    JournalCorrupt {
        /// The journal file.
        path: PathBuf,
        /// The row (instance id or sequence number).
        row: String,
        /// What was wrong.
        message: String,
    },
    /// A backend call failed (after retries).
    #[error("failed to {what}")]
    Backend {
        /// What was being done.
        what: String,
        /// The seam error.
        #[source]
        source: SeamError,
    },
    /// The configuration file did not parse or validate.
    #[error("failed to load config {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Every problem found, one per line.
        message: String,
    },
    /// A file could not be read or written.
    #[error("failed to {what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "mesos")]
    /// The master URL could not be used.
    #[error("failed to use master url {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    #[cfg(feature = "mesos")]
    /// TCP connect or HTTP handshake failed.
    #[error("failed to connect to mesos master at {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "mesos")]
    /// The HTTP exchange failed mid-way.
    #[error("failed to {what} with mesos master at {addr}")]
    Http {
        /// What was being done.
        what: &'static str,
        /// `host:port`.
        addr: String,
        /// Cause.
        #[source]
        source: hyper::Error,
    },
    #[cfg(feature = "mesos")]
    /// The master answered with an unexpected status.
    #[error("failed to send {call} call: master at {addr} answered {status}: {body}")]
    Status {
        /// The call type.
        call: String,
        /// `host:port`.
        addr: String,
        /// HTTP status code.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    #[cfg(feature = "mesos")]
    /// 307 from a non-leading master; the leader is now `location`.
    #[error(
        "failed to send {call} call: master at {addr} is not the leader (redirected to {location})"
    )]
    Redirected {
        /// The call type.
        call: String,
        /// Master that redirected.
        addr: String,
        /// Where it pointed.
        location: String,
    },
    #[cfg(feature = "mesos")]
    /// Redirects went round in circles.
    #[error("failed to find the leading master: more than {max} redirects, last to {last}")]
    TooManyRedirects {
        /// Limit.
        max: u32,
        /// Last location.
        last: String,
    },
    #[cfg(feature = "mesos")]
    /// A SUBSCRIBE answer lacked the `Mesos-Stream-Id` header.
    #[error("failed to subscribe: master at {addr} sent no Mesos-Stream-Id header")]
    NoStreamId {
        /// `host:port`.
        addr: String,
    },
    #[cfg(feature = "mesos")]
    /// The event stream broke its framing.
    #[error("failed to decode the event stream from {addr}")]
    RecordIo {
        /// `host:port`.
        addr: String,
        /// Cause.
        #[source]
        source: RecordIoError,
    },
    #[cfg(feature = "mesos")]
    /// An event was not the JSON the protocol describes.
    #[error("failed to parse event from {addr}: {detail}")]
    BadEvent {
        /// `host:port`.
        addr: String,
        /// What was wrong (serde's message or the missing field).
        detail: String,
    },
    #[cfg(feature = "mesos")]
    /// The first event was not SUBSCRIBED.
    #[error("failed to subscribe: expected a SUBSCRIBED event first, got {got}")]
    NotSubscribed {
        /// What came instead.
        got: String,
    },
    #[cfg(feature = "mesos")]
    /// The master sent an ERROR event.
    #[error("mesos master reported an error: {message}")]
    MasterError {
        /// Its message.
        message: String,
    },
    #[cfg(feature = "mesos")]
    /// The master answered 401: credentials missing or refused.
    #[error(
        "failed to send {call} call: master at {addr} answered 401 Unauthorized ({})",
        if *sent_credentials { "the principal and secret given were refused" } else { "it requires HTTP authentication: set mesos.principal and a secret" }
    )]
    Unauthorized {
        /// The call type.
        call: String,
        /// `host:port`.
        addr: String,
        /// Whether credentials were sent.
        sent_credentials: bool,
    },
    #[cfg(feature = "mesos")]
    /// TLS could not be set up.
    #[error("failed to set up TLS to the mesos master: {detail}")]
    Tls {
        /// What was wrong.
        detail: String,
    },
    #[cfg(feature = "mesos")]
    /// The framework settings cannot work with a real master.
    #[error("failed to start the mesos framework: {field}: {problem}")]
    BadFrameworkConfig {
        /// The setting.
        field: &'static str,
        /// Why.
        problem: String,
    },
    #[cfg(feature = "mesos")]
    /// No event (not even HEARTBEAT) within the allowed window.
    #[error(
        "failed to hear from the master: no event for {waited_ms} ms ({missed} heartbeats missed)"
    )]
    HeartbeatMissed {
        /// How long we waited.
        waited_ms: i64,
        /// Heartbeats that should have arrived.
        missed: u32,
    },
    #[cfg(feature = "mesos")]
    /// A call did not complete in time.
    #[error("failed to send {call} call: no answer within {waited_ms} ms")]
    Timeout {
        /// The call type.
        call: String,
        /// How long we waited.
        waited_ms: i64,
    },
    #[cfg(feature = "mesos")]
    /// The event stream ended.
    #[error("event stream from {addr} ended")]
    StreamClosed {
        /// `host:port`.
        addr: String,
    },
    #[cfg(feature = "mesos")]
    /// The framework is not subscribed (no stream id) or has shut down.
    #[error("failed to {what}: the framework is not subscribed to a master")]
    Disconnected {
        /// What was being done.
        what: &'static str,
    },
    #[cfg(feature = "mesos")]
    /// An action named an app this framework was not configured with.
    #[error("failed to scale {app}: no mesos app spec configured for it")]
    UnknownApp {
        /// The app.
        app: String,
    },
    #[cfg(feature = "mesos")]
    /// An action this backend does not carry out.
    #[error("failed to apply {action}: the mesos backend only handles set_replicas")]
    Unsupported {
        /// The action.
        action: String,
    },
}

impl ActuatorError {
    /// A backend failure while doing `what`.
    pub fn backend(what: impl Into<String>, source: SeamError) -> Self {
        ActuatorError::Backend {
            what: what.into(),
            source,
        }
    }

    /// The seam error kind of a Mesos failure; `None` for the others.
    #[cfg(feature = "mesos")]
    pub fn mesos_kind(&self) -> Option<SeamErrorKind> {
        use ActuatorError as E;
        Some(match self {
            E::Journal { .. }
            | E::JournalCorrupt { .. }
            | E::Backend { .. }
            | E::Config { .. }
            | E::Io { .. } => return None,
            E::BadUrl { .. }
            | E::Unsupported { .. }
            | E::Unauthorized { .. }
            | E::Tls { .. }
            | E::BadFrameworkConfig { .. } => SeamErrorKind::Rejected,
            E::UnknownApp { .. } => SeamErrorKind::NotFound,
            E::Status { status, .. } if *status == 429 => SeamErrorKind::RateLimited,
            E::Status { status, .. } if (400..500).contains(status) && *status != 403 => {
                SeamErrorKind::Rejected
            }
            E::RecordIo { .. }
            | E::BadEvent { .. }
            | E::NoStreamId { .. }
            | E::NotSubscribed { .. } => SeamErrorKind::Protocol,
            _ => SeamErrorKind::Unavailable,
        })
    }

    /// Turn this into the seam's error, keeping whether a retry can help.
    pub fn into_seam(self) -> SeamError {
        #[cfg(feature = "mesos")]
        if let Some(kind) = self.mesos_kind() {
            let msg = self.to_string();
            return SeamError::new("mesos", kind, msg).with_source(self);
        }
        match self {
            ActuatorError::Backend { what, source } => SeamError {
                backend: source.backend,
                kind: source.kind,
                message: format!("failed to {what}: {}", source.message),
                source: source.source,
            },
            other => {
                let msg = other.to_string();
                SeamError::new("actuator", SeamErrorKind::Rejected, msg).with_source(other)
            }
        }
    }
}

impl From<ActuatorError> for SeamError {
    fn from(e: ActuatorError) -> Self {
        e.into_seam()
    }
}
