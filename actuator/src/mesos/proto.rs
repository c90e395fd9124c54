//! The Mesos v1 scheduler API messages, in Mesos's JSON encoding.
//!
//! Written by hand from `include/mesos/v1/scheduler/scheduler.proto` and
//! `include/mesos/v1/mesos.proto` (apache/mesos) and checked against the JSON
//! examples in `docs/scheduler-http-api.md` and `docs/running-workloads.md`
//! (see `tests/fixtures/mesos/`). Mesos's JSON mapping uses the proto field
//! names as they are (lower_snake), enum values by name (`"TASK_RUNNING"`),
//! and Base64 for `bytes` fields; `Call` and `Event` use the "union trick": a
//! `type` plus one optional field per kind, which is mirrored here so that the
//! JSON is the protocol's, not an invention of ours.
//!
//! Only what a framework that launches and kills tasks needs is modelled;
//! unknown fields in events are ignored (Mesos adds fields over versions), and
//! [`Resource`] keeps unknown fields (reservations, disk info) so that a slice
//! carved out of an offered resource is sent back exactly as it was offered.
//! `bytes` fields (`uuid`, `data`) stay Base64 strings: the framework only
//! echoes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name {
            /// The id.
            pub value: String,
        }
        impl $name {
            /// Wrap a string.
            pub fn new(value: impl Into<String>) -> Self {
                $name { value: value.into() }
            }
        }
    };
}

id_type!(
    /// `FrameworkID`.
    FrameworkId
);
id_type!(
    /// `OfferID`.
    OfferId
);
id_type!(
    /// `AgentID`.
    AgentId
);
id_type!(
    /// `TaskID`.
    TaskId
);
id_type!(
    /// `ExecutorID`.
    ExecutorId
);

// ---------------------------------------------------------------- framework

/// `FrameworkInfo.Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// Capability type, e.g. `"MULTI_ROLE"`, `"TASK_KILLING_STATE"`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `FrameworkInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// Unix user tasks run as (empty: the agent's user).
    pub user: String,
    /// Framework name.
    pub name: String,
    /// Set when re-subscribing after a disconnection or failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    /// Seconds the master keeps our tasks after we disconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    /// Whether agents checkpoint our tasks (survive agent restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Roles (needs the `MULTI_ROLE` capability).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Hostname shown in the UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Authentication principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Capabilities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `Labels`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Labels {
    /// The labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

impl Labels {
    /// Value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }
}

/// `Label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

// ---------------------------------------------------------------- resources

/// `Value.Scalar`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    /// The amount.
    pub value: f64,
}

/// `Value.Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First value.
    pub begin: u64,
    /// Last value (inclusive).
    pub end: u64,
}

/// `Value.Ranges`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ranges {
    /// The ranges.
    #[serde(default)]
    pub range: Vec<Range>,
}

/// `Value.Set`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ValueSet {
    /// Items.
    #[serde(default)]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub value: String,
}

/// `Resource.AllocationInfo`: the role an offered resource is allocated to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllocationInfo {
    /// The role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Resource`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Name: `cpus`, `mem` (MB), `disk` (MB), `ports`, `gpus`, ...
    pub name: String,
    /// Value type: `SCALAR`, `RANGES`, `SET`, `TEXT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Scalar amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Ranges (ports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    /// Pre-reservation-refinement role (deprecated in the proto, still sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Role this resource is allocated to (multi-role frameworks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Fields not modelled (reservations, disk, revocable, ...), kept as offered.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Resource {
    /// A scalar resource (`cpus`, `mem`, `disk`).
    pub fn scalar(name: &str, value: f64) -> Self {
        Resource {
            name: name.to_owned(),
            kind: "SCALAR".to_owned(),
            scalar: Some(Scalar { value }),
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            extra: BTreeMap::new(),
        }
    }

    /// The scalar amount, if this is a scalar.
    pub fn scalar_value(&self) -> Option<f64> {
        if self.kind == "SCALAR" {
            self.scalar.map(|s| s.value)
        } else {
            None
        }
    }
}

/// `Attribute` of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Scalar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<ValueSet>,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

/// `Offer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Offer id (usable in one ACCEPT or DECLINE).
    pub id: OfferId,
    /// Our framework.
    pub framework_id: FrameworkId,
    /// The agent whose resources these are.
    pub agent_id: AgentId,
    /// Agent hostname.
    pub hostname: String,
    /// Offered resources.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Agent attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Our executors already running on this agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
    /// Role the offer is allocated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
}

/// `Filters`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds the unused resources count as refused (Mesos default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

// ---------------------------------------------------------------- tasks

