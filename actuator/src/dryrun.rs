//! The dry-run backends: print every step the real backends would take, and
//! keep just enough in-memory state for the fleet logic to run unchanged.
//!
//! `crest scale --dry-run` runs the very [`crate::fleet::FleetActuator`] that
//! production runs, over these backends, so the printed steps are the real
//! plan (reserve, create, CNI ADD, start, register, drain, ...), not a
//! separate description of it. Lines go to a shared sink so the caller
//! decides where they are printed; run with concurrency 1 for a stable order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crest_core::AppId;
use crest_core::seams::{LoadBalancer, SeamError, SeamErrorKind, ServerAdminState, ServerStats};

use crate::backend::{InstanceSpec, Network, Runtime, RuntimeInstance, TaskStatus, labels};

/// Where dry-run lines go.
#[derive(Debug, Clone, Default)]
pub struct Sink(Arc<Mutex<Vec<String>>>);

impl Sink {
    fn push(&self, line: String) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// Take the lines written so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A runtime that prints and pretends.
#[derive(Debug, Clone, Default)]
pub struct DryRunRuntime {
    sink: Sink,
    containers: Shared<BTreeMap<String, RuntimeInstance>>,
}

impl DryRunRuntime {
    /// A dry runtime writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        DryRunRuntime {
            sink,
            containers: Arc::default(),
        }
    }
}

impl Runtime for DryRunRuntime {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    async fn create(&self, spec: &InstanceSpec) -> Result<u32, SeamError> {
        let mut c = lock(&self.containers);
        let pid = 10_000 + u32::try_from(c.len()).unwrap_or(0);
        let mut l = BTreeMap::new();
        l.insert(labels::APP.to_string(), spec.app.to_string());
        if let Some(p) = &spec.plan_id {
            l.insert(labels::PLAN.to_string(), p.clone());
        }
        self.sink.push(format!(
            "containerd: prepare snapshot, create container and task {} (labels {})",
            spec.id,
            l.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        ));
        c.entry(spec.id.clone()).or_insert(RuntimeInstance {
            id: spec.id.clone(),
            labels: l,
            status: TaskStatus::Created,
            pid: Some(pid),
        });
        Ok(pid)
    }

    fn netns_path(&self, pid: u32) -> String {
        format!("/proc/{pid}/ns/net")
    }

    async fn start(&self, id: &str) -> Result<(), SeamError> {
        self.sink.push(format!("containerd: start task {id}"));
        match lock(&self.containers).get_mut(id) {
            Some(c) => {
                c.status = TaskStatus::Running;
                Ok(())
            }
            None => Err(SeamError::new(
                "dry-run",
                SeamErrorKind::NotFound,
                id.to_string(),
            )),
        }
    }

    async fn stop(&self, id: &str) -> Result<(), SeamError> {
        self.sink.push(format!(
            "containerd: stop task {id} (SIGTERM, grace, SIGKILL)"
        ));
        if let Some(c) = lock(&self.containers).get_mut(id) {
            c.status = TaskStatus::Stopped;
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), SeamError> {
        self.sink.push(format!(
            "containerd: delete task, container and snapshot {id}"
        ));
        lock(&self.containers).remove(id);
        Ok(())
    }

    async fn list(&self, app: Option<&AppId>) -> Result<Vec<RuntimeInstance>, SeamError> {
        Ok(lock(&self.containers)
            .values()
            .filter(|c| {
                app.is_none_or(|a| {
                    c.labels.get(labels::APP).map(String::as_str) == Some(a.as_str())
                })
            })
            .cloned()
            .collect())
    }
}

/// A network that prints and hands out addresses from 192.0.2.0/24 (TEST-NET-1, never routed).
#[derive(Debug, Clone, Default)]
pub struct DryRunNetwork {
    sink: Sink,
    allocs: Shared<BTreeMap<String, Vec<String>>>,
    next: Shared<u32>,
}

impl DryRunNetwork {
    /// A dry network writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        DryRunNetwork {
            sink,
            ..Default::default()
        }
    }
}

impl Network for DryRunNetwork {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    async fn attach(&self, id: &str, netns: &str) -> Result<String, SeamError> {
        let mut n = lock(&self.next);
        *n += 1;
        let ip = format!("192.0.2.{}", *n % 250 + 2);
        self.sink.push(format!("cni: ADD {id} in {netns} -> {ip}"));
        lock(&self.allocs).insert(id.to_string(), vec![ip.clone()]);
        Ok(ip)
    }

    async fn detach(&self, id: &str, _netns: Option<&str>) -> Result<(), SeamError> {
        self.sink.push(format!("cni: DEL {id}"));
        lock(&self.allocs).remove(id);
        Ok(())
    }

    async fn allocations(&self) -> Result<BTreeMap<String, Vec<String>>, SeamError> {
        Ok(lock(&self.allocs).clone())
    }
}

/// A load balancer that prints and keeps a server table.
#[derive(Debug, Clone, Default)]
pub struct DryRunLoadBalancer {
    sink: Sink,
    servers: Shared<BTreeMap<(String, String), ServerStats>>,
}

impl DryRunLoadBalancer {
    /// A dry balancer writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        DryRunLoadBalancer {
            sink,
            servers: Arc::default(),
        }
    }
}

impl LoadBalancer for DryRunLoadBalancer {
    async fn servers(&self, backend: &str) -> Result<Vec<ServerStats>, SeamError> {
        Ok(lock(&self.servers)
            .iter()
            .filter(|((b, _), _)| b == backend)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn set_weight(&self, backend: &str, server: &str, weight: u16) -> Result<(), SeamError> {
        self.sink
            .push(format!("haproxy: set weight {backend}/{server} {weight}"));
        if let Some(s) = lock(&self.servers).get_mut(&(backend.into(), server.into())) {
            s.weight = weight;
        }
        Ok(())
    }

    async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> Result<(), SeamError> {
        let st = match state {
            ServerAdminState::Ready => "ready",
            ServerAdminState::Drain => "drain",
            ServerAdminState::Maint => "maint",
        };
        self.sink
            .push(format!("haproxy: set server {backend}/{server} state {st}"));
        if let Some(s) = lock(&self.servers).get_mut(&(backend.into(), server.into())) {
            s.status = st.to_uppercase();
        }
        Ok(())
    }

    async fn add_server(&self, backend: &str, server: &str, addr: &str) -> Result<(), SeamError> {
        self.sink.push(format!(
            "haproxy: add server {backend}/{server} {addr} check"
        ));
        lock(&self.servers).insert(
            (backend.into(), server.into()),
            ServerStats {
                name: server.into(),
                status: "MAINT".into(),
                ..ServerStats::default()
            },
        );
        Ok(())
    }

    async fn remove_server(&self, backend: &str, server: &str) -> Result<(), SeamError> {
        self.sink
            .push(format!("haproxy: del server {backend}/{server}"));
        lock(&self.servers).remove(&(backend.into(), server.into()));
        Ok(())
    }
}
