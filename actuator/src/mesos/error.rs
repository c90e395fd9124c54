//! Errors of the Mesos framework, and how they map onto [`SeamError`] kinds.

use crest_core::seams::{SeamError, SeamErrorKind};
use thiserror::Error;

use super::recordio::RecordIoError;

/// What went wrong talking to a Mesos master.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MesosError {
    /// The master URL could not be used.
    #[error("failed to use master url {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// TCP connect or HTTP handshake failed.
    #[error("failed to connect to mesos master at {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
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
    /// Redirects went round in circles.
    #[error("failed to find the leading master: more than {max} redirects, last to {last}")]
    TooManyRedirects {
        /// Limit.
        max: u32,
        /// Last location.
        last: String,
    },
    /// A SUBSCRIBE answer lacked the `Mesos-Stream-Id` header.
    #[error("failed to subscribe: master at {addr} sent no Mesos-Stream-Id header")]
    NoStreamId {
        /// `host:port`.
        addr: String,
    },
    /// The event stream broke its framing.
    #[error("failed to decode the event stream from {addr}")]
    RecordIo {
        /// `host:port`.
        addr: String,
        /// Cause.
        #[source]
        source: RecordIoError,
    },
    /// An event was not the JSON the protocol describes.
    #[error("failed to parse event from {addr}: {detail}")]
    BadEvent {
        /// `host:port`.
        addr: String,
        /// What was wrong (serde's message or the missing field).
        detail: String,
    },
    /// The first event was not SUBSCRIBED.
    #[error("failed to subscribe: expected a SUBSCRIBED event first, got {got}")]
    NotSubscribed {
        /// What came instead.
        got: String,
    },
    /// The master sent an ERROR event.
    #[error("mesos master reported an error: {message}")]
    MasterError {
        /// Its message.
        message: String,
    },
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
    /// A call did not complete in time.
    #[error("failed to send {call} call: no answer within {waited_ms} ms")]
    Timeout {
        /// The call type.
        call: String,
        /// How long we waited.
        waited_ms: i64,
    },
    /// The event stream ended.
    #[error("event stream from {addr} ended")]
    StreamClosed {
        /// `host:port`.
        addr: String,
    },
    /// The framework is not subscribed (no stream id) or has shut down.
    #[error("failed to {what}: the framework is not subscribed to a master")]
    Disconnected {
        /// What was being done.
        what: &'static str,
    },
    /// An action named an app this framework was not configured with.
    #[error("failed to scale {app}: no mesos app spec configured for it")]
    UnknownApp {
        /// The app.
        app: String,
    },
    /// An action this backend does not carry out.
    #[error("failed to apply {action}: the mesos backend only handles set_replicas")]
    Unsupported {
        /// The action.
        action: String,
    },
}

impl MesosError {
    /// The seam error kind for this failure.
    pub fn kind(&self) -> SeamErrorKind {
        match self {
            MesosError::BadUrl { .. } | MesosError::Unsupported { .. } => SeamErrorKind::Rejected,
            MesosError::UnknownApp { .. } => SeamErrorKind::NotFound,
            MesosError::Status { status, .. } if *status == 429 => SeamErrorKind::RateLimited,
            MesosError::Status { status, .. } if (400..500).contains(status) && *status != 403 => {
                SeamErrorKind::Rejected
            }
            MesosError::RecordIo { .. }
            | MesosError::BadEvent { .. }
            | MesosError::NoStreamId { .. }
            | MesosError::NotSubscribed { .. } => SeamErrorKind::Protocol,
            _ => SeamErrorKind::Unavailable,
        }
    }
}

impl From<MesosError> for SeamError {
    fn from(e: MesosError) -> Self {
        SeamError::new("mesos", e.kind(), e.to_string()).with_source(e)
    }
}