/// `CommandInfo.URI`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandUri {
    /// URI to fetch.
    pub value: String,
    /// Make executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Extract archives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Use the fetcher cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

/// `Environment.Variable` (plain values only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Environment`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Environment {
    /// Variables.
    #[serde(default)]
    pub variables: Vec<EnvVar>,
}

/// `CommandInfo`: `/bin/sh -c value` when `shell`, else `value` + `arguments`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandInfo {
    /// URIs fetched into the sandbox first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<CommandUri>,
    /// Environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Run through the shell (Mesos default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    /// The command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Arguments when not a shell command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `Image.Docker`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerImage {
    /// Image reference.
    pub name: String,
}

/// `Image` (for the Mesos containerizer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// `DOCKER` or `APPC`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Docker image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerImage>,
    /// Use a cached copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

/// `ContainerInfo.MesosInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MesosContainerInfo {
    /// Root filesystem image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

/// `ContainerInfo.DockerInfo` (Docker containerizer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image.
    pub image: String,
    /// `HOST`, `BRIDGE`, `NONE`, `USER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Pull even if cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
}

/// `NetworkInfo.IPAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IpAddress {
    /// `IPv4` or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// `NetworkInfo`: join a CNI network (one IP per container).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Addresses requested or (in statuses) assigned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    /// CNI network name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `LinuxInfo` (only `share_cgroups`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LinuxInfo {
    /// Whether a nested task shares its executor's cgroups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_cgroups: Option<bool>,
}

/// `ContainerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// `MESOS` or `DOCKER`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Hostname inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Docker containerizer settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    /// Mesos containerizer settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<MesosContainerInfo>,
    /// Networks to join.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
    /// Linux settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_info: Option<LinuxInfo>,
}

/// `ExecutorInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// `DEFAULT` (Mesos's built-in, for task groups) or `CUSTOM`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Executor id, unique per agent for the framework.
    pub executor_id: ExecutorId,
    /// Our framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Command (custom executors only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container (default executor: network only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Resources of the executor itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `TaskInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Name.
    pub name: String,
    /// Task id, unique within the framework.
    pub task_id: TaskId,
    /// Agent from the offer.
    pub agent_id: AgentId,
    /// Resources requested.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Executor (custom executor tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ExecutorInfo>,
    /// Command (command-executor tasks and task-group members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Resource limits; the docs send `"Infinity"` as a string.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, serde_json::Value>,
}

/// `TaskGroupInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    /// The tasks, delivered to the executor atomically.
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

/// `Offer.Operation.Launch`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Launch {
    /// Tasks.
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The executor to run the group under.
    pub executor: ExecutorInfo,
    /// The group.
    pub task_group: TaskGroupInfo,
}

/// `Offer.Operation` (LAUNCH and LAUNCH_GROUP only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// `LAUNCH`, `LAUNCH_GROUP`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// For `LAUNCH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    /// For `LAUNCH_GROUP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
}

impl Operation {
    /// A `LAUNCH` of command tasks.
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        Operation {
            kind: "LAUNCH".into(),
            launch: Some(Launch { task_infos }),
            launch_group: None,
        }
    }

    /// A `LAUNCH_GROUP` under an executor.
    pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Self {
        Operation {
            kind: "LAUNCH_GROUP".into(),
            launch: None,
            launch_group: Some(LaunchGroup {
                executor,
                task_group: TaskGroupInfo { tasks },
            }),
        }
    }
}

/// `TaskState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum TaskState {
    #[serde(rename = "TASK_STAGING")]
    Staging,
    #[serde(rename = "TASK_STARTING")]
    Starting,
    #[serde(rename = "TASK_RUNNING")]
    Running,
    #[serde(rename = "TASK_KILLING")]
    Killing,
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    #[serde(rename = "TASK_FAILED")]
    Failed,
    #[serde(rename = "TASK_KILLED")]
    Killed,
    #[serde(rename = "TASK_ERROR")]
    Error,
    #[serde(rename = "TASK_LOST")]
    Lost,
    #[serde(rename = "TASK_DROPPED")]
    Dropped,
    #[serde(rename = "TASK_UNREACHABLE")]
    Unreachable,
    #[serde(rename = "TASK_GONE")]
    Gone,
    #[serde(rename = "TASK_GONE_BY_OPERATOR")]
    GoneByOperator,
    #[serde(rename = "TASK_UNKNOWN")]
    Unknown,
}

impl TaskState {
    /// Whether the task is gone for good (its resources are released).
    /// `TASK_LOST` counts: the proto calls it "failed but can be rescheduled".
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }
}

/// `ContainerStatus` (network part).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Networks and assigned addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
}

