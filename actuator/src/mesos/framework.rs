//! The framework's brain: desired state in, scheduler calls out.
//!
//! [`Framework`] holds what the framework knows (tasks and their last status,
//! executors, the desired replica count per app) and turns each event into the
//! calls that answer it — accept or decline offers, acknowledge updates, kill
//! surplus tasks, revive or suppress offers. It does no IO and reads no clock,
//! so every decision is unit-testable; the driver in `actuator.rs` feeds it
//! events from the stream and sends what it returns.
//!
//! Level-triggered like the rest of crest: every event ends with
//! [`Framework::converge`], which compares desired and actual counts and
//! derives kills and offer interest from scratch, so a lost call or a
//! reconnect heals on the next event.

use std::collections::{BTreeMap, BTreeSet};

use crest_core::seams::{FleetState, InstancePhase, InstanceState};
use crest_core::{AppId, Replicas, Timestamp, action::InstanceId};

use super::proto::{
    AgentId, AllocationInfo, Call, CallType, CommandInfo, ContainerInfo, DockerImage, EnvVar,
    Environment, ExecutorId, ExecutorInfo, Failure, FrameworkId, Image, Label, Labels,
    MesosContainerInfo, NetworkInfo, Offer, OfferId, Operation, ReconcileTask, Resource,
    Subscribed, TaskId, TaskInfo, TaskState, TaskStatus,
};

/// Label keys put on every task and executor.
pub const LABEL_APP: &str = "crest.app";
/// Label carrying the plan id that launched a task.
pub const LABEL_PLAN: &str = "crest.plan";

/// How to run one app on Mesos.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// CPUs per task.
    pub cpus: f64,
    /// Memory per task, MB.
    pub mem_mb: f64,
    /// Shell command the task runs.
    pub command: String,
    /// Docker image for the Mesos containerizer (none: the agent's filesystem).
    pub image: Option<String>,
    /// CNI network to join (one IP per container).
    pub network: Option<String>,
    /// Tasks sharing one executor container: 1 = one container per task
    /// (`LAUNCH`), N > 1 = warm default-executor containers hosting up to N
    /// single-task groups each (`LAUNCH_GROUP`).
    pub tasks_per_executor: u32,
    /// CPUs of a shared executor (N > 1).
    pub executor_cpus: f64,
    /// Memory of a shared executor, MB (N > 1).
    pub executor_mem_mb: f64,
    /// Host ports each task gets from the offer's `ports` resource; the task
    /// finds them in `PORT0`, `PORT1`, ... and its address is `IP:PORT0`.
    pub ports: u32,
}

impl AppSpec {
    /// One task per container running `command` with these resources.
    pub fn new(cpus: f64, mem_mb: f64, command: impl Into<String>) -> Self {
        AppSpec {
            cpus,
            mem_mb,
            command: command.into(),
            image: None,
            network: None,
            tasks_per_executor: 1,
            executor_cpus: 0.1,
            executor_mem_mb: 32.0,
            ports: 0,
        }
    }

    /// Give each task `n` host ports from the offers (`PORT0`...).
    #[must_use]
    pub fn with_ports(mut self, n: u32) -> Self {
        self.ports = n;
        self
    }

    /// Run up to `n` tasks per executor container (task:container N:1).
    #[must_use]
    pub fn with_tasks_per_executor(mut self, n: u32) -> Self {
        self.tasks_per_executor = n.max(1);
        self
    }

    /// Root filesystem from a Docker image.
    #[must_use]
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Join a CNI network.
    #[must_use]
    pub fn with_network(mut self, name: impl Into<String>) -> Self {
        self.network = Some(name.into());
        self
    }
}

/// What the framework knows of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// App it belongs to.
    pub app: AppId,
    /// Agent it runs on.
    pub agent_id: Option<AgentId>,
    /// Shared executor, for task-group tasks.
    pub executor_id: Option<ExecutorId>,
    /// Last reported state (`TASK_STAGING` until the first update).
    pub state: TaskState,
    /// Container IP, once reported.
    pub addr: Option<String>,
    /// A KILL went out for it.
    pub kill_sent: bool,
    /// Plan that launched it.
    pub plan_id: Option<String>,
    /// Host ports assigned from the offer (`PORT0`, ...); empty for tasks
    /// adopted after a restart (reconciliation does not report resources).
    pub ports: Vec<u64>,
}

impl TaskRecord {
    /// Where the task serves: `IP:PORT0` when it has host ports, else the IP.
    pub fn endpoint(&self) -> Option<String> {
        let ip = self.addr.as_deref()?;
        Some(match self.ports.first() {
            Some(p) => format!("{ip}:{p}"),
            None => ip.to_owned(),
        })
    }
}

/// A shared executor (task:container N:1).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorRecord {
    /// App.
    pub app: AppId,
    /// Agent.
    pub agent_id: AgentId,
    /// The exact info it was launched with (the master rejects a different one).
    pub info: ExecutorInfo,
    /// Live tasks in it.
    pub tasks: BTreeSet<String>,
}

