//! The fleet actuator: scale an app's containers out and in, journaled,
//! in parallel batches, and reconcile after a crash.
//!
//! One instance's life, each step written to the journal before it is done:
//!
//! ```text
//!  start: reserve id ─► create (snapshot, container, task) ─► CNI ADD in the task's netns
//!         ─► start task ─► LB add server (maint) ─► weight ─► ready ─► running
//!  stop:  stopping ─► LB drain ─► (drain period) ─► maint ─► del server
//!         ─► SIGTERM/grace/SIGKILL ─► CNI DEL ─► delete task, container, snapshot ─► gone
//! ```
//!
//! Why reconcile before every scale: the journal says what crest *meant* to do,
//! the backends say what *is*. An instance is kept only when both agree it is
//! fully running; anything half-built (a crash between two steps) is torn
//! down, every CNI address whose container no longer exists is released, and
//! every balancer entry crest named that has no running instance is removed.
//! Running instances missing from the balancer (HAProxy restarted and lost its
//! runtime changes) are registered again. Then the count is brought to the
//! desired one, so a re-run after kill -9 never duplicates a container.
//!
//! Work runs in parallel under a concurrency limit (a semaphore), each backend
//! call passes its backend's [`RateLimiter`] and is retried with backoff while
//! [`SeamError::is_retryable`] says a retry can help. Failures are reported per
//! instance; a failed start is torn down at once, and with `rollback` the
//! whole scale-out is undone when any start fails.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use crest_core::action::InstanceId;
use crest_core::seams::{
    Actuator, Applied, FleetState, InstancePhase, InstanceState, LoadBalancer, SeamError,
    SeamErrorKind, ServerAdminState, ServerStats,
};
use crest_core::{Action, AppId, Clock, Replicas};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::backend::{InstanceSpec, Network, Runtime, TaskStatus};
use crate::error::ActuatorError;
use crate::exec::{RateLimiter, RetryPolicy, retry};
use crate::journal::{Journal, JournalState, StepMark};

/// How the fleet actuator executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetOptions {
    /// Instances started or stopped at once.
    pub concurrency: usize,
    /// containerd calls per second (0 = unlimited).
    pub runtime_rate_per_s: f64,
    /// CNI calls per second (0 = unlimited).
    pub network_rate_per_s: f64,
    /// Load-balancer calls per second (0 = unlimited).
    pub lb_rate_per_s: f64,
    /// Load-balancer calls in flight at once (HAProxy's stats socket accepts
    /// few connections at a time: `stats maxconn`, 10 by default).
    pub lb_concurrency: usize,
    /// Burst allowed above the rates.
    pub burst: u32,
    /// Retries.
    pub retry: RetryPolicy,
    /// The port each instance serves on (registered in the balancer).
    pub port: u16,
    /// Final balancer weight (HAProxy: 1-256).
    pub weight: u16,
    /// Steps of the weight ramp (1 = full weight at once).
    pub ramp_steps: u32,
    /// Time between ramp steps, ms.
    pub ramp_step_ms: u64,
    /// Time a draining instance keeps its in-flight requests before removal, ms.
    pub drain_ms: u64,
    /// Undo the whole scale-out when any start fails.
    pub rollback: bool,
    /// After a scale-out, wait up to this long for the balancer's health
    /// checks to pass on every new instance, ms (0: do not wait). Those still
    /// failing are reported as `unhealthy` (and kept: they may yet come up).
    pub health_wait_ms: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            concurrency: 64,
            runtime_rate_per_s: 0.0,
            network_rate_per_s: 0.0,
            lb_rate_per_s: 0.0,
            lb_concurrency: 8,
            burst: 64,
            retry: RetryPolicy::default(),
            port: 8080,
            weight: 100,
            ramp_steps: 3,
            ramp_step_ms: 1_000,
            drain_ms: 2_000,
            rollback: false,
            health_wait_ms: 30_000,
        }
    }
}

