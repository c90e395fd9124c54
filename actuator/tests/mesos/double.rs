//! A protocol-level double of a Mesos master cluster (NOT a real master).
//!
//! It speaks the scheduler HTTP API as `docs/scheduler-http-api.md` describes
//! it and answers as `src/master/http.cpp` and `src/master/master.cpp` do:
//! - `401` with `WWW-Authenticate` when basic authentication is required and
//!   missing or wrong (checked before anything else, as libprocess does);
//!   `307` with a protocol-relative `Location` from a non-leader; `503`
//!   "Master has not finished recovery" while recovering.
//! - SUBSCRIBE: `200`, `Mesos-Stream-Id` and a RecordIO event stream. An id
//!   the master does not know (it failed over and lost its memory) is
//!   accepted and recovered; a removed id gets the ERROR "Framework has been
//!   removed"; a second SUBSCRIBE with the id of a connected framework sends
//!   "Framework failed over" to the first stream and closes it.
//! - Other calls: `400` "Framework cannot be found" for an unknown framework,
//!   `403` "Framework is not subscribed" when it is disconnected, `400` for a
//!   missing or mismatched stream id; then `202`.
//! - A framework disconnected for longer than its `failover_timeout` is
//!   removed (its tasks killed, its id refused afterwards).
//! - Agents offer cpus (optionally split into a reserved and an unreserved
//!   entry), mem and a `ports` range; a task's ports must come from its offer
//!   and be free. An agent cannot create a sandbox for user `""` (the default
//!   `--switch_user`): such tasks are lost (`REASON_EXECUTOR_TERMINATED`).
//! - Reliable status updates carry a 16-byte uuid (Base64) and are re-sent
//!   on re-subscription until acknowledged; implicit reconciliation reports
//!   every task the master knows, explicit its latest state.
//! - HA: several masters share one state.
//!
//! Everything the scheduler does wrong is recorded in `violations`.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The master's own clock (failover timeouts run in real time, as on a master).
#[allow(clippy::disallowed_methods)]
fn wall_now() -> Instant {
    Instant::now()
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub cpus: f64,
    pub mem: f64,
    pub used_cpus: f64,
    pub used_mem: f64,
    /// Of `cpus`, how many are statically reserved for the framework's role
    /// (offered as a separate entry).
    pub reserved_cpus: f64,
    /// The `ports` range offered (Mesos's default is 31000-32000).
    pub ports: (u64, u64),
    pub used_ports: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
pub struct DTask {
    pub agent: String,
    pub executor: Option<String>,
    pub state: String,
    pub cpus: f64,
    pub mem: f64,
    pub ports: Vec<u64>,
    /// The environment the task was launched with.
    pub env: BTreeMap<String, String>,
    /// Reliable updates not yet acknowledged, oldest first; only the head is
    /// on the wire (an agent forwards a task's next update after the ack).
    pub pending: std::collections::VecDeque<(String, Value)>,
}

#[derive(Debug, Clone)]
struct DExec {
    agent: String,
    cpus: f64,
    mem: f64,
    tasks: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub struct St {
    pub framework_id: Option<String>,
    seq: u64,
    pub leader: usize,
    stream: Option<(String, mpsc::UnboundedSender<Bytes>)>,
    pub stream_ids: Vec<String>,
    pub subscribes: Vec<Value>,
    pub calls: Vec<Value>,
    pub rejected: Vec<String>,
    pub violations: Vec<String>,
    pub agents: Vec<Agent>,
    offers: BTreeMap<String, (String, f64, f64)>,
    pub tasks: BTreeMap<String, DTask>,
    executors: BTreeMap<String, DExec>,
    pub suppressed: bool,
    pub heartbeats: bool,
    pub auto_offer: bool,
    pub heartbeat_s: f64,
    pub torn_down: bool,
    role: String,
    /// A subscription the master forgot while its connection stays open.
    zombie: Option<(String, mpsc::UnboundedSender<Bytes>)>,
    /// `FrameworkInfo.user` and `failover_timeout` of the last SUBSCRIBE.
    pub user: String,
    pub failover_timeout_s: f64,
    /// When the framework's connection went away.
    pub disconnected_at: Option<Instant>,
    /// Frameworks removed (failover timeout, teardown): their ids are refused.
    pub removed: BTreeSet<String>,
    /// Answer everything with 503 (a master recovering its registry).
    pub recovering: bool,
    /// Requests answered 503 / 401.
    pub unavailable_answers: u64,
    pub unauthorized_answers: u64,
    /// Required basic authentication (principal, secret).
    pub auth: Option<(String, String)>,
    /// Authorization headers seen (to check no other secret is sent).
    pub authorizations: BTreeSet<String>,
    /// Answer the next N ACCEPTs with 400 (as for an invalid call).
    pub refuse_accepts: u32,
}

impl St {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn uuid(&mut self) -> String {
        // A UUID's 16 raw bytes, Base64 (as `TaskStatus.uuid` travels in JSON).
        let n = self.next();
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&0x6b13_4ef4_baa9_9f2e_u64.to_be_bytes());
        raw[8..].copy_from_slice(&n.to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(raw)
    }

    pub fn outstanding_offers(&self) -> usize {
        self.offers.len()
    }

    fn close_stream(&mut self) {
        if self.stream.take().is_some() {
            self.disconnected_at = Some(wall_now());
        }
    }

    /// The framework is gone: its tasks killed, its id refused from now on.
    fn remove_framework(&mut self) {
        if let Some(id) = self.framework_id.take() {
            self.removed.insert(id);
        }
        self.stream = None;
        self.tasks.clear();
        self.executors.clear();
        self.offers.clear();
        for a in &mut self.agents {
            a.used_cpus = 0.0;
            a.used_mem = 0.0;
            a.used_ports.clear();
        }
        self.disconnected_at = None;
    }

    /// Housekeeping of a tick: notice closed connections, apply the failover timeout.
    fn tick(&mut self) {
        if self.stream.as_ref().is_some_and(|(_, tx)| tx.is_closed()) {
            self.close_stream();
        }
        if self.stream.is_none()
            && self.framework_id.is_some()
            && self
                .disconnected_at
                .is_some_and(|t| t.elapsed().as_secs_f64() >= self.failover_timeout_s)
        {
            self.remove_framework();
        }
    }

    fn emit(&mut self, ev: &Value) {
        if let Some((_, tx)) = &self.stream {
            let rec = serde_json::to_vec(ev).unwrap();
            let mut out = format!("{}\n", rec.len()).into_bytes();
            out.extend(rec);
            let _ = tx.send(Bytes::from(out));
        }
    }

    fn update(&mut self, id: &str, state: &str, reliable: bool, reason: Option<&str>) {
        let uuid = if reliable { Some(self.uuid()) } else { None };
        let Some(t) = self.tasks.get_mut(id) else {
            // unknown task: master-generated, unreliable
            let mut st =
                json!({"task_id": {"value": id}, "state": state, "source": "SOURCE_MASTER"});
            if let Some(r) = reason {
                st["reason"] = json!(r);
            }
            self.emit(&json!({"type": "UPDATE", "update": {"status": st}}));
            return;
        };
        t.state = state.to_owned();
        let n = id.bytes().map(u64::from).sum::<u64>() % 250 + 1;
        let mut st = json!({
            "task_id": {"value": id},
            "state": state,
            "source": if reliable { "SOURCE_EXECUTOR" } else { "SOURCE_MASTER" },
            "agent_id": {"value": t.agent},
            "timestamp": 1_700_000_000.5,
            "container_status": {"network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": format!("127.0.1.{n}")}]}]},
        });
        if let Some(e) = &t.executor {
            st["executor_id"] = json!({"value": e});
        }
        if let Some(u) = &uuid {
            st["uuid"] = json!(u);
        }
        if let Some(r) = reason {
            st["reason"] = json!(r);
        }
        let terminal = matches!(
            state,
            "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED" | "TASK_ERROR" | "TASK_LOST"
        );
        let ev = json!({"type": "UPDATE", "update": {"status": st}});
        let send_now = match uuid {
            Some(u) => {
                let t = self.tasks.get_mut(id).unwrap();
                t.pending.push_back((u, ev.clone()));
                t.pending.len() == 1
            }
            None => true,
        };
        if terminal {
            self.release(id);
        }
        if send_now {
            self.emit(&ev);
        }
    }

    fn release(&mut self, id: &str) {
        let Some(t) = self.tasks.get(id).cloned() else {
            return;
        };
        if let Some(a) = self.agents.iter_mut().find(|a| a.id == t.agent) {
            a.used_cpus -= t.cpus;
            a.used_mem -= t.mem;
            for p in &t.ports {
                a.used_ports.remove(p);
            }
        }
        if let Some(eid) = &t.executor {
            let gone = self.executors.get_mut(eid).is_some_and(|e| {
                e.tasks.remove(id);
                e.tasks.is_empty()
            });
            if gone {
                let e = self.executors.remove(eid).unwrap();
                if let Some(a) = self.agents.iter_mut().find(|a| a.id == e.agent) {
                    a.used_cpus -= e.cpus;
                    a.used_mem -= e.mem;
                }
            }
        }
    }

    fn terminal(state: &str) -> bool {
        matches!(
            state,
            "TASK_FINISHED" | "TASK_FAILED" | "TASK_KILLED" | "TASK_ERROR" | "TASK_LOST"
        )
    }

    /// A reconciliation answer: the latest state, from the master, no uuid.
    fn reconcile_update(&mut self, id: &str, state: &str) {
        let t = &self.tasks[id];
        let n = id.bytes().map(u64::from).sum::<u64>() % 250 + 1;
        let mut st = json!({
            "task_id": {"value": id},
            "state": state,
            "source": "SOURCE_MASTER",
            "reason": "REASON_RECONCILIATION",
            "agent_id": {"value": t.agent},
            "container_status": {"network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": format!("127.0.1.{n}")}]}]},
        });
        if let Some(e) = &t.executor {
            st["executor_id"] = json!({"value": e});
        }
        self.emit(&json!({"type": "UPDATE", "update": {"status": st}}));
    }

    pub fn offer_round(&mut self) {
        if self.stream.is_none() || self.suppressed || self.framework_id.is_none() {
            return;
        }
        let fw = self.framework_id.clone().unwrap();
        let mut offers = Vec::new();
        for i in 0..self.agents.len() {
            let a = self.agents[i].clone();
            let (fc, fm) = (a.cpus - a.used_cpus, a.mem - a.used_mem);
            if fc < 0.01 || fm < 1.0 || self.offers.values().any(|o| o.0 == a.id) {
                continue;
            }
            let oid = format!("{fw}-O{}", self.next());
            self.offers.insert(oid.clone(), (a.id.clone(), fc, fm));
            let execs: Vec<Value> = self
                .executors
                .iter()
                .filter(|(_, e)| e.agent == a.id)
                .map(|(k, _)| json!({"value": k}))
                .collect();
            let role = self.role.clone();
            // Reserved cpus are used first by the double's bookkeeping.
            let reserved = (a.reserved_cpus - a.used_cpus).max(0.0).min(fc);
            let mut resources = Vec::new();
            if reserved > 1e-9 {
                resources.push(json!({"allocation_info": {"role": role}, "name": "cpus", "type": "SCALAR", "scalar": {"value": reserved},
                    "reservations": [{"type": "STATIC", "role": role}]}));
            }
            if fc - reserved > 1e-9 {
                resources.push(json!({"allocation_info": {"role": role}, "name": "cpus", "type": "SCALAR", "scalar": {"value": fc - reserved}, "role": "*"}));
            }
            resources.push(json!({"allocation_info": {"role": role}, "name": "mem", "type": "SCALAR", "scalar": {"value": fm}, "role": "*"}));
            let mut ranges = Vec::new();
            let mut p = a.ports.0;
            while p <= a.ports.1 {
                if a.used_ports.contains(&p) {
                    p += 1;
                    continue;
                }
                let begin = p;
                while p < a.ports.1 && !a.used_ports.contains(&(p + 1)) {
                    p += 1;
                }
                ranges.push(json!({"begin": begin, "end": p}));
                p += 1;
            }
            if !ranges.is_empty() {
                resources.push(json!({"allocation_info": {"role": role}, "name": "ports", "type": "RANGES", "ranges": {"range": ranges}, "role": "*"}));
            }
            offers.push(json!({
                "allocation_info": {"role": role},
                "id": {"value": oid},
                "framework_id": {"value": fw},
                "agent_id": {"value": a.id},
                "hostname": format!("{}.agent.host", a.id),
                "resources": resources,
                "attributes": [{"name": "os", "type": "TEXT", "text": {"value": "debian"}}],
                "executor_ids": execs,
            }));
        }
        if !offers.is_empty() {
            // scheduler.proto's shape (the docs' example shows the bare list)
            self.emit(&json!({"type": "OFFERS", "offers": {"offers": offers}}));
        }
    }

    fn scalar(resources: &Value, name: &str) -> f64 {
        resources
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|r| r["name"] == name)
                    .filter_map(|r| r["scalar"]["value"].as_f64())
                    .sum()
            })
            .unwrap_or(0.0)
    }

    fn ports_of(resources: &Value) -> Vec<u64> {
        let mut out = Vec::new();
        for r in resources.as_array().into_iter().flatten() {
            if r["name"] == "ports" {
                for range in r["ranges"]["range"].as_array().into_iter().flatten() {
                    let (b, e) = (
                        range["begin"].as_u64().unwrap_or(1),
                        range["end"].as_u64().unwrap_or(0),
                    );
                    out.extend(b..=e);
                }
            }
        }
        out
    }

    fn check_resource_shape(&mut self, resources: &Value, what: &str) {
        for r in resources.as_array().into_iter().flatten() {
            let scalar_ok = r["type"] == "SCALAR" && r["scalar"]["value"].as_f64().is_some();
            let ranges_ok = r["type"] == "RANGES"
                && r["name"] == "ports"
                && r["ranges"]["range"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty());
            if !(scalar_ok || ranges_ok) || r["name"].as_str().is_none() {
                self.violations
                    .push(format!("{what}: malformed resource {r}"));
            }
            // master.cpp injects the offer's allocation_info where it is
            // missing; validation.cpp refuses a role the framework is not
            // subscribed with.
            if r.get("allocation_info").is_some()
                && r["allocation_info"]["role"] != json!(self.role)
            {
                self.violations.push(format!(
                    "{what}: resource allocated to {} instead of {}",
                    r["allocation_info"]["role"], self.role
                ));
            }
        }
    }

    fn accept(&mut self, call: &Value) {
        let acc = &call["accept"];
        let ids: Vec<String> = acc["offer_ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["value"].as_str().map(str::to_owned))
            .collect();
        let mut agent = None;
        let (mut cap_c, mut cap_m) = (0.0, 0.0);
        let mut valid = !ids.is_empty();
        for id in &ids {
            match self.offers.remove(id) {
                Some((a, c, m)) => {
                    if agent.as_ref().is_some_and(|x| x != &a) {
                        valid = false;
                    }
                    agent = Some(a);
                    cap_c += c;
                    cap_m += m;
                }
                None => {
                    self.violations
                        .push(format!("ACCEPT of unknown or used offer {id}"));
                    valid = false;
                }
            }
        }
        if acc["filters"]["refuse_seconds"].as_f64().is_none() {
            self.violations
                .push("ACCEPT without filters.refuse_seconds".into());
        }
        // Collect tasks: (task json, executor json if group)
        let mut launches: Vec<(Value, Option<Value>)> = Vec::new();
        for op in acc["operations"].as_array().into_iter().flatten() {
            match op["type"].as_str() {
                Some("LAUNCH") => {
                    for t in op["launch"]["task_infos"].as_array().into_iter().flatten() {
                        launches.push((t.clone(), None));
                    }
                }
                Some("LAUNCH_GROUP") => {
                    let ex = op["launch_group"]["executor"].clone();
                    if ex["type"] != "DEFAULT" {
                        self.violations.push(format!(
                            "LAUNCH_GROUP executor type {} (must be set, DEFAULT here)",
                            ex["type"]
                        ));
                    }
                    if ex.get("command").is_some() {
                        self.violations
                            .push("default executor with a command".into());
                    }
                    for t in op["launch_group"]["task_group"]["tasks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        // validation.cpp allows network_infos on a nested
                        // task (only HTTP/TCP health checks are refused there).
                        launches.push((t.clone(), Some(ex.clone())));
                    }
                }
                other => self
                    .violations
                    .push(format!("unexpected operation {other:?}")),
            }
        }
        let agent = agent.unwrap_or_default();
        let (range, used_ports) = self
            .agents
            .iter()
            .find(|a| a.id == agent)
            .map(|a| (a.ports, a.used_ports.clone()))
            .unwrap_or(((1, 0), BTreeSet::new()));
        let mut taken_ports = BTreeSet::new();
        let (mut need_c, mut need_m) = (0.0, 0.0);
        let mut new_execs: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for (t, ex) in &launches {
            let tid = t["task_id"]["value"].as_str().unwrap_or("");
            if tid.is_empty() || t["name"].as_str().is_none() {
                self.violations
                    .push(format!("task without name or task_id: {t}"));
            }
            if t["agent_id"]["value"].as_str() != Some(agent.as_str()) {
                self.violations.push(format!(
                    "task {tid} for agent {} on an offer of {agent}",
                    t["agent_id"]
                ));
            }
            if self.tasks.get(tid).is_some_and(|x| {
                !matches!(
                    x.state.as_str(),
                    "TASK_KILLED" | "TASK_FAILED" | "TASK_FINISHED" | "TASK_LOST" | "TASK_ERROR"
                )
            }) {
                self.violations.push(format!("duplicate task id {tid}"));
            }
            if t["command"]["value"].as_str().is_none() {
                self.violations.push(format!("task {tid} without command"));
            }
            self.check_resource_shape(&t["resources"], tid);
            for p in Self::ports_of(&t["resources"]) {
                if p < range.0 || p > range.1 || used_ports.contains(&p) || !taken_ports.insert(p) {
                    self.violations
                        .push(format!("task {tid} uses port {p}, not offered or taken"));
                    valid = false;
                }
            }
            need_c += Self::scalar(&t["resources"], "cpus");
            need_m += Self::scalar(&t["resources"], "mem");
            if let Some(ex) = ex {
                let eid = ex["executor_id"]["value"].as_str().unwrap_or("").to_owned();
                if !self.executors.contains_key(&eid) && !new_execs.contains_key(&eid) {
                    self.check_resource_shape(&ex["resources"], &eid);
                    let c = Self::scalar(&ex["resources"], "cpus");
                    let m = Self::scalar(&ex["resources"], "mem");
                    new_execs.insert(eid, (c, m));
                    need_c += c;
                    need_m += m;
                }
            }
        }
        if need_c > cap_c + 1e-6 || need_m > cap_m + 1e-6 {
            self.violations.push(format!(
                "ACCEPT uses cpus {need_c}/{cap_c} mem {need_m}/{cap_m}"
            ));
            valid = false;
        }
        for (t, ex) in launches {
            let tid = t["task_id"]["value"].as_str().unwrap_or("").to_owned();
            if !valid {
                self.update(&tid, "TASK_DROPPED", false, Some("REASON_INVALID_OFFERS"));
                continue;
            }
            let c = Self::scalar(&t["resources"], "cpus");
            let m = Self::scalar(&t["resources"], "mem");
            let executor = ex
                .as_ref()
                .map(|e| e["executor_id"]["value"].as_str().unwrap_or("").to_owned());
            if let Some(eid) = &executor {
                let (ec, em) = new_execs.get(eid).copied().unwrap_or((0.0, 0.0));
                let e = self.executors.entry(eid.clone()).or_insert_with(|| DExec {
                    agent: agent.clone(),
                    cpus: ec,
                    mem: em,
                    tasks: BTreeSet::new(),
                });
                e.tasks.insert(tid.clone());
                if new_execs.remove(eid).is_some()
                    && let Some(a) = self.agents.iter_mut().find(|a| a.id == agent)
                {
                    a.used_cpus += ec;
                    a.used_mem += em;
                }
            }
            let ports = Self::ports_of(&t["resources"]);
            if let Some(a) = self.agents.iter_mut().find(|a| a.id == agent) {
                a.used_cpus += c;
                a.used_mem += m;
                a.used_ports.extend(ports.iter().copied());
            }
            let env = t["command"]["environment"]["variables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| {
                    Some((
                        v["name"].as_str()?.to_owned(),
                        v["value"].as_str().unwrap_or("").to_owned(),
                    ))
                })
                .collect();
            self.tasks.insert(
                tid.clone(),
                DTask {
                    agent: agent.clone(),
                    executor,
                    state: "TASK_STAGING".into(),
                    cpus: c,
                    mem: m,
                    ports,
                    env,
                    pending: std::collections::VecDeque::new(),
                },
            );
            if self.user.is_empty() {
                // slave.cpp: with --switch_user (the default) the sandbox is
                // chowned to FrameworkInfo.user; for "" that fails and the
                // agent drops the task (TASK_LOST for a framework that is not
                // PARTITION_AWARE).
                self.update(&tid, "TASK_LOST", true, Some("REASON_EXECUTOR_TERMINATED"));
            } else {
                self.update(&tid, "TASK_RUNNING", true, None);
            }
        }
    }

    fn handle_call(&mut self, call: &Value) {
        match call["type"].as_str().unwrap_or("") {
            "ACCEPT" => self.accept(call),
            "DECLINE" => {
                for o in call["decline"]["offer_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let id = o["value"].as_str().unwrap_or("");
                    if self.offers.remove(id).is_none() {
                        self.violations
                            .push(format!("DECLINE of unknown offer {id}"));
                    }
                }
            }
            "KILL" => {
                let id = call["kill"]["task_id"]["value"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                match self.tasks.get(&id).map(|t| t.state.clone()) {
                    Some(s) if s == "TASK_RUNNING" || s == "TASK_STAGING" => {
                        // Killing one task of a group kills the group; ours are groups of one.
                        self.update(&id, "TASK_KILLED", true, None);
                    }
                    Some(_) => {}
                    None => self.update(&id, "TASK_LOST", false, Some("REASON_RECONCILIATION")),
                }
            }
            "ACKNOWLEDGE" => {
                let a = &call["acknowledge"];
                let id = a["task_id"]["value"].as_str().unwrap_or("");
                let uuid = a["uuid"].as_str().unwrap_or("");
                if a["agent_id"]["value"].as_str().is_none() {
                    self.violations
                        .push(format!("ACKNOWLEDGE without agent_id for {id}"));
                }
                let next = match self.tasks.get_mut(id) {
                    Some(t) if t.pending.front().is_some_and(|p| p.0 == uuid) => {
                        t.pending.pop_front();
                        t.pending.front().map(|p| p.1.clone())
                    }
                    _ => {
                        self.violations
                            .push(format!("ACKNOWLEDGE of unknown update {id}/{uuid}"));
                        None
                    }
                };
                if let Some(ev) = next {
                    self.emit(&ev);
                }
            }
            "RECONCILE" => {
                let listed: Vec<String> = call["reconcile"]["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["task_id"]["value"].as_str().map(str::to_owned))
                    .collect();
                // master.cpp: implicit reconciliation reports every task the
                // master knows (alive, or terminal with its update not yet
                // acknowledged); explicit, each listed task's latest state.
                let ids: Vec<String> = if listed.is_empty() {
                    self.tasks
                        .iter()
                        .filter(|(_, t)| !Self::terminal(&t.state) || !t.pending.is_empty())
                        .map(|(k, _)| k.clone())
                        .collect()
                } else {
                    listed
                };
                for id in ids {
                    let state = self.tasks.get(&id).map(|t| t.state.clone());
                    match state {
                        Some(s) if !Self::terminal(&s) || !self.tasks[&id].pending.is_empty() => {
                            self.reconcile_update(&id, &s)
                        }
                        _ => {
                            let st = json!({"task_id": {"value": id}, "state": "TASK_LOST", "source": "SOURCE_MASTER", "reason": "REASON_RECONCILIATION"});
                            self.emit(&json!({"type": "UPDATE", "update": {"status": st}}));
                        }
                    }
                }
            }
            "REVIVE" => {
                self.suppressed = false;
                self.offer_round();
            }
            "SUPPRESS" => self.suppressed = true,
            "TEARDOWN" => {
                self.torn_down = true;
                self.remove_framework();
            }
            other => self
                .violations
                .push(format!("unexpected call type {other:?}")),
        }
    }
}

#[derive(Clone)]
struct Ctx {
    st: Arc<Mutex<St>>,
    me: usize,
    addrs: Arc<Vec<SocketAddr>>,
}

fn resp(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

async fn scheduler(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response<Body> {
    let mut st = ctx.st.lock().unwrap();
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(a) = h("authorization") {
        st.authorizations.insert(a);
    }
    // libprocess authenticates before the handler runs.
    if let Some((principal, secret)) = st.auth.clone() {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{secret}"))
        );
        if h("authorization").as_deref() != Some(want.as_str()) {
            st.unauthorized_answers += 1;
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("WWW-Authenticate", "Basic realm=\"mesos\"")
                .body(Body::empty())
                .unwrap();
        }
    }
    if st.leader != ctx.me {
        let loc = format!("//{}/api/v1/scheduler", ctx.addrs[st.leader]);
        return Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("Location", loc)
            .body(Body::empty())
            .unwrap();
    }
    if st.recovering {
        st.unavailable_answers += 1;
        return resp(
            StatusCode::SERVICE_UNAVAILABLE,
            "Master has not finished recovery",
        );
    }
    if h("content-type").as_deref() != Some("application/json") {
        st.violations
            .push(format!("Content-Type {:?}", h("content-type")));
        return resp(StatusCode::UNSUPPORTED_MEDIA_TYPE, "json only");
    }
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        st.violations.push("body is not JSON".into());
        return resp(StatusCode::BAD_REQUEST, "bad json");
    };
    if call["type"] == "SUBSCRIBE" {
        if h("mesos-stream-id").is_some() {
            st.violations
                .push("SUBSCRIBE carries Mesos-Stream-Id".into());
            return resp(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        if h("accept").as_deref() != Some("application/json") {
            st.violations
                .push(format!("SUBSCRIBE Accept {:?}", h("accept")));
        }
        let info = &call["subscribe"]["framework_info"];
        if info["name"].as_str().is_none() || info["user"].as_str().is_none() {
            st.violations
                .push("framework_info without user or name".into());
        }
        if let Some((principal, _)) = &st.auth
            && info["principal"].as_str().is_some_and(|p| p != principal)
        {
            return resp(StatusCode::BAD_REQUEST, "principal mismatch");
        }
        st.subscribes.push(call.clone());
        st.role = info["roles"][0].as_str().unwrap_or("*").to_owned();
        st.user = info["user"].as_str().unwrap_or("").to_owned();
        // proto default: 0 (removed as soon as it disconnects)
        st.failover_timeout_s = info["failover_timeout"].as_f64().unwrap_or(0.0);
        let asked = info["id"]["value"].as_str().map(str::to_owned);
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        // a UUID, as the master generates it
        let sid = format!("{:08x}-6b13-4ef4-baa9-9f2e85c3e9af", st.next());
        let mut refused = None;
        match asked {
            Some(id) if st.removed.contains(&id) => {
                refused = Some("Framework has been removed");
            }
            Some(id) => {
                if st.framework_id.as_deref() == Some(id.as_str()) {
                    // failover: the scheduler connected so far is told and cut off
                    if st.stream.is_some() {
                        st.emit(&json!({"type": "ERROR", "error": {"message": "Framework failed over"}}));
                        st.stream = None;
                    }
                } else {
                    // A master that failed over does not know the framework
                    // until it re-subscribes: accepted with its id.
                    st.framework_id = Some(id);
                }
            }
            None => {
                let n = st.next();
                st.framework_id = Some(format!("12220-3440-12532-{n:04}"));
                st.tasks.clear();
                st.executors.clear();
            }
        }
        st.stream = Some((sid.clone(), tx));
        st.stream_ids.push(sid.clone());
        if let Some(message) = refused {
            st.emit(&json!({"type": "ERROR", "error": {"message": message}}));
            st.stream = None;
        } else {
            st.disconnected_at = None;
            let fw = st.framework_id.clone().unwrap();
            let hb = st.heartbeat_s;
            st.emit(&json!({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": fw}, "heartbeat_interval_seconds": hb}}));
            st.suppressed = false;
            st.offers.clear();
            // reliable updates not yet acknowledged are sent again
            let pending: Vec<Value> = st
                .tasks
                .values()
                .filter_map(|t| t.pending.front().map(|p| p.1.clone()))
                .collect();
            for ev in pending {
                st.emit(&ev);
            }
            st.offer_round();
        }
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", sid)
            .body(Body::from_stream(stream))
            .unwrap();
    }
    // http.cpp's order: framework lookup, connected, stream id.
    if st.framework_id.is_none()
        || call["framework_id"]["value"].as_str() != st.framework_id.as_deref()
    {
        st.rejected
            .push(format!("{} of an unknown framework", call["type"]));
        return resp(StatusCode::BAD_REQUEST, "Framework cannot be found");
    }
    let current = st.stream.as_ref().map(|s| s.0.clone());
    let Some(current) = current else {
        st.rejected
            .push(format!("{} while not subscribed", call["type"]));
        return resp(StatusCode::FORBIDDEN, "Framework is not subscribed");
    };
    let Some(sid) = h("mesos-stream-id") else {
        st.violations
            .push(format!("{} without stream id", call["type"]));
        return resp(
            StatusCode::BAD_REQUEST,
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
        );
    };
    if sid != current {
        st.rejected
            .push(format!("{} with stream id {sid}", call["type"]));
        let fw = st.framework_id.clone().unwrap_or_default();
        return resp(
            StatusCode::BAD_REQUEST,
            &format!(
                "The stream ID '{sid}' included in this request didn't match the stream ID currently associated with framework ID {fw}"
            ),
        );
    }
    if call["type"] == "ACCEPT" && st.refuse_accepts > 0 {
        st.refuse_accepts -= 1;
        st.rejected.push(format!(
            "ACCEPT refused on purpose: {}",
            call["accept"]["offer_ids"]
        ));
        return resp(
            StatusCode::BAD_REQUEST,
            "Failed to validate scheduler::Call: refused by the test",
        );
    }
    st.calls.push(call.clone());
    st.handle_call(&call);
    resp(StatusCode::ACCEPTED, "")
}

/// A cluster of `n` doubled masters sharing one state; master 0 leads at first.
pub struct Cluster {
    pub st: Arc<Mutex<St>>,
    pub addrs: Arc<Vec<SocketAddr>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    https: bool,
}

/// TLS in front of a master: each accepted connection goes through the handshake.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // a failed handshake (wrong CA on the client) just drops that connection
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl Cluster {
    pub async fn start(masters: usize, agents: &[(f64, f64)], heartbeat_s: f64) -> Cluster {
        Self::start_with(masters, agents, heartbeat_s, None).await
    }

    /// Masters that speak TLS with this acceptor (URLs become `https://`).
    pub async fn start_with(
        masters: usize,
        agents: &[(f64, f64)],
        heartbeat_s: f64,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Cluster {
        let st = Arc::new(Mutex::new(St {
            heartbeats: true,
            auto_offer: true,
            heartbeat_s,
            agents: agents
                .iter()
                .enumerate()
                .map(|(i, &(cpus, mem))| Agent {
                    id: format!("12220-3440-12532-S{i}"),
                    cpus,
                    mem,
                    used_cpus: 0.0,
                    used_mem: 0.0,
                    reserved_cpus: 0.0,
                    ports: (31000, 32000),
                    used_ports: BTreeSet::new(),
                })
                .collect(),
            ..St::default()
        }));
        let mut listeners = Vec::new();
        for _ in 0..masters {
            listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Arc<Vec<SocketAddr>> =
            Arc::new(listeners.iter().map(|l| l.local_addr().unwrap()).collect());
        let mut tasks = Vec::new();
        for (me, l) in listeners.into_iter().enumerate() {
            let app = Router::new()
                .route("/api/v1/scheduler", post(scheduler))
                .with_state(Ctx {
                    st: st.clone(),
                    me,
                    addrs: addrs.clone(),
                });
            let tls = tls.clone();
            tasks.push(tokio::spawn(async move {
                match tls {
                    Some(acceptor) => axum::serve(TlsListener { tcp: l, acceptor }, app)
                        .await
                        .unwrap(),
                    None => axum::serve(l, app).await.unwrap(),
                }
            }));
        }
        // heartbeats and offer rounds
        let tick = st.clone();
        tasks.push(tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(20));
            let mut n: u64 = 0;
            loop {
                iv.tick().await;
                n += 1;
                let mut s = tick.lock().unwrap();
                s.tick();
                let every = ((s.heartbeat_s * 1000.0 / 20.0).round() as u64).max(1);
                if s.heartbeats && n.is_multiple_of(every) {
                    s.emit(&json!({"type": "HEARTBEAT"}));
                }
                if s.auto_offer {
                    s.offer_round();
                }
            }
        }));
        Cluster {
            st,
            addrs,
            tasks,
            https: tls.is_some(),
        }
    }

    pub fn url(&self, i: usize) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addrs[i])
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut St) -> R) -> R {
        f(&mut self.st.lock().unwrap())
    }

    /// Close the subscription connection (network blip or master restart).
    pub fn drop_stream(&self) {
        self.with(St::close_stream);
    }

    /// Another master takes over: the old one closes the stream and redirects.
    pub fn elect(&self, leader: usize) {
        self.with(|s| {
            s.leader = leader;
            s.close_stream();
        });
    }

    /// The master forgets the subscription but leaves the connection open
    /// (calls with its stream id now get 403 "Framework is not subscribed").
    pub fn forget_subscription(&self) {
        self.with(|s| {
            s.zombie = s.stream.take();
            s.disconnected_at = Some(wall_now());
        });
    }

    /// The master now associates another stream id with the framework while
    /// the scheduler's connection stays open (calls get 400, as http.cpp
    /// answers a stream id mismatch).
    pub fn change_stream_id(&self) {
        self.with(|s| {
            if let Some((sid, tx)) = s.stream.take() {
                s.stream = Some((format!("{sid}-other"), tx));
            }
        });
    }

    /// The master fails over and forgets the framework (calls get 400
    /// "Framework cannot be found" until it subscribes again).
    pub fn forget_framework(&self) {
        self.with(|s| s.framework_id = Some("someone-else".into()));
    }

    /// A new leader is elected but the old master keeps the stream open:
    /// the scheduler learns it from a 307 on its next call.
    pub fn elect_quietly(&self, leader: usize) {
        self.with(|s| s.leader = leader);
    }

    /// Write raw bytes into the event stream.
    pub fn send_raw(&self, bytes: &[u8]) {
        self.with(|s| {
            if let Some((_, tx)) = &s.stream {
                let _ = tx.send(Bytes::copy_from_slice(bytes));
            }
        });
    }

    /// A running task fails (reliable TASK_FAILED update).
    pub fn fail_task(&self, id: &str) {
        self.with(|s| {
            s.update(
                id,
                "TASK_FAILED",
                true,
                Some("REASON_COMMAND_EXECUTOR_FAILED"),
            )
        });
    }

    pub fn running(&self) -> Vec<String> {
        self.with(|s| {
            s.tasks
                .iter()
                .filter(|(_, t)| t.state == "TASK_RUNNING")
                .map(|(k, _)| k.clone())
                .collect()
        })
    }

    pub fn calls_of(&self, kind: &str) -> Vec<Value> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c["type"] == kind)
                .cloned()
                .collect()
        })
    }

    pub fn violations(&self) -> Vec<String> {
        self.with(|s| s.violations.clone())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
