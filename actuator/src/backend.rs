//! The two backend capabilities the fleet actuator composes, next to the
//! core `LoadBalancer` seam: a container [`Runtime`] and a container
//! [`Network`].
//!
//! They are small on purpose: each method is one idempotent step that the
//! journal can name, so that after a crash every half-done step can be redone
//! or undone. containerd and CNI implement them for real
//! ([`crate::containerd`], [`crate::cni`]); [`crate::dryrun`] prints them.

use std::collections::BTreeMap;
use std::future::Future;

use crest_core::AppId;
use crest_core::seams::SeamError;

/// Labels crest puts on every container it creates.
pub mod labels {
    /// The app id.
    pub const APP: &str = "crest.app";
    /// The app version (image reference).
    pub const VERSION: &str = "crest.version";
    /// The plan that started it.
    pub const PLAN: &str = "crest.plan";
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Container id (the instance id).
    pub id: String,
    /// The app.
    pub app: AppId,
    /// The plan, if any.
    pub plan_id: Option<String>,
}

/// Whether a container's task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskStatus {
    /// No task (created container only, or task deleted).
    None,
    /// Task created, not started.
    Created,
    /// Running.
    Running,
    /// Exited (or paused, unknown): not serving.
    Stopped,
}

/// A container as the runtime holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeInstance {
    /// Container id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its task.
    pub status: TaskStatus,
    /// The task's pid, when there is a task.
    pub pid: Option<u32>,
}

/// A container runtime: create, start, stop, remove, list.
pub trait Runtime: Send + Sync + 'static {
    /// Backend name for errors and rate limits.
    fn name(&self) -> &'static str;
    /// Create the container and its task (not started) and return the task's
    /// pid. Idempotent: an existing container or task is reused.
    fn create(&self, spec: &InstanceSpec) -> impl Future<Output = Result<u32, SeamError>> + Send;
    /// The network namespace path of a task's pid.
    fn netns_path(&self, pid: u32) -> String;
    /// Start the created task. Idempotent.
    fn start(&self, id: &str) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Stop the task: SIGTERM, wait for the grace period, then SIGKILL.
    /// A missing task is not an error.
    fn stop(&self, id: &str) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Delete the task, the container and its snapshot. Missing parts are not
    /// an error.
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Every container of `app` (all crest containers when `None`).
    fn list(
        &self,
        app: Option<&AppId>,
    ) -> impl Future<Output = Result<Vec<RuntimeInstance>, SeamError>> + Send;
    /// Stop the runtime's helper processes that serve no container any more
    /// (a shim left behind when a client died mid-call); returns what was
    /// stopped. Nothing to do by default.
    fn reap_orphans(&self) -> impl Future<Output = Result<Vec<String>, SeamError>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
}

/// A container network: one IP per container.
pub trait Network: Send + Sync + 'static {
    /// Backend name for errors and rate limits.
    fn name(&self) -> &'static str;
    /// Attach container `id` whose network namespace is `netns`; return its IP
    /// (without prefix length).
    fn attach(
        &self,
        id: &str,
        netns: &str,
    ) -> impl Future<Output = Result<String, SeamError>> + Send;
    /// Release container `id`'s address and interface. `netns` may be gone
    /// (`None`); the address is released anyway. Idempotent.
    fn detach(
        &self,
        id: &str,
        netns: Option<&str>,
    ) -> impl Future<Output = Result<(), SeamError>> + Send;
    /// Every address handed out: container id -> IPs.
    fn allocations(
        &self,
    ) -> impl Future<Output = Result<BTreeMap<String, Vec<String>>, SeamError>> + Send;
}