/// Counters for reports and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events received, by type name.
    pub events: BTreeMap<String, u64>,
    /// Calls produced, by type.
    pub calls: BTreeMap<CallType, u64>,
    /// Tasks launched.
    pub launched: u64,
    /// Tasks that ended without us killing them.
    pub failed: u64,
    /// Updates with a uuid but no agent id (cannot be acknowledged).
    pub unackable: u64,
    /// Non-terminal tasks of ours we could not attribute to an app.
    pub foreign: u64,
    /// Shared executors started.
    pub executors_started: u64,
}

#[derive(Debug, Clone)]
struct Desired {
    replicas: u32,
    plan_id: Option<String>,
}

/// Framework state and decisions (no IO).
#[derive(Debug)]
pub struct Framework {
    apps: BTreeMap<AppId, AppSpec>,
    roles: Vec<String>,
    refuse_seconds: f64,
    framework_id: Option<FrameworkId>,
    heartbeat_s: Option<f64>,
    desired: BTreeMap<AppId, Desired>,
    tasks: BTreeMap<String, TaskRecord>,
    executors: BTreeMap<String, ExecutorRecord>,
    nonce: i64,
    next_seq: u64,
    offers_wanted: bool,
    stats: Stats,
}

/// Split a task id `app.nonce-seq` into its app and ordering key.
pub fn parse_task_id(id: &str) -> Option<(AppId, (i64, u64))> {
    let (app, rest) = id.rsplit_once('.')?;
    let (nonce, seq) = rest.split_once('-')?;
    let key = (nonce.parse().ok()?, seq.parse().ok()?);
    Some((AppId::try_new(app).ok()?, key))
}

const EPS: f64 = 1e-9;

/// Take `wants` (name, amount) from `pools`, gathering each amount across
/// every entry of that name (an offer splits one resource into reserved and
/// unreserved entries, one per role or reservation); all or nothing.
/// Returned resources are slices of the offered ones (role, allocation and
/// reservation fields kept), one per entry drawn from.
fn take(
    pools: &mut [Resource],
    wants: &[(&str, f64)],
    alloc: Option<&AllocationInfo>,
) -> Option<Vec<Resource>> {
    let mut left: Vec<f64> = pools
        .iter()
        .map(|r| r.scalar_value().unwrap_or(0.0))
        .collect();
    let mut picks: Vec<(usize, f64)> = Vec::new();
    for &(name, amount) in wants {
        let mut rest = amount;
        for (i, r) in pools.iter().enumerate() {
            if rest <= EPS {
                break;
            }
            if r.name != name || r.scalar_value().is_none() || left[i] <= EPS {
                continue;
            }
            let part = left[i].min(rest);
            left[i] -= part;
            rest -= part;
            picks.push((i, part));
        }
        if rest > EPS {
            return None;
        }
    }
    let mut out: Vec<Resource> = Vec::with_capacity(picks.len());
    for (i, amount) in picks {
        let mut r = pools[i].clone();
        r.scalar = Some(super::proto::Scalar { value: amount });
        if r.allocation_info.is_none() {
            r.allocation_info = alloc.cloned();
        }
        out.push(r);
        if let Some(s) = pools[i].scalar.as_mut() {
            s.value = (s.value - amount).max(0.0);
        }
    }
    Some(out)
}

/// Take `n` host ports from the `ports` ranges in `pools` (lowest first, any
/// entry); all or nothing. Returns the resources (one single-port range per
/// port, each a slice of its offered entry) and the ports in order.
fn take_ports(
    pools: &mut [Resource],
    n: u32,
    alloc: Option<&AllocationInfo>,
) -> Option<(Vec<Resource>, Vec<u64>)> {
    if n == 0 {
        return Some((Vec::new(), Vec::new()));
    }
    let mut chosen: Vec<(usize, u64)> = Vec::new();
    'entries: for (i, r) in pools.iter().enumerate() {
        if r.name != "ports" || r.kind != "RANGES" {
            continue;
        }
        for range in r.ranges.iter().flat_map(|x| x.range.iter()) {
            let mut p = range.begin;
            while p <= range.end {
                chosen.push((i, p));
                if chosen.len() == n as usize {
                    break 'entries;
                }
                p += 1;
            }
        }
    }
    if chosen.len() < n as usize {
        return None;
    }
    let mut out = Vec::with_capacity(chosen.len());
    let mut ports = Vec::with_capacity(chosen.len());
    for (i, p) in chosen {
        let mut r = pools[i].clone();
        r.ranges = Some(super::proto::Ranges {
            range: vec![super::proto::Range { begin: p, end: p }],
        });
        if r.allocation_info.is_none() {
            r.allocation_info = alloc.cloned();
        }
        out.push(r);
        ports.push(p);
        if let Some(rs) = pools[i].ranges.as_mut() {
            rs.range = rs
                .range
                .iter()
                .flat_map(|x| {
                    let mut v = Vec::new();
                    if x.begin <= p && p <= x.end {
                        if x.begin < p {
                            v.push(super::proto::Range {
                                begin: x.begin,
                                end: p - 1,
                            });
                        }
                        if p < x.end {
                            v.push(super::proto::Range {
                                begin: p + 1,
                                end: x.end,
                            });
                        }
                    } else {
                        v.push(*x);
                    }
                    v
                })
                .collect();
        }
    }
    Some((out, ports))
}