/// `TaskStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `SOURCE_MASTER`, `SOURCE_AGENT`, `SOURCE_EXECUTOR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `REASON_*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Executor data (Base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Set when the update is retried until acknowledged (Base64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Health check result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Container status (assigned IPs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
}

impl TaskStatus {
    /// First IP address in the container status.
    pub fn ip_address(&self) -> Option<&str> {
        self.container_status
            .as_ref()?
            .network_infos
            .iter()
            .flat_map(|n| n.ip_addresses.iter())
            .find_map(|a| a.ip_address.as_deref())
    }
}

// ---------------------------------------------------------------- calls

/// `Call.Subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Who we are.
    pub framework_info: FrameworkInfo,
    /// Roles that start suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    /// Offer constraints, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<serde_json::Value>,
}

/// `Call.Accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Offers used (all from one agent).
    pub offer_ids: Vec<OfferId>,
    /// What to do with them.
    #[serde(default)]
    pub operations: Vec<Operation>,
    /// How long unused resources count as refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// Offers declined.
    pub offer_ids: Vec<OfferId>,
    /// How long to refuse them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    /// The task.
    pub task_id: TaskId,
    /// Its agent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `Call.Shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shutdown {
    /// The executor.
    pub executor_id: ExecutorId,
    /// Its agent.
    pub agent_id: AgentId,
}

/// `Call.Acknowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// Agent of the update.
    pub agent_id: AgentId,
    /// Task of the update.
    pub task_id: TaskId,
    /// The update's `uuid`, echoed.
    pub uuid: String,
}

/// `Call.Reconcile.Task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// The task.
    pub task_id: TaskId,
    /// Its agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `Call.Reconcile`: explicit with tasks, implicit with none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconcile {
    /// Tasks to ask about (empty: all the master knows).
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.Revive` / `Call.Suppress`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Roles {
    /// Roles (empty: all of ours).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum CallType {
    Subscribe,
    Teardown,
    Accept,
    Decline,
    Revive,
    Kill,
    Shutdown,
    Acknowledge,
    Reconcile,
    Message,
    Suppress,
    #[serde(other)]
    Unknown,
}

/// A scheduler `Call` (POST body to `/api/v1/scheduler`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Our framework (absent only in a first SUBSCRIBE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Kind.
    #[serde(rename = "type")]
    pub kind: CallType,
    /// SUBSCRIBE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    /// ACCEPT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    /// DECLINE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    /// REVIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Roles>,
    /// KILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    /// SHUTDOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
    /// ACKNOWLEDGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    /// RECONCILE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    /// SUPPRESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Roles>,
}

impl Call {
    fn bare(framework_id: Option<FrameworkId>, kind: CallType) -> Self {
        Call {
            framework_id,
            kind,
            subscribe: None,
            accept: None,
            decline: None,
            revive: None,
            kill: None,
            shutdown: None,
            acknowledge: None,
            reconcile: None,
            suppress: None,
        }
    }

    /// SUBSCRIBE (with `framework_info.id` set when re-subscribing).
    pub fn subscribe(info: FrameworkInfo) -> Self {
        let mut c = Call::bare(info.id.clone(), CallType::Subscribe);
        c.subscribe = Some(Subscribe {
            framework_info: info,
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        });
        c
    }

    /// ACCEPT offers with operations.
    pub fn accept(
        fw: &FrameworkId,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        refuse_seconds: f64,
    ) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Accept);
        c.accept = Some(Accept {
            offer_ids,
            operations,
            filters: Some(Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        c
    }

    /// DECLINE offers for `refuse_seconds`.
    pub fn decline(fw: &FrameworkId, offer_ids: Vec<OfferId>, refuse_seconds: f64) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Decline);
        c.decline = Some(Decline {
            offer_ids,
            filters: Some(Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        c
    }

    /// KILL a task.
    pub fn kill(fw: &FrameworkId, task_id: TaskId, agent_id: Option<AgentId>) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Kill);
        c.kill = Some(Kill { task_id, agent_id });
        c
    }

    /// ACKNOWLEDGE a status update.
    pub fn acknowledge(fw: &FrameworkId, agent_id: AgentId, task_id: TaskId, uuid: String) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Acknowledge);
        c.acknowledge = Some(Acknowledge {
            agent_id,
            task_id,
            uuid,
        });
        c
    }

    /// RECONCILE: explicit for `tasks`, implicit when empty.
    pub fn reconcile(fw: &FrameworkId, tasks: Vec<ReconcileTask>) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Reconcile);
        c.reconcile = Some(Reconcile { tasks });
        c
    }

    /// REVIVE offers (and clear filters) for roles.
    pub fn revive(fw: &FrameworkId, roles: Vec<String>) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Revive);
        c.revive = Some(Roles { roles });
        c
    }

    /// SUPPRESS offers for roles.
    pub fn suppress(fw: &FrameworkId, roles: Vec<String>) -> Self {
        let mut c = Call::bare(Some(fw.clone()), CallType::Suppress);
        c.suppress = Some(Roles { roles });
        c
    }

    /// TEARDOWN the framework (kills every task).
    pub fn teardown(fw: &FrameworkId) -> Self {
        Call::bare(Some(fw.clone()), CallType::Teardown)
    }
}

// ---------------------------------------------------------------- events

/// `Event` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum EventType {
    Subscribed,
    Offers,
    InverseOffers,
    Rescind,
    RescindInverseOffer,
    Update,
    UpdateOperationStatus,
    Message,
    Failure,
    Error,
    Heartbeat,
    #[serde(other)]
    Unknown,
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// Our (possibly new) framework id.
    pub framework_id: FrameworkId,
    /// How often the master sends HEARTBEAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
}

/// `Event.Offers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offers {
    /// The offers.
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// The `offers` field of an OFFERS event in either shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OffersField {
    /// As `scheduler.proto` maps to JSON: `{"offers": [...]}`.
    Wrapped(Offers),
    /// As `docs/scheduler-http-api.md` shows it: `[...]`.
    Bare(Vec<Offer>),
}

