//! [`MesosActuator`]: the framework driver behind the `Actuator` seam.
//!
//! Two tasks run per actuator: the *stream* task holds the SUBSCRIBE
//! connection, reads events and hands them to [`Framework`]; the *sender* task
//! posts the resulting calls, in order, on other connections. `apply` only
//! records the desired count and queues kills, so it returns at once; launches
//! happen as offers arrive. Time is read only through the [`Clock`] seam
//! (heartbeat deadlines, call timeouts, reconnect backoff).
//!
//! How each master answer is handled (as `src/master/http.cpp` gives them):
//! - `202`/`200`: done. A success resets the call backoff.
//! - `503` (master still recovering), other `5xx`, a dropped connection or a
//!   timeout: the same call is sent again after an exponential backoff
//!   (`backoff_min_ms` doubling up to `backoff_max_ms`), at most
//!   `max_call_attempts` times; then it counts as failed.
//! - `400` "Framework cannot be found" or "The stream ID ... didn't match",
//!   `403` "Framework is not subscribed", `307` (another master leads): the
//!   subscription is stale, so SUBSCRIBE again (with backoff).
//! - Any other `4xx`: the call failed; its bookkeeping is undone.
//! - `401`: final — the credentials are missing or wrong; the driver stops
//!   and [`ConnectionInfo::fatal`] says why.
//!
//! A failed call is undone in [`Framework::on_call_failed`] (which DECLINEs
//! the offers of a failed ACCEPT), and the sender waits out the backoff
//! before the next call, so REVIVE/SUPPRESS cannot loop tightly.
//!
//! ERROR events "Framework has been removed" (failover timeout passed,
//! teardown) and "Framework failed over" (another scheduler subscribed with
//! our id) are final: re-subscribing with the same id cannot succeed, and in
//! the second case would steal the subscription back. The driver stops and
//! reports it; only the operator can drop the id (`crest scale
//! --forget-framework`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crest_core::seams::{Actuator, Applied, FleetState, SeamError};
use crest_core::{Action, AppId, Clock, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::client::{ClientOptions, Credentials, MasterClient, Subscription};
use super::framework::{AppSpec, Framework, Stats};
use super::proto::{Call, CallType, Capability, FrameworkId, FrameworkInfo, SchedulerEvent};
use crate::error::ActuatorError;

/// Settings of the framework.
#[derive(Debug, Clone)]
pub struct MesosConfig {
    /// Master URLs, `http://host:port`, comma-separated (any master: 307s lead
    /// to the leader; an unreachable one is skipped for the next).
    pub master: String,
    /// Framework name.
    pub name: String,
    /// Unix user tasks run as on the agents; required (the HTTP API has no
    /// default: an agent with `--switch_user` cannot run a task for `""`).
    /// Default: the user running crest.
    pub user: String,
    /// The role offers come for.
    pub role: String,
    /// Seconds the master keeps our tasks while we are away (docs: use weeks).
    pub failover_timeout_s: f64,
    /// Resume this framework id (failover after a restart).
    pub framework_id: Option<String>,
    /// `Filters.refuse_seconds` on ACCEPT and DECLINE.
    pub refuse_seconds: f64,
    /// HTTP basic authentication (principal also goes in `FrameworkInfo`).
    pub credentials: Option<Credentials>,
    /// CA bundle (PEM) for `https://` masters; none: the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Sends of one call on 5xx / transport errors before it counts as failed.
    pub max_call_attempts: u32,
    /// Heartbeats that may be missed before reconnecting (docs suggest 5).
    pub missed_heartbeats: u32,
    /// Wait for the SUBSCRIBED event (and for events before the first heartbeat interval is known), ms.
    pub subscribe_timeout_ms: i64,
    /// Wait for one call's answer, ms (docs suggest 75 s).
    pub call_timeout_ms: i64,
    /// First reconnect backoff, ms.
    pub backoff_min_ms: i64,
    /// Longest reconnect backoff, ms (docs: up to 15 s).
    pub backoff_max_ms: i64,
    /// The apps this framework runs.
    pub apps: BTreeMap<AppId, AppSpec>,
}

impl MesosConfig {
    /// Defaults from the scheduler API docs, for the master at `master`.
    pub fn new(master: impl Into<String>) -> Self {
        MesosConfig {
            master: master.into(),
            name: "crest".into(),
            user: invoking_user().unwrap_or_default(),
            role: "*".into(),
            failover_timeout_s: DEFAULT_FAILOVER_TIMEOUT_S,
            framework_id: None,
            refuse_seconds: 5.0,
            credentials: None,
            ca_file: None,
            max_call_attempts: 5,
            missed_heartbeats: 5,
            subscribe_timeout_ms: 15_000,
            call_timeout_ms: 75_000,
            backoff_min_ms: 100,
            backoff_max_ms: 15_000,
            apps: BTreeMap::new(),
        }
    }

    /// Add an app.
    #[must_use]
    pub fn with_app(mut self, app: AppId, spec: AppSpec) -> Self {
        self.apps.insert(app, spec);
        self
    }

    /// Why these settings cannot work with a real master, if they cannot.
    ///
    /// # Errors
    /// [`ActuatorError::BadFrameworkConfig`] naming the setting.
    pub fn check(&self) -> Result<(), ActuatorError> {
        let bad =
            |field, problem: String| Err(ActuatorError::BadFrameworkConfig { field, problem });
        if self.user.trim().is_empty() {
            return bad(
                "user",
                "empty: agents cannot run tasks as \"\" (set the Unix user tasks run as)".into(),
            );
        }
        if !(self.failover_timeout_s.is_finite() && self.failover_timeout_s > 0.0) {
            return bad(
                "failover_timeout_s",
                format!(
                    "{}: must be > 0, or the master kills every task each time crest disconnects",
                    self.failover_timeout_s
                ),
            );
        }
        if self
            .credentials
            .as_ref()
            .is_some_and(|c| c.principal.is_empty() || c.secret.is_empty())
        {
            return bad(
                "credentials",
                "principal and secret must both be set".into(),
            );
        }
        Ok(())
    }

    fn framework_info(&self, id: Option<FrameworkId>) -> FrameworkInfo {
        FrameworkInfo {
            user: self.user.clone(),
            name: self.name.clone(),
            id,
            failover_timeout: Some(self.failover_timeout_s),
            checkpoint: Some(true),
            roles: vec![self.role.clone()],
            hostname: None,
            principal: self.credentials.as_ref().map(|c| c.principal.clone()),
            capabilities: vec![Capability {
                kind: "MULTI_ROLE".into(),
            }],
            labels: None,
        }
    }
}

/// A week: the master keeps the tasks that long while no crest is connected.
pub const DEFAULT_FAILOVER_TIMEOUT_S: f64 = 7.0 * 24.0 * 3600.0;

/// The user running this process: `$USER`, `$LOGNAME`, else the name of
/// the real uid in `/etc/passwd` (Linux).
pub fn invoking_user() -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.trim().is_empty()
        {
            return Some(u);
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid).then(|| f[0].to_owned())
    })
}