/// A task's resources: cpus, mem and its host ports, all or nothing.
fn take_task(
    pools: &mut Vec<Resource>,
    spec: &AppSpec,
    alloc: Option<&AllocationInfo>,
) -> Option<(Vec<Resource>, Vec<u64>)> {
    let mut trial = pools.clone();
    let mut res = take(
        &mut trial,
        &[("cpus", spec.cpus), ("mem", spec.mem_mb)],
        alloc,
    )?;
    let (port_res, ports) = take_ports(&mut trial, spec.ports, alloc)?;
    res.extend(port_res);
    *pools = trial;
    Some((res, ports))
}

impl Framework {
    /// A framework for these apps. `nonce` makes task ids of this process
    /// unique (the driver passes its start time); `framework_id` resumes an
    /// earlier registration (failover).
    pub fn new(
        apps: BTreeMap<AppId, AppSpec>,
        roles: Vec<String>,
        refuse_seconds: f64,
        framework_id: Option<FrameworkId>,
        nonce: i64,
    ) -> Self {
        Framework {
            apps,
            roles,
            refuse_seconds,
            framework_id,
            heartbeat_s: None,
            desired: BTreeMap::new(),
            tasks: BTreeMap::new(),
            executors: BTreeMap::new(),
            nonce,
            next_seq: 0,
            offers_wanted: true,
            stats: Stats::default(),
        }
    }

