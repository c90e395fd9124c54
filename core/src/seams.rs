//! The seams between deciding and doing: `Actuator`, `MetricsSource`,
//! `LoadBalancer` (and [`crate::Clock`]).
//!
//! The autoscaler is generic over these traits. The simulator implements them
//! over its modelled fleet (futures that are ready at once); production
//! implements them over containerd, Mesos, HAProxy and Prometheus. A policy that
//! passed the simulator is therefore the very code that runs in production.
//!
//! All seam methods return `impl Future + Send` so that implementations can be
//! async in production and synchronous in the simulator without boxing.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::{Action, AppId, Replicas, Timestamp, action::InstanceId};

/// What kind of failure a seam call met; decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SeamErrorKind {
    /// The backend could not be reached or timed out; a retry may help.
    Unavailable,
    /// The backend is rate limiting; retry after a delay.
    RateLimited,
    /// The thing named does not exist.
    NotFound,
    /// The request was invalid or refused; retrying will not help.
    Rejected,
    /// The backend answered with something we could not understand.
    Protocol,
    /// Resources ran out (no IPs left, no offers); a retry may help later.
    Exhausted,
}

/// A failed call through a seam.
#[derive(Debug)]
pub struct SeamError {
    /// Which backend (e.g. "containerd", "haproxy", "sim").
    pub backend: &'static str,
    /// What kind of failure.
    pub kind: SeamErrorKind,
    /// What was being done and what went wrong.
    pub message: String,
    /// The underlying cause, if any.
    pub source: Option<Box<dyn StdError + Send + Sync>>,
}

impl SeamError {
    /// A new error without a cause.
    pub fn new(backend: &'static str, kind: SeamErrorKind, message: impl Into<String>) -> Self {
        SeamError {
            backend,
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            SeamErrorKind::Unavailable | SeamErrorKind::RateLimited | SeamErrorKind::Exhausted
        )
    }
}

impl fmt::Display for SeamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend, self.message)
    }
}

impl StdError for SeamError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// Lifecycle state of one instance as the actuator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstancePhase {
    /// Requested, not serving yet (scheduling, image pull, boot).
    Starting,
    /// Serving traffic.
    Running,
    /// Taking no new requests; finishing in-flight ones.
    Draining,
    /// Failed and not serving.
    Failed,
}

/// One instance of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    /// Its id.
    pub id: InstanceId,
    /// Its phase.
    pub phase: InstancePhase,
    /// Address it serves on, once known.
    #[serde(default)]
    pub addr: Option<String>,
}

/// What an app's fleet looks like now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetState {
    /// The app.
    pub app: AppId,
    /// When observed.
    pub at: Timestamp,
    /// The count last asked for.
    pub desired: Replicas,
    /// Instances per phase.
    pub instances: Vec<InstanceState>,
}

impl FleetState {
    /// Instances in a phase.
    pub fn count(&self, phase: InstancePhase) -> u32 {
        let n = self.instances.iter().filter(|i| i.phase == phase).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Serving instances.
    pub fn running(&self) -> Replicas {
        Replicas(self.count(InstancePhase::Running))
    }

    /// Running plus starting: what the fleet will be once starts complete.
    pub fn provisioned(&self) -> Replicas {
        Replicas(self.count(InstancePhase::Running) + self.count(InstancePhase::Starting))
    }
}

/// The outcome of applying an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The action applied.
    pub action: Action,
    /// False when the world already matched (idempotent no-op).
    pub changed: bool,
    /// Human-readable detail (e.g. "started 12 containers").
    pub detail: String,
}

/// Carries out actions on a fleet.
pub trait Actuator: Send + Sync {
    /// Observe an app's fleet.
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send;
    /// Apply an action. Idempotent: applying the same action twice equals applying it once.
    fn apply(&self, action: &Action) -> impl Future<Output = Result<Applied, SeamError>> + Send;
}

/// Live measurements of an app, as policies consume them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// When measured.
    pub at: Timestamp,
    /// Arriving requests per second.
    pub demand_rps: f64,
    /// Completed requests per second.
    pub throughput_rps: f64,
    /// p99 latency over the last interval, ms (NaN if unknown).
    pub p99_ms: f64,
    /// Fraction of requests that failed or were dropped (0..1).
    pub error_rate: f64,
    /// Mean utilisation of serving instances (0..1, busy fraction).
    pub utilisation: f64,
    /// Serving instances.
    pub running: u32,
}

/// Where policies read live metrics from.
pub trait MetricsSource: Send + Sync {
    /// The latest metrics for an app.
    fn sample(&self, app: &AppId) -> impl Future<Output = Result<Metrics, SeamError>> + Send;
}

/// Administrative state of a load-balancer server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerAdminState {
    /// Taking traffic.
    Ready,
    /// No new sessions; existing ones finish.
    Drain,
    /// Out of rotation (maintenance).
    Maint,
}

/// Per-server statistics from a load balancer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerStats {
    /// Server name.
    pub name: String,
    /// Current weight (HAProxy: 0-256).
    pub weight: u16,
    /// Status text as the balancer reports it (e.g. "UP", "DRAIN", "MAINT").
    pub status: String,
    /// Current sessions.
    pub scur: u64,
    /// Queued requests.
    pub qcur: u64,
    /// Sessions per second over the last second.
    pub rate: u64,
    /// Total requests (or sessions) so far.
    pub req_tot: u64,
    /// Average response time over recent requests, ms (not a percentile).
    pub rtime_ms: u64,
    /// Average total time over recent requests, ms (not a percentile).
    pub ttime_ms: u64,
    /// HTTP 5xx responses so far.
    pub hrsp_5xx: u64,
    /// Connection errors so far.
    pub econ: u64,
    /// Response errors so far.
    pub eresp: u64,
}

/// A load balancer in front of an app's instances.
pub trait LoadBalancer: Send + Sync {
    /// Stats of every server in a backend.
    fn servers(
        &self,
        backend: &str,
    ) -> impl Future<Output = Result<Vec<ServerStats>, SeamError>> + Send;
    /// Set one server's weight.
    fn set_weight(
        &self,
        backend: &str,
        server: &str,
        weight: u16,
    ) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Set one server's administrative state.
    fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Add a server at `addr` (`ip:port`); it starts in maintenance.
    fn add_server(
        &self,
        backend: &str,
        server: &str,
        addr: &str,
    ) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Remove a server (it must be in maintenance).
    fn remove_server(
        &self,
        backend: &str,
        server: &str,
    ) -> impl Future<Output = Result<(), SeamError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds() {
        assert!(SeamError::new("x", SeamErrorKind::Unavailable, "down").is_retryable());
        assert!(!SeamError::new("x", SeamErrorKind::Rejected, "no").is_retryable());
        let e = SeamError::new("haproxy", SeamErrorKind::Protocol, "bad csv");
        assert_eq!(e.to_string(), "haproxy: bad csv");
    }
}