/// ERROR messages after which subscribing again with the same framework id
/// cannot succeed (`src/master/master.cpp`).
pub const FINAL_ERRORS: [&str; 2] = ["Framework has been removed", "Framework failed over"];

/// Whether an ERROR message is final (see [`FINAL_ERRORS`]).
pub fn is_final_error(message: &str) -> bool {
    FINAL_ERRORS.iter().any(|f| message.contains(f))
}

/// Connection state, for callers and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Stream id of the live subscription.
    pub stream_id: Option<String>,
    /// Master of the live subscription (`host:port`).
    pub master: Option<String>,
    /// SUBSCRIBED events received so far.
    pub subscriptions: u64,
    /// Calls the master refused or that failed.
    pub failed_calls: u64,
    /// The last error met (connection, protocol, call).
    pub last_error: Option<String>,
    /// Why the driver stopped for good (a final ERROR event, a 401); nothing
    /// is retried after it.
    pub fatal: Option<String>,
}

struct Outgoing {
    stream_id: String,
    call: Call,
}

struct Shared<C> {
    cfg: MesosConfig,
    clock: C,
    client: MasterClient,
    fw: Mutex<Framework>,
    conn: Mutex<ConnectionInfo>,
    calls: mpsc::UnboundedSender<Outgoing>,
    reconnect: mpsc::UnboundedSender<String>,
    version: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn after(clock: &impl Clock, ms: i64) -> Timestamp {
    Timestamp(clock.now().millis().saturating_add(ms))
}

impl<C: Clock + Clone + 'static> Shared<C> {
    fn send(&self, calls: Vec<Call>) {
        if calls.is_empty() {
            return;
        }
        let stream_id = lock(&self.conn).stream_id.clone();
        match stream_id {
            Some(stream_id) => {
                for call in calls {
                    let _ = self.calls.send(Outgoing {
                        stream_id: stream_id.clone(),
                        call,
                    });
                }
            }
            None => {
                // Not subscribed: the calls cannot go out. Undo their
                // bookkeeping; SUBSCRIBED re-derives them.
                // (Offers of the old subscription are void: nothing to decline.)
                let mut fw = lock(&self.fw);
                for c in &calls {
                    let _ = fw.on_call_failed(c);
                }
            }
        }
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    fn note_error(&self, e: &ActuatorError) {
        lock(&self.conn).last_error = Some(crest_core::error_chain(e));
        self.bump();
    }

    fn call_backoff(&self, attempt: u32) -> i64 {
        let min = self.cfg.backoff_min_ms.max(1);
        let max = self.cfg.backoff_max_ms.max(min);
        min.saturating_mul(1_i64 << attempt.min(20)).min(max)
    }

    async fn pause(&self, stop: &mut watch::Receiver<bool>, ms: i64) -> bool {
        tokio::select! {
            () = self.clock.sleep_until(after(&self.clock, ms)) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    /// Send one call, retrying on 5xx and transport errors with backoff.
    async fn send_with_retries(
        &self,
        out: &Outgoing,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ActuatorError> {
        let attempts = self.cfg.max_call_attempts.max(1);
        let mut attempt = 0;
        loop {
            let res = tokio::select! {
                r = self.client.call(&out.stream_id, &out.call) => r,
                () = self.clock.sleep_until(after(&self.clock, self.cfg.call_timeout_ms)) => Err(ActuatorError::Timeout {
                    call: format!("{:?}", out.call.kind),
                    waited_ms: self.cfg.call_timeout_ms,
                }),
            };
            let Err(e) = res else { return Ok(()) };
            attempt += 1;
            let transient = match &e {
                ActuatorError::Status { status, .. } => *status >= 500,
                ActuatorError::Connect { .. }
                | ActuatorError::Http { .. }
                | ActuatorError::Timeout { .. } => true,
                _ => false,
            };
            if !transient || attempt >= attempts {
                return Err(e);
            }
            {
                let mut c = lock(&self.conn);
                c.failed_calls += 1;
                c.last_error = Some(crest_core::error_chain(&e));
            }
            self.bump();
            if !self.pause(stop, self.call_backoff(attempt - 1)).await {
                return Err(e);
            }
        }
    }

    async fn run_sender(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let mut stop = self.shutdown.subscribe();
        // Consecutive failed calls: the pause after the next failure.
        let mut failures: u32 = 0;
        loop {
            let out = tokio::select! {
                o = rx.recv() => match o { Some(o) => o, None => return },
                _ = stop.wait_for(|s| *s) => return,
            };
            let Err(e) = self.send_with_retries(&out, &mut stop).await else {
                failures = 0;
                continue;
            };
            {
                let mut c = lock(&self.conn);
                c.failed_calls += 1;
                c.last_error = Some(crest_core::error_chain(&e));
            }
            if let ActuatorError::Unauthorized { .. } = &e {
                self.set_fatal(crest_core::error_chain(&e));
                return;
            }
            let stale = match &e {
                ActuatorError::Status { status: 403, .. } | ActuatorError::Redirected { .. } => {
                    true
                }
                // http.cpp: an unknown framework or another stream id is a 400.
                ActuatorError::Status {
                    status: 400, body, ..
                } => body.contains("Framework cannot be found") || body.contains("stream ID"),
                _ => false,
            };
            if stale {
                // Not subscribed there (any more): subscribe again.
                let _ = self.reconnect.send(out.stream_id.clone());
            }
            let again = {
                let mut fw = lock(&self.fw);
                let mut again = fw.on_call_failed(&out.call);
                if out.call.kind != CallType::Teardown {
                    again.extend(fw.converge());
                }
                again
            };
            self.bump();
            // Back off before anything else goes out: a refused REVIVE must
            // not turn into a tight loop.
            let wait = self.call_backoff(failures);
            failures = failures.saturating_add(1);
            if !self.pause(&mut stop, wait).await {
                return;
            }
            if !stale {
                self.send(again);
            }
        }
    }

    fn set_fatal(&self, why: String) {
        {
            let mut c = lock(&self.conn);
            c.fatal = Some(why.clone());
            c.last_error = Some(why);
            c.stream_id = None;
        }
        self.shutdown.send_replace(true);
        self.bump();
    }

    async fn run_stream(self: Arc<Self>, mut reconnect: mpsc::UnboundedReceiver<String>) {
        let mut stop = self.shutdown.subscribe();
        let mut backoff = self.cfg.backoff_min_ms.max(1);
        loop {
            if *stop.borrow() {
                return;
            }
            let id = lock(&self.fw).framework_id().cloned();
            let call = Call::subscribe(self.cfg.framework_info(id));
            let res = tokio::select! {
                r = self.client.subscribe(&call) => r,
                () = self.clock.sleep_until(after(&self.clock, self.cfg.subscribe_timeout_ms)) => Err(ActuatorError::Timeout {
                    call: "SUBSCRIBE".into(),
                    waited_ms: self.cfg.subscribe_timeout_ms,
                }),
                _ = stop.wait_for(|s| *s) => return,
            };
            match res {
                Ok(sub) => match self
                    .stream(sub, &mut reconnect, &mut stop, &mut backoff)
                    .await
                {
                    Ok(()) => return,
                    Err(ActuatorError::MasterError { message }) if is_final_error(&message) => {
                        let id = lock(&self.fw)
                            .framework_id()
                            .map(|f| f.value.clone())
                            .unwrap_or_default();
                        self.set_fatal(format!(
                            "mesos master ended framework {id}: {message} (final: not re-subscribing with this id)"
                        ));
                        return;
                    }
                    Err(e) => self.note_error(&e),
                },
                Err(e @ ActuatorError::Unauthorized { .. }) => {
                    self.set_fatal(crest_core::error_chain(&e));
                    return;
                }
                Err(e) => {
                    if matches!(
                        e,
                        ActuatorError::Connect { .. }
                            | ActuatorError::Http { .. }
                            | ActuatorError::Timeout { .. }
                    ) {
                        // This master does not answer: try the next one we know.
                        self.client.rotate();
                    }
                    self.note_error(&e);
                }
            }
            {
                let mut c = lock(&self.conn);
                c.stream_id = None;
                c.master = None;
            }
            self.bump();
            tokio::select! {
                () = self.clock.sleep_until(after(&self.clock, backoff)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(self.cfg.backoff_max_ms.max(1));
        }
    }

    /// Read one subscription until it fails (`Err`) or we shut down (`Ok`).
    async fn stream(
        &self,
        mut sub: Subscription,
        reconnect: &mut mpsc::UnboundedReceiver<String>,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut i64,
    ) -> Result<(), ActuatorError> {
        let mut subscribed = false;
        let mut window_ms = self.cfg.subscribe_timeout_ms;
        loop {
            let deadline = after(&self.clock, window_ms);
            let ev = tokio::select! {
                ev = sub.next_event() => ev?,
                () = self.clock.sleep_until(deadline) => {
                    let missed = if subscribed { self.cfg.missed_heartbeats } else { 0 };
                    return Err(ActuatorError::HeartbeatMissed { waited_ms: window_ms, missed });
                }
                Some(id) = reconnect.recv() => {
                    if id == sub.stream_id {
                        return Err(ActuatorError::Disconnected { what: "keep the subscription (master refused a call)" });
                    }
                    continue;
                }
                _ = stop.wait_for(|s| *s) => return Ok(()),
            };
            let calls = {
                let mut fw = lock(&self.fw);
                fw.count_event(event_name(&ev));
                match ev {
                    SchedulerEvent::Subscribed(s) if !subscribed => {
                        subscribed = true;
                        *backoff = self.cfg.backoff_min_ms.max(1);
                        // The master's default interval is 15 s when it names none.
                        let hb = s
                            .heartbeat_interval_seconds
                            .filter(|h| h.is_finite() && *h > 0.0)
                            .unwrap_or(15.0)
                            .min(86_400.0);
                        // Bounded above, so the cast cannot overflow.
                        #[allow(clippy::cast_possible_truncation)]
                        let ms = (hb * 1000.0 * f64::from(self.cfg.missed_heartbeats.max(1))).ceil()
                            as i64;
                        window_ms = ms.max(1);
                        {
                            let mut c = lock(&self.conn);
                            c.stream_id = Some(sub.stream_id.clone());
                            c.master = Some(sub.addr().to_owned());
                            c.subscriptions += 1;
                        }
                        fw.on_subscribed(s)
                    }
                    SchedulerEvent::Error(message) => {
                        return Err(ActuatorError::MasterError { message });
                    }
                    other if !subscribed => {
                        return Err(ActuatorError::NotSubscribed {
                            got: event_name(&other).to_owned(),
                        });
                    }
                    SchedulerEvent::Offers(offers) => fw.on_offers(offers),
                    SchedulerEvent::Update(status) => fw.on_update(status),
                    SchedulerEvent::Failure(f) => {
                        fw.on_failure(&f);
                        Vec::new()
                    }
                    // Offers are answered at once, so a rescinded one needs no
                    // bookkeeping; executor messages carry nothing for us.
                    _ => Vec::new(),
                }
            };
            self.send(calls);
            self.bump();
        }
    }
}

fn event_name(ev: &SchedulerEvent) -> &'static str {
    match ev {
        SchedulerEvent::Subscribed(_) => "SUBSCRIBED",
        SchedulerEvent::Offers(_) => "OFFERS",
        SchedulerEvent::Rescind(_) => "RESCIND",
        SchedulerEvent::Update(_) => "UPDATE",
        SchedulerEvent::Message(_) => "MESSAGE",
        SchedulerEvent::Failure(_) => "FAILURE",
        SchedulerEvent::Error(_) => "ERROR",
        SchedulerEvent::Heartbeat => "HEARTBEAT",
        _ => "OTHER",
    }
}

/// A Mesos framework behind the `Actuator` seam.
///
/// Must be started inside a tokio runtime. Dropping it stops its tasks (and so
/// closes the subscription: the master then keeps our tasks for
/// `failover_timeout_s` and a new actuator with the same framework id takes
/// them over).
pub struct MesosActuator<C: Clock + Clone + 'static> {
    shared: Arc<Shared<C>>,
    tasks: Vec<JoinHandle<()>>,
}

impl<C: Clock + Clone + 'static> std::fmt::Debug for MesosActuator<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesosActuator")
            .field("master", &self.shared.cfg.master)
            .field("connection", &self.connection())
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Clone + 'static> MesosActuator<C> {
    /// Start the framework: subscribe (and keep re-subscribing) in the background.
    ///
    /// # Errors
    /// [`ActuatorError::BadUrl`] when a master URL is not http(s),
    /// [`ActuatorError::BadFrameworkConfig`] for settings a master cannot
    /// honour ([`MesosConfig::check`]), TLS setup errors.
    pub fn start(cfg: MesosConfig, clock: C) -> Result<Self, ActuatorError> {
        cfg.check()?;
        let client = MasterClient::with_options(
            &cfg.master,
            &ClientOptions {
                credentials: cfg.credentials.clone(),
                ca_file: cfg.ca_file.clone(),
            },
        )?;
        let fw = Framework::new(
            cfg.apps.clone(),
            vec![cfg.role.clone()],
            cfg.refuse_seconds,
            cfg.framework_id.clone().map(FrameworkId::new),
            clock.now().millis(),
        );
        let (calls_tx, calls_rx) = mpsc::unbounded_channel();
        let (rec_tx, rec_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            cfg,
            clock,
            client,
            fw: Mutex::new(fw),
            conn: Mutex::new(ConnectionInfo::default()),
            calls: calls_tx,
            reconnect: rec_tx,
            version: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        let tasks = vec![
            tokio::spawn(shared.clone().run_sender(calls_rx)),
            tokio::spawn(shared.clone().run_stream(rec_rx)),
        ];
        Ok(MesosActuator { shared, tasks })
    }

    /// The framework id, once subscribed: save it to fail over after a restart.
    pub fn framework_id(&self) -> Option<String> {
        lock(&self.shared.fw)
            .framework_id()
            .map(|f| f.value.clone())
    }

    /// Connection state.
    pub fn connection(&self) -> ConnectionInfo {
        lock(&self.shared.conn).clone()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.fw).stats().clone()
    }

    /// Run `f` over the framework state.
    pub fn inspect<R>(&self, f: impl FnOnce(&Framework) -> R) -> R {
        f(&lock(&self.shared.fw))
    }

    /// Wait until `pred` holds over the framework and connection state.
    ///
    /// # Errors
    /// [`ActuatorError::Timeout`] when it does not hold within `timeout_ms`.
    pub async fn wait_until(
        &self,
        timeout_ms: i64,
        pred: impl Fn(&Framework, &ConnectionInfo) -> bool,
    ) -> Result<(), ActuatorError> {
        let mut rx = self.shared.version.subscribe();
        let deadline = after(&self.shared.clock, timeout_ms);
        loop {
            let ok = {
                let fw = lock(&self.shared.fw);
                let conn = lock(&self.shared.conn);
                pred(&fw, &conn)
            };
            if ok {
                return Ok(());
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return Err(ActuatorError::Disconnected { what: "wait" }) },
                () = self.shared.clock.sleep_until(deadline) => return Err(ActuatorError::Timeout {
                    call: "wait_until".into(),
                    waited_ms: timeout_ms,
                }),
            }
        }
    }

    /// TEARDOWN: the master kills every task and forgets the framework. Stops the actuator.
    ///
    /// # Errors
    /// [`ActuatorError::Disconnected`] when not subscribed; call errors.
    pub async fn teardown(self) -> Result<(), ActuatorError> {
        let (stream_id, fw) = (
            lock(&self.shared.conn).stream_id.clone(),
            lock(&self.shared.fw).framework_id().cloned(),
        );
        let (Some(stream_id), Some(fw)) = (stream_id, fw) else {
            return Err(ActuatorError::Disconnected { what: "tear down" });
        };
        let res = self
            .shared
            .client
            .call(&stream_id, &Call::teardown(&fw))
            .await;
        self.shutdown().await;
        res.map(|_| ())
    }

    /// Stop the background tasks and close the subscription.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl<C: Clock + Clone + 'static> Drop for MesosActuator<C> {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl<C: Clock + Clone + 'static> Actuator for MesosActuator<C> {
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send {
        let fw = lock(&self.shared.fw);
        let res = if fw.knows_app(app) {
            Ok(fw.fleet(app, self.shared.clock.now()))
        } else {
            Err(ActuatorError::UnknownApp {
                app: app.to_string(),
            }
            .into())
        };
        std::future::ready(res)
    }

    fn apply(&self, action: &Action) -> impl Future<Output = Result<Applied, SeamError>> + Send {
        let res = match action {
            Action::SetReplicas {
                app,
                replicas,
                plan_id,
            } => {
                let (known, changed, calls, need) = {
                    let mut fw = lock(&self.shared.fw);
                    if fw.knows_app(app) {
                        let (changed, calls) = fw.set_desired(app, *replicas, plan_id.clone());
                        let need = fw.need(app);
                        (true, changed, calls, need)
                    } else {
                        (false, false, Vec::new(), 0)
                    }
                };
                if known {
                    let kills = calls.iter().filter(|c| c.kind == CallType::Kill).count();
                    let subscribed = lock(&self.shared.conn).stream_id.is_some();
                    self.shared.send(calls);
                    self.shared.bump();
                    let mut detail = format!(
                        "desired {replicas}; {kills} kills sent, {need} tasks to launch from offers"
                    );
                    if !subscribed {
                        detail.push_str(" (not subscribed yet: converges once subscribed)");
                    }
                    Ok(Applied {
                        action: action.clone(),
                        changed,
                        detail,
                    })
                } else {
                    Err(ActuatorError::UnknownApp {
                        app: app.to_string(),
                    }
                    .into())
                }
            }
            other => Err(ActuatorError::Unsupported {
                action: other.to_string(),
            }
            .into()),
        };
        std::future::ready(res)
    }
}