/// What a reconciliation found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// Fully running instances kept.
    pub kept: u32,
    /// Half-built or half-removed instances torn down.
    pub torn_down: Vec<String>,
    /// CNI addresses released whose container was gone (container id -> IPs).
    pub released_ips: BTreeMap<String, Vec<String>>,
    /// Balancer entries removed that had no running instance.
    pub removed_lb: Vec<String>,
    /// Running instances registered again (the balancer had lost them).
    pub reregistered: Vec<String>,
    /// Runtime processes stopped that served nothing (orphaned shims).
    #[serde(default)]
    pub reaped: Vec<String>,
    /// Problems that did not stop reconciliation.
    pub errors: Vec<String>,
}

/// The outcome of one scale call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleReport {
    /// The app.
    pub app: String,
    /// Running instances before (after reconciliation).
    pub from: u32,
    /// Asked for.
    pub to: u32,
    /// Running now.
    pub running: u32,
    /// Instances started.
    pub started: Vec<String>,
    /// Instances stopped.
    pub stopped: Vec<String>,
    /// Instances that failed, with why.
    pub failed: BTreeMap<String, String>,
    /// Started instances removed again by rollback.
    pub rolled_back: Vec<String>,
    /// Started instances whose health checks had not passed after
    /// `health_wait_ms` (still running and registered).
    #[serde(default)]
    pub unhealthy: Vec<String>,
    /// What reconciliation did first.
    pub reconcile: ReconcileReport,
}

/// Whether a balancer status means traffic may go there: HAProxy's `UP`
/// (also `UP 1/3`, still up while failing its first checks) or `no check`.
pub fn is_healthy(status: &str) -> bool {
    status.starts_with("UP") || status == "no check"
}

/// A load balancer that is not there: every call succeeds and holds nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLoadBalancer;

impl LoadBalancer for NoLoadBalancer {
    async fn servers(&self, _backend: &str) -> Result<Vec<ServerStats>, SeamError> {
        Ok(Vec::new())
    }
    async fn set_weight(&self, _b: &str, _s: &str, _w: u16) -> Result<(), SeamError> {
        Ok(())
    }
    async fn set_state(&self, _b: &str, _s: &str, _st: ServerAdminState) -> Result<(), SeamError> {
        Ok(())
    }
    async fn add_server(&self, _b: &str, _s: &str, _a: &str) -> Result<(), SeamError> {
        Ok(())
    }
    async fn remove_server(&self, _b: &str, _s: &str) -> Result<(), SeamError> {
        Ok(())
    }
}

struct Inner<R, N, L, C> {
    runtime: R,
    network: Option<N>,
    lb: Option<L>,
    journal: Journal,
    clock: C,
    opts: FleetOptions,
    sem: Semaphore,
    lb_sem: Semaphore,
    rl_runtime: RateLimiter,
    rl_network: RateLimiter,
    rl_lb: RateLimiter,
}

/// Scales apps through a [`Runtime`], an optional [`Network`] and an optional
/// [`LoadBalancer`], journaling every step. Cheap to clone.
pub struct FleetActuator<R, N, L, C> {
    inner: Arc<Inner<R, N, L, C>>,
}