impl OffersField {
    /// The offers.
    pub fn into_offers(self) -> Vec<Offer> {
        match self {
            OffersField::Wrapped(o) => o.offers,
            OffersField::Bare(v) => v,
        }
    }
}

/// `Event.Rescind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescind {
    /// The offer no longer valid.
    pub offer_id: OfferId,
}

/// `Event.Update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The status.
    pub status: TaskStatus,
}

/// `Event.Message` (executor to scheduler).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorMessage {
    /// Agent.
    pub agent_id: AgentId,
    /// Executor.
    pub executor_id: ExecutorId,
    /// Data (Base64).
    #[serde(default)]
    pub data: String,
}

/// `Event.Failure`: an agent or executor is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Executor exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

/// `Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// What went wrong.
    pub message: String,
}

/// A scheduler `Event` as it comes off the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// SUBSCRIBED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    /// OFFERS: `{"offers": [...]}` per the proto; the docs' example writes
    /// the list directly, so both are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<OffersField>,
    /// RESCIND.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind: Option<Rescind>,
    /// UPDATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// MESSAGE: an object per the proto; the docs' ERROR example puts the
    /// error text here as a string, so both are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    /// FAILURE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorEvent>,
}

/// An [`Event`] checked against its type: the field its `type` names is present.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SchedulerEvent {
    /// SUBSCRIBED.
    Subscribed(Subscribed),
    /// OFFERS.
    Offers(Vec<Offer>),
    /// RESCIND.
    Rescind(OfferId),
    /// UPDATE.
    Update(TaskStatus),
    /// MESSAGE.
    Message(ExecutorMessage),
    /// FAILURE.
    Failure(Failure),
    /// ERROR.
    Error(String),
    /// HEARTBEAT.
    Heartbeat,
    /// A type we do not handle (inverse offers, operation status, newer kinds).
    Other(EventType),
}

impl Event {
    /// Check the union: the field that `type` names must be set.
    ///
    /// # Errors
    /// The name of the missing field.
    pub fn into_checked(self) -> Result<SchedulerEvent, &'static str> {
        Ok(match self.kind {
            EventType::Subscribed => {
                SchedulerEvent::Subscribed(self.subscribed.ok_or("subscribed")?)
            }
            EventType::Offers => SchedulerEvent::Offers(self.offers.ok_or("offers")?.into_offers()),
            EventType::Rescind => SchedulerEvent::Rescind(self.rescind.ok_or("rescind")?.offer_id),
            EventType::Update => SchedulerEvent::Update(self.update.ok_or("update")?.status),
            EventType::Message => {
                let v = self.message.ok_or("message")?;
                SchedulerEvent::Message(serde_json::from_value(v).map_err(|_| "message")?)
            }
            EventType::Failure => SchedulerEvent::Failure(self.failure.ok_or("failure")?),
            EventType::Error => match (self.error, self.message) {
                (Some(e), _) => SchedulerEvent::Error(e.message),
                (None, Some(serde_json::Value::String(s))) => SchedulerEvent::Error(s),
                _ => return Err("error"),
            },
            EventType::Heartbeat => SchedulerEvent::Heartbeat,
            other => SchedulerEvent::Other(other),
        })
    }
}