    /// Our framework id, once the master gave one.
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework_id.as_ref()
    }

    /// Heartbeat interval from SUBSCRIBED.
    pub fn heartbeat_s(&self) -> Option<f64> {
        self.heartbeat_s
    }

    /// Whether the app is configured.
    pub fn knows_app(&self, app: &AppId) -> bool {
        self.apps.contains_key(app)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// All tasks known.
    pub fn tasks(&self) -> &BTreeMap<String, TaskRecord> {
        &self.tasks
    }

    /// Shared executors known.
    pub fn executors(&self) -> &BTreeMap<String, ExecutorRecord> {
        &self.executors
    }

    /// Note an event's arrival (for the counters).
    pub fn count_event(&mut self, name: &str) {
        *self.stats.events.entry(name.to_owned()).or_insert(0) += 1;
    }

    fn counted(&mut self, calls: Vec<Call>) -> Vec<Call> {
        for c in &calls {
            *self.stats.calls.entry(c.kind).or_insert(0) += 1;
        }
        calls
    }

    /// Tasks that count toward the app's replicas: alive and not being killed.
    fn active(&self, app: &AppId) -> impl Iterator<Item = (&String, &TaskRecord)> {
        self.tasks.iter().filter(move |(_, t)| {
            &t.app == app
                && !t.kill_sent
                && !matches!(
                    t.state,
                    TaskState::Unreachable | TaskState::Unknown | TaskState::Killing
                )
        })
    }

    /// Tasks still to launch for an app.
    pub fn need(&self, app: &AppId) -> u32 {
        let want = self.desired.get(app).map_or(0, |d| d.replicas);
        let have = u32::try_from(self.active(app).count()).unwrap_or(u32::MAX);
        want.saturating_sub(have)
    }

    /// Record the desired count; returns whether it changed and the calls.
    pub fn set_desired(
        &mut self,
        app: &AppId,
        replicas: Replicas,
        plan_id: Option<String>,
    ) -> (bool, Vec<Call>) {
        let changed = self
            .desired
            .get(app)
            .is_none_or(|d| d.replicas != replicas.0);
        self.desired.insert(
            app.clone(),
            Desired {
                replicas: replicas.0,
                plan_id,
            },
        );
        let calls = self.converge();
        (changed || !calls.is_empty(), calls)
    }

    /// The fleet of an app as last reported.
    pub fn fleet(&self, app: &AppId, at: Timestamp) -> FleetState {
        let instances = self
            .tasks
            .iter()
            .filter(|(_, t)| &t.app == app)
            .map(|(id, t)| InstanceState {
                id: InstanceId::from(id.as_str()),
                phase: if t.kill_sent {
                    InstancePhase::Draining
                } else {
                    match t.state {
                        TaskState::Staging | TaskState::Starting => InstancePhase::Starting,
                        TaskState::Running => InstancePhase::Running,
                        TaskState::Killing => InstancePhase::Draining,
                        _ => InstancePhase::Failed,
                    }
                },
                addr: t.endpoint(),
            })
            .collect();
        FleetState {
            app: app.clone(),
            at,
            desired: Replicas(self.desired.get(app).map_or(0, |d| d.replicas)),
            instances,
        }
    }

    /// SUBSCRIBED: remember the id, reconcile, and re-issue what may have been lost.
    pub fn on_subscribed(&mut self, s: Subscribed) -> Vec<Call> {
        self.framework_id = Some(s.framework_id);
        self.heartbeat_s = s.heartbeat_interval_seconds;
        // A new subscription starts unsuppressed; converge re-decides.
        self.offers_wanted = true;
        let Some(fw) = self.framework_id.clone() else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        // Explicit reconciliation for what we know, then implicit for what we
        // may not (tasks launched before a crash), as docs/reconciliation.md advises.
        let known: Vec<ReconcileTask> = self
            .tasks
            .iter()
            .filter(|(_, t)| !t.state.is_terminal())
            .map(|(id, t)| ReconcileTask {
                task_id: TaskId::new(id.clone()),
                agent_id: t.agent_id.clone(),
            })
            .collect();
        if !known.is_empty() {
            calls.push(Call::reconcile(&fw, known));
        }
        calls.push(Call::reconcile(&fw, Vec::new()));
        // KILLs of the old subscription may never have reached the master.
        for (id, t) in &self.tasks {
            if t.kill_sent {
                calls.push(Call::kill(&fw, TaskId::new(id.clone()), t.agent_id.clone()));
            }
        }
        calls.extend(self.converge_inner());
        self.counted(calls)
    }

    /// Kill surplus tasks and set offer interest. Idempotent.
    pub fn converge(&mut self) -> Vec<Call> {
        let calls = self.converge_inner();
        self.counted(calls)
    }

    fn converge_inner(&mut self) -> Vec<Call> {
        let Some(fw) = self.framework_id.clone() else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        let apps: Vec<AppId> = self.desired.keys().cloned().collect();
        let mut total_need = 0u64;
        for app in apps {
            let want = self.desired.get(&app).map_or(0, |d| d.replicas) as usize;
            let mut active: Vec<(bool, (i64, u64), String)> = self
                .active(&app)
                .map(|(id, t)| {
                    let serving = t.state == TaskState::Running;
                    let key = parse_task_id(id).map_or((0, 0), |(_, k)| k);
                    (serving, key, id.clone())
                })
                .collect();
            if active.len() > want {
                // Kill tasks not serving yet first, then the newest.
                active.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                let surplus = active.len() - want;
                for (_, _, id) in active.into_iter().take(surplus) {
                    if let Some(t) = self.tasks.get_mut(&id) {
                        t.kill_sent = true;
                        calls.push(Call::kill(&fw, TaskId::new(id), t.agent_id.clone()));
                    }
                }
            }
            total_need += u64::from(self.need(&app));
        }
        if total_need > 0 && !self.offers_wanted {
            // REVIVE also clears the refuse filters our DECLINEs set.
            self.offers_wanted = true;
            calls.push(Call::revive(&fw, self.roles.clone()));
        } else if total_need == 0 && self.offers_wanted {
            self.offers_wanted = false;
            calls.push(Call::suppress(&fw, self.roles.clone()));
        }
        calls
    }

    fn labels(app: &AppId, plan: Option<&String>) -> Labels {
        let mut labels = vec![Label {
            key: LABEL_APP.into(),
            value: Some(app.as_str().to_owned()),
        }];
        if let Some(p) = plan {
            labels.push(Label {
                key: LABEL_PLAN.into(),
                value: Some(p.clone()),
            });
        }
        Labels { labels }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.next_seq += 1;
        format!("{prefix}.{}-{}", self.nonce, self.next_seq)
    }

    /// OFFERS: launch what is needed, decline the rest.
    pub fn on_offers(&mut self, offers: Vec<Offer>) -> Vec<Call> {
        let Some(fw) = self.framework_id.clone() else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        let mut declined: Vec<OfferId> = Vec::new();
        for offer in offers {
            let ops = self.place(&fw, &offer);
            if ops.is_empty() {
                declined.push(offer.id);
            } else {
                calls.push(Call::accept(&fw, vec![offer.id], ops, self.refuse_seconds));
            }
        }
        if !declined.is_empty() {
            calls.push(Call::decline(&fw, declined, self.refuse_seconds));
        }
        calls.extend(self.converge_inner());
        self.counted(calls)
    }

    /// Fill one offer with tasks, round-robin over apps that need some.
    fn place(&mut self, fw: &FrameworkId, offer: &Offer) -> Vec<Operation> {
        let mut pools: Vec<Resource> = offer
            .resources
            .iter()
            .filter(|r| r.scalar_value().is_some() || r.name == "ports")
            .cloned()
            .collect();
        let alloc = offer.allocation_info.clone();
        let offered_execs: BTreeSet<&str> = offer
            .executor_ids
            .iter()
            .map(|e| e.value.as_str())
            .collect();
        let mut launch: Vec<TaskInfo> = Vec::new();
        let mut groups: Vec<Operation> = Vec::new();
        // One LAUNCH_GROUP per executor per ACCEPT (the default executor takes
        // one launch operation at a time).
        let mut execs_used: BTreeSet<String> = BTreeSet::new();
        let apps: Vec<AppId> = self.apps.keys().cloned().collect();
        loop {
            let mut placed_any = false;
            for app in &apps {
                if self.need(app) == 0 {
                    continue;
                }
                let Some(spec) = self.apps.get(app).cloned() else {
                    continue;
                };
                let plan = self.desired.get(app).and_then(|d| d.plan_id.clone());
                if spec.tasks_per_executor <= 1 {
                    let Some((res, ports)) = take_task(&mut pools, &spec, alloc.as_ref()) else {
                        continue;
                    };
                    let id = self.next_id(app.as_str());
                    let mut container = Self::task_container(&spec);
                    if let Some(net) = &spec.network {
                        let c = container.get_or_insert_with(|| ContainerInfo {
                            kind: "MESOS".into(),
                            hostname: None,
                            docker: None,
                            mesos: None,
                            network_infos: Vec::new(),
                            linux_info: None,
                        });
                        c.network_infos.push(NetworkInfo {
                            name: Some(net.clone()),
                            ..NetworkInfo::default()
                        });
                    }
                    launch.push(TaskInfo {
                        name: id.clone(),
                        task_id: TaskId::new(id.clone()),
                        agent_id: offer.agent_id.clone(),
                        resources: res,
                        executor: None,
                        command: Some(Self::command(&spec, &ports)),
                        container,
                        labels: Some(Self::labels(app, plan.as_ref())),
                        limits: BTreeMap::new(),
                    });
                    self.record_launch(app, &id, &offer.agent_id, None, plan, ports);
                    placed_any = true;
                } else {
                    // An executor the master no longer lists on its agent is gone
                    // (the master records executors when it accepts a launch, so
                    // every later offer from that agent lists live ones).
                    let stale: Vec<String> = self
                        .executors
                        .iter()
                        .filter(|(eid, e)| {
                            &e.app == app
                                && e.agent_id == offer.agent_id
                                && !offered_execs.contains(eid.as_str())
                                && !execs_used.contains(*eid)
                        })
                        .map(|(eid, _)| eid.clone())
                        .collect();
                    for eid in stale {
                        self.executors.remove(&eid);
                    }
                    let slots = spec.tasks_per_executor as usize;
                    let mut with_room = self.executors.iter().filter(|(_, e)| {
                        &e.app == app && e.agent_id == offer.agent_id && e.tasks.len() < slots
                    });
                    // Fill a warm executor first; open a new one only when none
                    // on this agent has room (one launch per executor per ACCEPT,
                    // so a partly used one waits for the next offer).
                    let warm = with_room
                        .clone()
                        .find(|(eid, _)| !execs_used.contains(*eid))
                        .map(|(eid, e)| (eid.clone(), e.info.clone()));
                    if warm.is_none() && with_room.next().is_some() {
                        continue;
                    }
                    let (eid, info, (res, ports)) = if let Some((eid, info)) = warm {
                        let Some(task) = take_task(&mut pools, &spec, alloc.as_ref()) else {
                            continue;
                        };
                        (eid, info, task)
                    } else {
                        let mut trial = pools.clone();
                        let Some(all) = take(
                            &mut trial,
                            &[("cpus", spec.executor_cpus), ("mem", spec.executor_mem_mb)],
                            alloc.as_ref(),
                        ) else {
                            continue;
                        };
                        let Some(task_res) = take_task(&mut trial, &spec, alloc.as_ref()) else {
                            continue;
                        };
                        pools = trial;
                        let eid = self.next_id(&format!("{}.exec", app.as_str()));
                        let info = ExecutorInfo {
                            kind: Some("DEFAULT".into()),
                            executor_id: ExecutorId::new(eid.clone()),
                            framework_id: Some(fw.clone()),
                            command: None,
                            container: spec.network.as_ref().map(|net| ContainerInfo {
                                kind: "MESOS".into(),
                                hostname: None,
                                docker: None,
                                mesos: None,
                                network_infos: vec![NetworkInfo {
                                    name: Some(net.clone()),
                                    ..NetworkInfo::default()
                                }],
                                linux_info: None,
                            }),
                            resources: all,
                            name: Some(format!("crest {} executor", app.as_str())),
                            labels: Some(Self::labels(app, None)),
                        };
                        self.executors.insert(
                            eid.clone(),
                            ExecutorRecord {
                                app: app.clone(),
                                agent_id: offer.agent_id.clone(),
                                info: info.clone(),
                                tasks: BTreeSet::new(),
                            },
                        );
                        self.stats.executors_started += 1;
                        (eid, info, task_res)
                    };
                    execs_used.insert(eid.clone());
                    let id = self.next_id(app.as_str());
                    groups.push(Operation::launch_group(
                        info,
                        vec![TaskInfo {
                            name: id.clone(),
                            task_id: TaskId::new(id.clone()),
                            agent_id: offer.agent_id.clone(),
                            resources: res,
                            executor: None,
                            command: Some(Self::command(&spec, &ports)),
                            container: Self::task_container(&spec),
                            labels: Some(Self::labels(app, plan.as_ref())),
                            limits: BTreeMap::new(),
                        }],
                    ));
                    if let Some(e) = self.executors.get_mut(&eid) {
                        e.tasks.insert(id.clone());
                    }
                    self.record_launch(
                        app,
                        &id,
                        &offer.agent_id,
                        Some(ExecutorId::new(eid)),
                        plan,
                        ports,
                    );
                    placed_any = true;
                }
            }
            if !placed_any {
                break;
            }
        }
        let mut ops = Vec::new();
        if !launch.is_empty() {
            ops.push(Operation::launch(launch));
        }
        ops.extend(groups);
        ops
    }

    fn command(spec: &AppSpec, ports: &[u64]) -> CommandInfo {
        let environment = (!ports.is_empty()).then(|| Environment {
            variables: ports
                .iter()
                .enumerate()
                .map(|(i, p)| EnvVar {
                    name: format!("PORT{i}"),
                    value: Some(p.to_string()),
                })
                .collect(),
        });
        CommandInfo {
            shell: Some(true),
            value: Some(spec.command.clone()),
            environment,
            ..CommandInfo::default()
        }
    }

    fn task_container(spec: &AppSpec) -> Option<ContainerInfo> {
        spec.image.as_ref().map(|img| ContainerInfo {
            kind: "MESOS".into(),
            hostname: None,
            docker: None,
            mesos: Some(MesosContainerInfo {
                image: Some(Image {
                    kind: "DOCKER".into(),
                    docker: Some(DockerImage { name: img.clone() }),
                    cached: None,
                }),
            }),
            network_infos: Vec::new(),
            linux_info: None,
        })
    }

    fn record_launch(
        &mut self,
        app: &AppId,
        id: &str,
        agent: &AgentId,
        executor_id: Option<ExecutorId>,
        plan_id: Option<String>,
        ports: Vec<u64>,
    ) {
        self.stats.launched += 1;
        self.tasks.insert(
            id.to_owned(),
            TaskRecord {
                app: app.clone(),
                agent_id: Some(agent.clone()),
                executor_id,
                state: TaskState::Staging,
                addr: None,
                kill_sent: false,
                plan_id,
                ports,
            },
        );
    }

    fn forget(&mut self, id: &str) {
        if let Some(t) = self.tasks.remove(id)
            && let Some(eid) = t.executor_id
        {
            let empty = self.executors.get_mut(&eid.value).is_some_and(|e| {
                e.tasks.remove(id);
                e.tasks.is_empty()
            });
            // The default executor exits once it has no active task group.
            if empty {
                self.executors.remove(&eid.value);
            }
        }
    }

    /// UPDATE: record the status, acknowledge it if it carries a uuid.
    pub fn on_update(&mut self, st: TaskStatus) -> Vec<Call> {
        let mut calls = Vec::new();
        let id = st.task_id.value.clone();
        if let Some(t) = self.tasks.get_mut(&id) {
            t.state = st.state;
            if let Some(a) = st.ip_address() {
                t.addr = Some(a.to_owned());
            }
            if st.agent_id.is_some() {
                t.agent_id.clone_from(&st.agent_id);
            }
            if st.state.is_terminal() {
                if !t.kill_sent && st.state != TaskState::Finished {
                    self.stats.failed += 1;
                }
                self.forget(&id);
            }
        } else if !st.state.is_terminal() {
            match parse_task_id(&id) {
                Some((app, _)) if self.apps.contains_key(&app) => {
                    // A task of ours from before a restart: adopt it.
                    self.tasks.insert(
                        id.clone(),
                        TaskRecord {
                            app,
                            agent_id: st.agent_id.clone(),
                            executor_id: st.executor_id.clone(),
                            state: st.state,
                            addr: st.ip_address().map(str::to_owned),
                            kill_sent: false,
                            plan_id: None,
                            ports: Vec::new(),
                        },
                    );
                }
                _ => self.stats.foreign += 1,
            }
        }
        if let (Some(uuid), Some(fw)) = (st.uuid.clone(), self.framework_id.clone()) {
            match st.agent_id.clone() {
                Some(agent) => calls.push(Call::acknowledge(&fw, agent, st.task_id.clone(), uuid)),
                None => self.stats.unackable += 1,
            }
        }
        calls.extend(self.converge_inner());
        self.counted(calls)
    }

    /// FAILURE: an executor (or a whole agent) is gone; terminal UPDATEs follow.
    pub fn on_failure(&mut self, f: &Failure) {
        self.executors
            .retain(|eid, e| match (&f.executor_id, &f.agent_id) {
                (Some(x), _) => &x.value != eid,
                (None, Some(a)) => &e.agent_id != a,
                (None, None) => true,
            });
    }

    /// A call the master refused or that could not be delivered: undo its
    /// bookkeeping so converge retries. Returns the calls that release what
    /// it held: the offers of a failed ACCEPT are DECLINEd (a master keeps an
    /// unanswered offer until the next subscription; it has no offer timeout
    /// by default).
    pub fn on_call_failed(&mut self, call: &Call) -> Vec<Call> {
        let mut out = Vec::new();
        if let Some(k) = &call.kill
            && let Some(t) = self.tasks.get_mut(&k.task_id.value)
        {
            t.kill_sent = false;
        }
        if let Some(a) = &call.accept {
            if let Some(fw) = self.framework_id.clone() {
                // No filter: the resources are still wanted at the next allocation.
                out.push(Call::decline(&fw, a.offer_ids.clone(), 0.0));
            }
            for op in &a.operations {
                let tasks = op.launch.iter().flat_map(|l| l.task_infos.iter()).chain(
                    op.launch_group
                        .iter()
                        .flat_map(|g| g.task_group.tasks.iter()),
                );
                let ids: Vec<String> = tasks.map(|t| t.task_id.value.clone()).collect();
                for id in ids {
                    if self
                        .tasks
                        .get(&id)
                        .is_some_and(|t| t.state == TaskState::Staging)
                    {
                        self.forget(&id);
                    }
                }
            }
        }
        if matches!(call.kind, CallType::Revive | CallType::Suppress) {
            // Unknown outcome: let converge decide again next time.
            self.offers_wanted = call.kind == CallType::Suppress;
        }
        self.counted(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppId {
        AppId::try_new("web").unwrap()
    }

    fn fw(apps: &[(AppId, AppSpec)]) -> Framework {
        let mut f = Framework::new(
            apps.iter().cloned().collect(),
            vec!["crest".into()],
            5.0,
            None,
            7,
        );
        f.on_subscribed(Subscribed {
            framework_id: FrameworkId::new("fw-1"),
            heartbeat_interval_seconds: Some(15.0),
        });
        f
    }

    fn offer(id: &str, cpus: f64, mem: f64, execs: &[&str]) -> Offer {
        Offer {
            id: OfferId::new(id),
            framework_id: FrameworkId::new("fw-1"),
            agent_id: AgentId::new("agent-1"),
            hostname: "agent.host".into(),
            resources: vec![Resource::scalar("cpus", cpus), Resource::scalar("mem", mem)],
            attributes: vec![],
            executor_ids: execs.iter().map(|e| ExecutorId::new(*e)).collect(),
            allocation_info: Some(AllocationInfo {
                role: Some("crest".into()),
            }),
        }
    }

    #[test]
    fn parses_task_ids() {
        let (a, k) = parse_task_id("my.app-1.1700-42").unwrap();
        assert_eq!(a.as_str(), "my.app-1");
        assert_eq!(k, (1700, 42));
        assert!(parse_task_id("nodot").is_none());
        assert!(parse_task_id("web.x-1").is_none());
    }

    #[test]
    fn fills_offer_up_to_need_and_declines_the_rest() {
        let mut f = fw(&[(app(), AppSpec::new(1.0, 128.0, "sleep 1000"))]);
        let (changed, calls) = f.set_desired(&app(), Replicas(3), Some("plan-9".into()));
        assert!(changed);
        assert!(calls.iter().any(|c| c.kind == CallType::Revive));
        let calls = f.on_offers(vec![
            offer("o1", 2.0, 1024.0, &[]),
            offer("o2", 4.0, 4096.0, &[]),
        ]);
        let accepts: Vec<_> = calls
            .iter()
            .filter(|c| c.kind == CallType::Accept)
            .collect();
        assert_eq!(accepts.len(), 2);
        let n: usize = accepts
            .iter()
            .map(|c| {
                c.accept.as_ref().unwrap().operations[0]
                    .launch
                    .as_ref()
                    .unwrap()
                    .task_infos
                    .len()
            })
            .sum();
        assert_eq!(n, 3);
        let t = &accepts[0].accept.as_ref().unwrap().operations[0]
            .launch
            .as_ref()
            .unwrap()
            .task_infos[0];
        assert_eq!(t.labels.as_ref().unwrap().get(LABEL_PLAN), Some("plan-9"));
        assert_eq!(
            t.resources[0]
                .allocation_info
                .as_ref()
                .unwrap()
                .role
                .as_deref(),
            Some("crest")
        );
        // nothing needed any more: suppress, and the next offer is declined
        assert!(calls.iter().any(|c| c.kind == CallType::Suppress));
        let calls = f.on_offers(vec![offer("o3", 4.0, 4096.0, &[])]);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].kind, CallType::Decline);
        assert_eq!(
            calls[0]
                .decline
                .as_ref()
                .unwrap()
                .filters
                .unwrap()
                .refuse_seconds,
            Some(5.0)
        );
    }

    #[test]
    fn scale_in_kills_starting_then_newest() {
        let mut f = fw(&[(app(), AppSpec::new(0.5, 64.0, "x"))]);
        f.set_desired(&app(), Replicas(3), None);
        f.on_offers(vec![offer("o1", 8.0, 8192.0, &[])]);
        let ids: Vec<String> = f.tasks().keys().cloned().collect();
        for id in &ids[..2] {
            f.on_update(TaskStatus {
                task_id: TaskId::new(id.clone()),
                state: TaskState::Running,
                message: None,
                source: None,
                reason: None,
                data: None,
                agent_id: Some(AgentId::new("agent-1")),
                executor_id: None,
                timestamp: None,
                uuid: Some("dXVpZA==".into()),
                healthy: None,
                container_status: None,
            });
        }
        let (_, calls) = f.set_desired(&app(), Replicas(1), None);
        let killed: Vec<&str> = calls
            .iter()
            .filter_map(|c| c.kill.as_ref())
            .map(|k| k.task_id.value.as_str())
            .collect();
        // the one still staging, then the newest running one
        assert_eq!(killed, vec![ids[2].as_str(), ids[1].as_str()]);
        // idempotent
        let (changed, calls) = f.set_desired(&app(), Replicas(1), None);
        assert!(!changed && calls.is_empty());
        let fleet = f.fleet(&app(), Timestamp(0));
        assert_eq!(fleet.running(), Replicas(1));
        assert_eq!(fleet.count(InstancePhase::Draining), 2);
    }

    #[test]
    fn task_groups_share_warm_executors() {
        let spec = AppSpec::new(0.1, 32.0, "run-job").with_tasks_per_executor(3);
        let mut f = fw(&[(app(), spec)]);
        f.set_desired(&app(), Replicas(4), None);
        // first offer: one new executor with one single-task group
        let calls = f.on_offers(vec![offer("o1", 4.0, 1024.0, &[])]);
        let ops = &calls[0].accept.as_ref().unwrap().operations;
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].kind, "LAUNCH_GROUP");
        let g = ops[0].launch_group.as_ref().unwrap();
        assert_eq!(g.executor.kind.as_deref(), Some("DEFAULT"));
        assert_eq!(g.executor.resources.len(), 2);
        let e1 = g.executor.executor_id.value.clone();
        // the next offer lists it: one more task goes into it
        let calls = f.on_offers(vec![offer("o2", 4.0, 1024.0, &[e1.as_str()])]);
        let ops = &calls[0].accept.as_ref().unwrap().operations;
        assert_eq!(ops.len(), 1);
        let g = ops[0].launch_group.as_ref().unwrap();
        assert_eq!(g.executor.executor_id.value, e1);
        assert_eq!(g.task_group.tasks.len(), 1);
        // then it is full (3): the same offer also opens a second executor
        let calls = f.on_offers(vec![offer("o3", 4.0, 1024.0, &[e1.as_str()])]);
        let ops = &calls[0].accept.as_ref().unwrap().operations;
        assert_eq!(ops.len(), 2);
        let ids: Vec<&str> = ops
            .iter()
            .map(|o| {
                o.launch_group
                    .as_ref()
                    .unwrap()
                    .executor
                    .executor_id
                    .value
                    .as_str()
            })
            .collect();
        assert_eq!(ids[0], e1);
        assert_ne!(ids[1], e1);
        assert_eq!(f.stats().executors_started, 2);
        assert_eq!(f.tasks().len(), 4);
        assert_eq!(f.executors()[&e1].tasks.len(), 3);
        // an executor missing from its agent's offer is gone: forgotten
        f.set_desired(&app(), Replicas(5), None);
        f.on_offers(vec![offer("o5", 4.0, 1024.0, &[])]);
        assert!(!f.executors().contains_key(&e1));
    }

    #[test]
    fn containers_images_and_networks_go_where_mesos_wants_them() {
        let plain = AppSpec::new(1.0, 64.0, "serve")
            .with_image("crest/web:1")
            .with_network("crest-net");
        let mut f = fw(&[(app(), plain)]);
        f.set_desired(&app(), Replicas(1), None);
        let calls = f.on_offers(vec![offer("o1", 2.0, 512.0, &[])]);
        let t = serde_json::to_value(&calls[0].accept.as_ref().unwrap().operations[0]).unwrap();
        assert_eq!(
            t["launch"]["task_infos"][0]["container"],
            serde_json::json!({
                "type": "MESOS",
                "mesos": {"image": {"type": "DOCKER", "docker": {"name": "crest/web:1"}}},
                "network_infos": [{"name": "crest-net"}]
            })
        );
        // task groups: the network belongs to the executor, never to a task
        let grouped = AppSpec::new(0.1, 32.0, "job")
            .with_image("crest/job:1")
            .with_network("crest-net")
            .with_tasks_per_executor(4);
        let mut f = fw(&[(app(), grouped)]);
        f.set_desired(&app(), Replicas(1), None);
        let calls = f.on_offers(vec![offer("o1", 2.0, 512.0, &[])]);
        let g = serde_json::to_value(&calls[0].accept.as_ref().unwrap().operations[0]).unwrap();
        let lg = &g["launch_group"];
        assert_eq!(
            lg["executor"]["container"],
            serde_json::json!({"type": "MESOS", "network_infos": [{"name": "crest-net"}]})
        );
        assert!(lg["executor"].get("command").is_none());
        let task = &lg["task_group"]["tasks"][0];
        assert!(task["container"].get("network_infos").is_none());
        assert_eq!(
            task["container"]["mesos"]["image"]["docker"]["name"],
            "crest/job:1"
        );
    }
}