impl<R, N, L, C> Clone for FleetActuator<R, N, L, C> {
    fn clone(&self) -> Self {
        FleetActuator {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// Whether a server name is one crest gave an instance of `app` (`<app>-<digits>`).
pub fn is_instance_of(app: &AppId, name: &str) -> bool {
    name.strip_prefix(app.as_str())
        .and_then(|r| r.strip_prefix('-'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

fn ignore_not_found(r: Result<(), SeamError>) -> Result<(), SeamError> {
    match r {
        Err(e) if e.kind == SeamErrorKind::NotFound => Ok(()),
        other => other,
    }
}

impl<R, N, L, C> FleetActuator<R, N, L, C>
where
    R: Runtime,
    N: Network,
    L: LoadBalancer + 'static,
    C: Clock + Clone + 'static,
{
    /// A fleet actuator over these backends.
    pub fn new(
        runtime: R,
        network: Option<N>,
        lb: Option<L>,
        journal: Journal,
        clock: C,
        opts: FleetOptions,
    ) -> Self {
        let burst = opts.burst;
        FleetActuator {
            inner: Arc::new(Inner {
                rl_runtime: RateLimiter::new(opts.runtime_rate_per_s, burst),
                rl_network: RateLimiter::new(opts.network_rate_per_s, burst),
                rl_lb: RateLimiter::new(opts.lb_rate_per_s, burst),
                sem: Semaphore::new(opts.concurrency.max(1)),
                lb_sem: Semaphore::new(opts.lb_concurrency.max(1)),
                runtime,
                network,
                lb,
                journal,
                clock,
                opts,
            }),
        }
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// The runtime backend.
    pub fn runtime(&self) -> &R {
        &self.inner.runtime
    }

    /// Bring `app` to `replicas` running instances.
    ///
    /// # Errors
    /// Only when the journal or a backend's listing fails; per-instance
    /// failures are in the report.
    pub async fn scale(
        &self,
        app: &AppId,
        replicas: u32,
        plan_id: Option<&str>,
    ) -> Result<ScaleReport, ActuatorError> {
        let inner = &self.inner;
        inner.journal.set_desired(app, replicas, plan_id)?;
        let (reconcile, live) = self.reconcile_inner(app).await?;
        let mut report = ScaleReport {
            app: app.to_string(),
            from: u32::try_from(live.len()).unwrap_or(u32::MAX),
            to: replicas,
            reconcile,
            ..ScaleReport::default()
        };
        let have = live.len();
        let want = replicas as usize;
        if want > have {
            let plan = plan_id.map(str::to_string);
            let results = self
                .for_each((0..want - have).collect(), {
                    let app = app.clone();
                    move |me, _k| {
                        let app = app.clone();
                        let plan = plan.clone();
                        async move { me.start_one(&app, plan.as_deref()).await }
                    }
                })
                .await;
            let mut started = Vec::new();
            for r in results {
                match r {
                    Ok((id, ip)) => started.push((id, ip)),
                    Err((id, e)) => {
                        report.failed.insert(id, e);
                    }
                }
            }
            if !report.failed.is_empty() && inner.opts.rollback {
                let victims: Vec<String> = started.iter().map(|(id, _)| id.clone()).collect();
                let undone = self.stop_many(app, victims).await;
                for r in undone {
                    match r {
                        Ok(id) => report.rolled_back.push(id),
                        Err((id, e)) => {
                            report.failed.insert(id, format!("rollback: {e}"));
                        }
                    }
                }
                started.clear();
            } else {
                self.ramp(app, &started).await;
                report.unhealthy = self.wait_healthy(app, &started).await;
            }
            report.started = started.into_iter().map(|(id, _)| id).collect();
        } else if want < have {
            // Newest first: the oldest instances are the warmest.
            let victims: Vec<String> = live.keys().rev().take(have - want).cloned().collect();
            for r in self.stop_many(app, victims).await {
                match r {
                    Ok(id) => report.stopped.push(id),
                    Err((id, e)) => {
                        report.failed.insert(id, e);
                    }
                }
            }
        }
        report.started.sort();
        report.stopped.sort();
        report.rolled_back.sort();
        report.unhealthy.sort();
        report.running = u32::try_from(
            self.inner
                .journal
                .live(app)?
                .values()
                .filter(|i| i.state == JournalState::Running)
                .count(),
        )
        .unwrap_or(u32::MAX);
        Ok(report)
    }

    /// Reconcile the journal with what the backends hold (see the module docs).
    ///
    /// # Errors
    /// When a backend cannot be listed or the journal fails.
    pub async fn reconcile(&self, app: &AppId) -> Result<ReconcileReport, ActuatorError> {
        self.reconcile_inner(app).await.map(|(r, _)| r)
    }

    async fn reconcile_inner(
        &self,
        app: &AppId,
    ) -> Result<(ReconcileReport, BTreeMap<String, Option<String>>), ActuatorError> {
        let inner = &self.inner;
        let mut report = ReconcileReport::default();
        let containers = self
            .call(&inner.rl_runtime, || inner.runtime.list(Some(app)))
            .await
            .map_err(|e| ActuatorError::backend(format!("list containers of {app}"), e))?;
        let journal = inner.journal.live(app)?;
        let allocs = match &inner.network {
            Some(n) => self
                .call(&inner.rl_network, || n.allocations())
                .await
                .map_err(|e| ActuatorError::backend("read CNI allocations", e))?,
            None => BTreeMap::new(),
        };
        let lb_names: BTreeSet<String> = match &inner.lb {
            Some(lb) => match self.lb_call(|| lb.servers(app.as_str())).await {
                Ok(s) => s
                    .into_iter()
                    .map(|s| s.name)
                    .filter(|n| is_instance_of(app, n))
                    .collect(),
                Err(e) => {
                    report.errors.push(format!("list balancer servers: {e}"));
                    BTreeSet::new()
                }
            },
            None => BTreeSet::new(),
        };

        let mut live: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut doomed: BTreeSet<String> = BTreeSet::new();
        let mut reregister = Vec::new();
        for c in &containers {
            let j = journal.get(&InstanceId::from(c.id.as_str()));
            let ip = allocs.get(&c.id).and_then(|v| v.first().cloned());
            let healthy = j.is_some_and(|j| j.state == JournalState::Running)
                && c.status == TaskStatus::Running
                && (inner.network.is_none() || ip.is_some());
            if healthy {
                if inner.lb.is_some() && !lb_names.contains(&c.id) {
                    reregister.push((c.id.clone(), ip.clone()));
                }
                live.insert(c.id.clone(), ip);
            } else {
                doomed.insert(c.id.clone());
            }
        }
        for id in journal.keys() {
            if !live.contains_key(id.as_str()) {
                doomed.insert(id.to_string());
            }
        }
        let doomed: Vec<String> = doomed.into_iter().collect();
        for r in self.stop_many(app, doomed).await {
            match r {
                Ok(id) => report.torn_down.push(id),
                Err((id, e)) => report.errors.push(format!("tear down {id}: {e}")),
            }
        }
        // Addresses whose container no longer exists anywhere in crest.
        if let Some(n) = &inner.network {
            let all: BTreeSet<String> = self
                .call(&inner.rl_runtime, || inner.runtime.list(None))
                .await
                .map_err(|e| ActuatorError::backend("list containers", e))?
                .into_iter()
                .map(|c| c.id)
                .collect();
            let allocs = self
                .call(&inner.rl_network, || n.allocations())
                .await
                .map_err(|e| ActuatorError::backend("read CNI allocations", e))?;
            for (cid, ips) in allocs {
                if all.contains(&cid) {
                    continue;
                }
                match self.call(&inner.rl_network, || n.detach(&cid, None)).await {
                    Ok(()) => {
                        report.released_ips.insert(cid, ips);
                    }
                    Err(e) => report.errors.push(format!("release IPs of {cid}: {e}")),
                }
            }
        }
        // Balancer entries with no running instance behind them.
        if let Some(lb) = &inner.lb {
            for name in &lb_names {
                if live.contains_key(name) {
                    continue;
                }
                match self.lb_remove(lb, app, name).await {
                    Ok(()) => report.removed_lb.push(name.clone()),
                    Err(e) => report
                        .errors
                        .push(format!("remove balancer entry {name}: {e}")),
                }
            }
            for (id, ip) in reregister {
                let Some(ip) = ip else { continue };
                match self
                    .lb_add(
                        lb,
                        app,
                        &id,
                        &format!("{ip}:{}", inner.opts.port),
                        inner.opts.weight,
                    )
                    .await
                {
                    Ok(()) => report.reregistered.push(id),
                    Err(e) => report.errors.push(format!("register {id} again: {e}")),
                }
            }
        }
        match inner.runtime.reap_orphans().await {
            Ok(r) => report.reaped = r,
            Err(e) => report
                .errors
                .push(format!("reap orphaned runtime processes: {e}")),
        }
        report.kept = u32::try_from(live.len()).unwrap_or(u32::MAX);
        Ok((report, live))
    }

    /// Run `f` over items with the concurrency limit; results in item order.
    async fn for_each<T, F, Fut, O>(&self, items: Vec<T>, f: F) -> Vec<O>
    where
        T: Send + 'static,
        F: Fn(Self, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        let f = Arc::new(f);
        let mut set = tokio::task::JoinSet::new();
        for (k, item) in items.into_iter().enumerate() {
            let me = self.clone();
            let f = Arc::clone(&f);
            set.spawn(async move {
                // The semaphore is never closed, so acquire cannot fail.
                let _permit = me.inner.sem.acquire().await.ok();
                (k, f(me.clone(), item).await)
            });
        }
        let mut out: Vec<(usize, O)> = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(v) = r {
                out.push(v);
            }
        }
        out.sort_by_key(|(k, _)| *k);
        out.into_iter().map(|(_, o)| o).collect()
    }

    async fn call<T, F, Fut>(&self, rl: &RateLimiter, op: F) -> Result<T, SeamError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SeamError>>,
    {
        let inner = &self.inner;
        retry(&inner.opts.retry, &inner.clock, || async {
            rl.acquire(&inner.clock).await;
            op().await
        })
        .await
    }

    /// A load-balancer call: its own concurrency limit, then rate limit and retries.
    async fn lb_call<T, F, Fut>(&self, op: F) -> Result<T, SeamError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SeamError>>,
    {
        let inner = &self.inner;
        retry(&inner.opts.retry, &inner.clock, || async {
            // Never closed, so acquire cannot fail.
            let _permit = inner.lb_sem.acquire().await.ok();
            inner.rl_lb.acquire(&inner.clock).await;
            op().await
        })
        .await
    }

    fn log(
        &self,
        app: &AppId,
        id: &str,
        step: &str,
        mark: StepMark,
        detail: &str,
        state: Option<JournalState>,
    ) -> Result<(), String> {
        self.inner
            .journal
            .step(
                app,
                &InstanceId::from(id),
                step,
                mark,
                detail,
                state,
                self.inner.clock.now(),
            )
            .map_err(|e| format!("{e}"))
    }

    async fn start_one(
        &self,
        app: &AppId,
        plan_id: Option<&str>,
    ) -> Result<(String, Option<String>), (String, String)> {
        let inner = &self.inner;
        let id = inner
            .journal
            .reserve(app, plan_id, inner.clock.now())
            .map_err(|e| ("(unreserved)".to_string(), e.to_string()))?
            .0
            .to_string();
        match self.build_one(app, &id, plan_id).await {
            Ok(ip) => Ok((id, ip)),
            Err(e) => {
                let _ = self.log(app, &id, "start", StepMark::Failed, &e, None);
                // Undo what was built; reconciliation retries if this fails too.
                let why = match self.stop_one(app, &id).await {
                    Ok(()) => e,
                    Err(e2) => format!("{e}; cleanup failed: {e2}"),
                };
                Err((id, why))
            }
        }
    }

    async fn build_one(
        &self,
        app: &AppId,
        id: &str,
        plan_id: Option<&str>,
    ) -> Result<Option<String>, String> {
        let inner = &self.inner;
        let spec = InstanceSpec {
            id: id.to_string(),
            app: app.clone(),
            plan_id: plan_id.map(str::to_string),
        };
        self.log(app, id, "create", StepMark::Intent, "", None)?;
        let pid = self
            .call(&inner.rl_runtime, || inner.runtime.create(&spec))
            .await
            .map_err(|e| e.to_string())?;
        self.log(
            app,
            id,
            "create",
            StepMark::Done,
            &format!("pid {pid}"),
            None,
        )?;
        let mut ip = None;
        if let Some(n) = &inner.network {
            let netns = inner.runtime.netns_path(pid);
            self.log(app, id, "attach", StepMark::Intent, &netns, None)?;
            let addr = self
                .call(&inner.rl_network, || n.attach(id, &netns))
                .await
                .map_err(|e| e.to_string())?;
            inner
                .journal
                .set_ip(&InstanceId::from(id), Some(&addr))
                .map_err(|e| e.to_string())?;
            self.log(app, id, "attach", StepMark::Done, &addr, None)?;
            ip = Some(addr);
        }
        self.log(app, id, "start", StepMark::Intent, "", None)?;
        self.call(&inner.rl_runtime, || inner.runtime.start(id))
            .await
            .map_err(|e| e.to_string())?;
        self.log(app, id, "start", StepMark::Done, "", None)?;
        if let (Some(lb), Some(addr)) = (&inner.lb, &ip) {
            self.log(app, id, "register", StepMark::Intent, addr, None)?;
            let first = first_weight(inner.opts.weight, inner.opts.ramp_steps);
            self.lb_add(lb, app, id, &format!("{addr}:{}", inner.opts.port), first)
                .await
                .map_err(|e| e.to_string())?;
            self.log(app, id, "register", StepMark::Done, addr, None)?;
        }
        self.log(
            app,
            id,
            "running",
            StepMark::Done,
            "",
            Some(JournalState::Running),
        )?;
        Ok(ip)
    }

    /// Register `id` at `addr` (`ip:port`) with health checks, set its
    /// weight, make it ready. Idempotent.
    async fn lb_add(
        &self,
        lb: &L,
        app: &AppId,
        id: &str,
        addr: &str,
        weight: u16,
    ) -> Result<(), SeamError> {
        match self.lb_call(|| lb.add_server(app.as_str(), id, addr)).await {
            Ok(()) => {}
            // Registered before a crash or a lost reply: carry on.
            Err(e)
                if e.message.contains("already exists") || e.message.contains("Already exists") => {
            }
            Err(e) => return Err(e),
        }
        self.lb_call(|| lb.set_weight(app.as_str(), id, weight))
            .await?;
        self.lb_call(|| lb.set_state(app.as_str(), id, ServerAdminState::Ready))
            .await
    }

    async fn lb_remove(&self, lb: &L, app: &AppId, id: &str) -> Result<(), SeamError> {
        ignore_not_found(
            self.lb_call(|| lb.set_state(app.as_str(), id, ServerAdminState::Maint))
                .await,
        )?;
        ignore_not_found(self.lb_call(|| lb.remove_server(app.as_str(), id)).await)
    }

    async fn stop_many(
        &self,
        app: &AppId,
        ids: Vec<String>,
    ) -> Vec<Result<String, (String, String)>> {
        let app = app.clone();
        self.for_each(ids, move |me, id| {
            let app = app.clone();
            async move {
                match me.stop_one(&app, &id).await {
                    Ok(()) => Ok(id),
                    Err(e) => Err((id, e)),
                }
            }
        })
        .await
    }

    async fn stop_one(&self, app: &AppId, id: &str) -> Result<(), String> {
        let inner = &self.inner;
        self.log(
            app,
            id,
            "stop",
            StepMark::Intent,
            "",
            Some(JournalState::Stopping),
        )?;
        if let Some(lb) = &inner.lb {
            self.log(app, id, "drain", StepMark::Intent, "", None)?;
            let drained = ignore_not_found(
                self.lb_call(|| lb.set_state(app.as_str(), id, ServerAdminState::Drain))
                    .await,
            );
            match drained {
                Ok(()) => {
                    if inner.opts.drain_ms > 0 {
                        let until = inner
                            .clock
                            .now()
                            .add_millis(i64::try_from(inner.opts.drain_ms).unwrap_or(i64::MAX));
                        inner.clock.sleep_until(until).await;
                    }
                }
                Err(e) => return Err(format!("drain {id}: {e}")),
            }
            self.lb_remove(lb, app, id)
                .await
                .map_err(|e| format!("deregister {id}: {e}"))?;
            self.log(app, id, "deregister", StepMark::Done, "", None)?;
        }
        self.call(&inner.rl_runtime, || inner.runtime.stop(id))
            .await
            .map_err(|e| e.to_string())?;
        self.log(app, id, "stop", StepMark::Done, "", None)?;
        if let Some(n) = &inner.network {
            // The task is gone, so is its netns: DEL releases the address.
            self.call(&inner.rl_network, || n.detach(id, None))
                .await
                .map_err(|e| e.to_string())?;
            inner
                .journal
                .set_ip(&InstanceId::from(id), None)
                .map_err(|e| e.to_string())?;
            self.log(app, id, "detach", StepMark::Done, "", None)?;
        }
        self.call(&inner.rl_runtime, || inner.runtime.remove(id))
            .await
            .map_err(|e| e.to_string())?;
        self.log(
            app,
            id,
            "remove",
            StepMark::Done,
            "",
            Some(JournalState::Gone),
        )?;
        Ok(())
    }

    async fn ramp(&self, app: &AppId, started: &[(String, Option<String>)]) {
        let inner = &self.inner;
        if inner.lb.is_none() {
            return;
        }
        let steps = inner.opts.ramp_steps.max(1);
        for k in 2..=steps {
            let until = inner
                .clock
                .now()
                .add_millis(i64::try_from(inner.opts.ramp_step_ms).unwrap_or(i64::MAX));
            inner.clock.sleep_until(until).await;
            let w = ramp_weight(inner.opts.weight, steps, k);
            let ids: Vec<String> = started.iter().map(|(id, _)| id.clone()).collect();
            let app2 = app.clone();
            self.for_each(ids, move |me, id| {
                let app = app2.clone();
                async move {
                    if let Some(lb) = &me.inner.lb {
                        // A missed ramp step is not fatal: the next one or
                        // the final weight catches up.
                        let _ = me.lb_call(|| lb.set_weight(app.as_str(), &id, w)).await;
                    }
                }
            })
            .await;
        }
    }

    /// Wait (up to `health_wait_ms`) until the balancer's health checks pass
    /// on every started instance; returns those that never passed.
    async fn wait_healthy(&self, app: &AppId, started: &[(String, Option<String>)]) -> Vec<String> {
        let inner = &self.inner;
        let wait = inner.opts.health_wait_ms;
        let Some(lb) = inner
            .lb
            .as_ref()
            .filter(|_| wait > 0 && !started.is_empty())
        else {
            return Vec::new();
        };
        let mut pending: Vec<String> = started.iter().map(|(id, _)| id.clone()).collect();
        let deadline = inner
            .clock
            .now()
            .add_millis(i64::try_from(wait).unwrap_or(i64::MAX));
        loop {
            // A balancer that cannot be asked (after retries) cannot say
            // they are healthy either.
            let Ok(servers) = self.lb_call(|| lb.servers(app.as_str())).await else {
                return pending;
            };
            let healthy: std::collections::BTreeSet<&str> = servers
                .iter()
                .filter(|s| is_healthy(&s.status))
                .map(|s| s.name.as_str())
                .collect();
            pending.retain(|id| !healthy.contains(id.as_str()));
            let now = inner.clock.now();
            if pending.is_empty() || now >= deadline {
                return pending;
            }
            inner
                .clock
                .sleep_until(now.add_millis(200).min(deadline))
                .await;
        }
    }

    /// The app's fleet as the runtime and the journal see it.
    ///
    /// # Errors
    /// When the runtime cannot be listed or the journal fails.
    pub async fn fleet(&self, app: &AppId) -> Result<FleetState, ActuatorError> {
        let inner = &self.inner;
        let containers = self
            .call(&inner.rl_runtime, || inner.runtime.list(Some(app)))
            .await
            .map_err(|e| ActuatorError::backend(format!("list containers of {app}"), e))?;
        let journal = inner.journal.live(app)?;
        let instances = containers
            .into_iter()
            .map(|c| {
                let j = journal.get(&InstanceId::from(c.id.as_str()));
                let phase = match (j.map(|j| j.state), c.status) {
                    (_, TaskStatus::Stopped) => InstancePhase::Failed,
                    (Some(JournalState::Running), TaskStatus::Running) => InstancePhase::Running,
                    (Some(JournalState::Stopping | JournalState::Gone), _) => {
                        InstancePhase::Draining
                    }
                    _ => InstancePhase::Starting,
                };
                InstanceState {
                    addr: j
                        .and_then(|j| j.ip.clone())
                        .map(|ip| format!("{ip}:{}", inner.opts.port)),
                    id: InstanceId::from(c.id),
                    phase,
                }
            })
            .collect();
        Ok(FleetState {
            app: app.clone(),
            at: inner.clock.now(),
            desired: Replicas(inner.journal.desired(app)?.unwrap_or(0)),
            instances,
        })
    }
}

/// The weight at ramp step `k` of `steps` (1-based), never 0.
pub fn ramp_weight(weight: u16, steps: u32, k: u32) -> u16 {
    let steps = steps.max(1);
    let k = k.clamp(1, steps);
    let w = u32::from(weight) * k / steps;
    u16::try_from(w.max(1)).unwrap_or(weight)
}

fn first_weight(weight: u16, steps: u32) -> u16 {
    ramp_weight(weight, steps, 1)
}

impl<R, N, L, C> Actuator for FleetActuator<R, N, L, C>
where
    R: Runtime,
    N: Network,
    L: LoadBalancer + 'static,
    C: Clock + Clone + 'static,
{
    async fn observe(&self, app: &AppId) -> Result<FleetState, SeamError> {
        self.fleet(app).await.map_err(ActuatorError::into_seam)
    }

    async fn apply(&self, action: &Action) -> Result<Applied, SeamError> {
        let inner = &self.inner;
        let detail = match action {
            Action::SetReplicas {
                app,
                replicas,
                plan_id,
            } => {
                let r = self
                    .scale(app, replicas.0, plan_id.as_deref())
                    .await
                    .map_err(ActuatorError::into_seam)?;
                if let Some((id, why)) = r.failed.iter().next() {
                    return Err(SeamError::new(
                        "actuator",
                        SeamErrorKind::Unavailable,
                        format!(
                            "scaled {app} to {} of {} replicas; {} failed (first: {id}: {why})",
                            r.running,
                            r.to,
                            r.failed.len()
                        ),
                    ));
                }
                let changed = !(r.started.is_empty()
                    && r.stopped.is_empty()
                    && r.reconcile.torn_down.is_empty());
                return Ok(Applied {
                    action: action.clone(),
                    changed,
                    detail: format!(
                        "{app}: {} -> {} running (started {}, stopped {})",
                        r.from,
                        r.running,
                        r.started.len(),
                        r.stopped.len()
                    ),
                });
            }
            Action::Register {
                app,
                instance,
                addr,
            } => {
                let lb = inner.lb.as_ref().ok_or_else(no_lb)?;
                self.lb_add(lb, app, &instance.0, addr, inner.opts.weight)
                    .await?;
                format!("registered {instance} at {addr}")
            }
            Action::Deregister { app, instance } => {
                let lb = inner.lb.as_ref().ok_or_else(no_lb)?;
                self.lb_remove(lb, app, &instance.0).await?;
                format!("deregistered {instance}")
            }
            Action::SetWeight {
                app,
                instance,
                weight,
            } => {
                let lb = inner.lb.as_ref().ok_or_else(no_lb)?;
                self.lb_call(|| lb.set_weight(app.as_str(), &instance.0, *weight))
                    .await?;
                format!("weight of {instance} set to {weight}")
            }
            Action::Drain { app, instance } => {
                let lb = inner.lb.as_ref().ok_or_else(no_lb)?;
                self.lb_call(|| lb.set_state(app.as_str(), &instance.0, ServerAdminState::Drain))
                    .await?;
                format!("draining {instance}")
            }
            other => {
                return Err(SeamError::new(
                    "actuator",
                    SeamErrorKind::Rejected,
                    format!("action not supported by the fleet actuator: {other}"),
                ));
            }
        };
        Ok(Applied {
            action: action.clone(),
            changed: true,
            detail,
        })
    }
}

fn no_lb() -> SeamError {
    SeamError::new(
        "actuator",
        SeamErrorKind::Rejected,
        "no load balancer configured for this actuator",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_recognised_exactly() {
        let app = AppId::try_new("web").unwrap();
        assert!(is_instance_of(&app, "web-00001"));
        assert!(!is_instance_of(&app, "web-"));
        assert!(!is_instance_of(&app, "web-1-00001"));
        assert!(!is_instance_of(&app, "static1"));
        assert!(!is_instance_of(&app, "webx-00001"));
    }

    #[test]
    fn ramp_reaches_full_weight_and_never_zero() {
        assert_eq!(ramp_weight(100, 3, 1), 33);
        assert_eq!(ramp_weight(100, 3, 3), 100);
        assert_eq!(ramp_weight(1, 4, 1), 1);
        assert_eq!(ramp_weight(256, 1, 1), 256);
    }
}
