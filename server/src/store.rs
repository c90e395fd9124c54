//! State in SQLite: alerts seen, decisions, plans — written by one thread
//! with group commit.
//!
//! Why one writer: SQLite allows one writer at a time anyway, and the
//! decision for an alert depends on the alerts before it (the ledger), so
//! decisions must be made in one order. Why group commit: the promise to a
//! sender is "a 2xx means it is on disk" (`synchronous = FULL` in WAL mode: the
//! WAL is fsynced at every commit). One fsync per request caps throughput at
//! the disk's fsync rate; instead the writer takes every request waiting in
//! its queue (up to `max_batch`), applies them all in one transaction,
//! commits once, and only then answers each of them. Under load, batches grow
//! by themselves while an fsync is in flight, so throughput follows demand
//! and latency stays near one fsync.
//!
//! ```text
//!  handlers ──mpsc──► writer thread: [job, job, job] ─► BEGIN … COMMIT (fsync) ─► oneshot replies
//!  GET handlers ──spawn_blocking──► read-only connection (WAL: readers never block the writer)
//! ```
//!
//! The WAL is copied back into the database (checkpoint) by the writer
//! itself, after answering and while no request waits: see
//! `maybe_checkpoint` for why neither SQLite's automatic checkpoint nor a
//! separate thread will do.
//!
//! If a commit fails, every request in the batch gets an error (503: the
//! sender retries) and the in-memory ledger is reloaded from the database,
//! which is the source of truth; the WAL is then truncated after every batch
//! for a while, so a disk that filled up and emptied takes writes again.
//!
//! One server per database: the `server_lease` row (see `lease`) refuses a
//! second `crest serve` on the same file, naming the holder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crest_autoscaler::{Adjustment, AlertSignal, GateReport};
use crest_core::{AppId, Clock, Forecast, PlanReason, Replicas, ScalingPlan, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::config::OnResolve;
use crate::engine::{ActiveStep, AlertLedger, Applied, Target};
use crate::error::ServerError;
use crate::metrics::{Metrics, PlanNow};
use crate::payload::{AlertEvent, AlertStatus, Source};

mod lease;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS alerts (
    id            INTEGER PRIMARY KEY,
    received_ms   INTEGER NOT NULL,
    source        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER,
    alertname     TEXT NOT NULL,
    app           TEXT,
    outcome       TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    UNIQUE (source, fingerprint, status, starts_at_ms)
);
CREATE TABLE IF NOT EXISTS decisions (
    id            INTEGER PRIMARY KEY,
    alert_id      INTEGER NOT NULL REFERENCES alerts(id),
    at_ms         INTEGER NOT NULL,
    app           TEXT NOT NULL,
    source        TEXT NOT NULL,
    alertname     TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    status        TEXT NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    delta         INTEGER NOT NULL,
    desired       INTEGER NOT NULL,
    previous      INTEGER NOT NULL,
    min_replicas  INTEGER NOT NULL,
    max_replicas  INTEGER NOT NULL,
    on_resolve    TEXT NOT NULL,
    ended_at_ms   INTEGER
);
CREATE INDEX IF NOT EXISTS decisions_by_app ON decisions (app, id);
CREATE INDEX IF NOT EXISTS decisions_by_time ON decisions (at_ms);
CREATE TABLE IF NOT EXISTS active_steps (
    source        TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    app           TEXT NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    step          INTEGER NOT NULL,
    on_resolve    TEXT NOT NULL,
    PRIMARY KEY (source, fingerprint)
);
CREATE TABLE IF NOT EXISTS server_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    host        TEXT NOT NULL,
    since_ms    INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    id            TEXT PRIMARY KEY,
    app           TEXT NOT NULL,
    submitted_ms  INTEGER NOT NULL,
    body          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_forecasts (
    id            TEXT PRIMARY KEY,
    body          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_verdicts (
    id            TEXT PRIMARY KEY,
    body          TEXT NOT NULL
);
";

/// One alert handed to the writer, already mapped (or not) to a target.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The event.
    pub event: AlertEvent,
    /// Its app and rule, or why it is ignored.
    pub target: Result<Target, String>,
}

/// A recorded decision, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    /// Sequence number (also the pagination cursor).
    pub id: i64,
    /// When decided (RFC 3339).
    pub at: String,
    /// When decided, ms since the epoch.
    pub at_ms: i64,
    /// The app.
    pub app: AppId,
    /// The webhook the alert came from.
    pub source: Source,
    /// The alert's name.
    pub alertname: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The alert episode's start (RFC 3339).
    pub starts_at: String,
    /// The rule's step.
    pub step: i32,
    /// The change this decision asks for.
    pub delta: i32,
    /// The replica floor alerts hold for the app after this decision.
    pub desired_replicas: Replicas,
    /// The floor before.
    pub previous_replicas: Replicas,
    /// The app's bounds.
    pub min_replicas: Replicas,
    /// The app's bounds.
    pub max_replicas: Replicas,
    /// What the alert's resolution does.
    pub on_resolve: OnResolve,
    /// Why.
    pub reason: PlanReason,
    /// The event for the autoscaler: feed it to
    /// [`StepScalingPolicy::signal`](crest_autoscaler::StepScalingPolicy::signal)
    /// (production driver, or the simulator replaying recorded alerts).
    pub signal: AlertSignal,
}

/// The autoscaler's view of one alert state change. The key is qualified by
/// the webhook, as the server's deduplication is.
pub fn signal_for(
    source: Source,
    fingerprint: &str,
    alertname: &str,
    status: AlertStatus,
    at: Timestamp,
    step: i32,
) -> AlertSignal {
    AlertSignal {
        key: format!("{source}:{fingerprint}"),
        name: alertname.to_string(),
        firing: status == AlertStatus::Firing,
        at,
        adjustment: Adjustment::Change(step),
    }
}

/// What happened to one alert of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new decision.
    Decision(Box<DecisionRecord>),
    /// Already seen (same source, fingerprint, status and start).
    Duplicate,
    /// Not mapped to an app/rule; recorded, no decision.
    Ignored(String),
    /// Resolve of an alert that held no step.
    NothingToResolve,
    /// Older than the episode the ledger holds.
    Stale,
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRecord {
    /// The plan id.
    pub id: String,
    /// The app.
    pub app: AppId,
    /// When submitted (RFC 3339).
    pub submitted_at: String,
    /// The plan itself.
    pub plan: ScalingPlan,
    /// The verification gate's verdict, when it was posted with `verify=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<PlanVerdict>,
}

/// The verification gate's verdict stored with a plan
/// (`POST /v1/plans?verify=true`): the gate's report (engine and mode,
/// scenarios, P(breach), breaches per kind, passed) and whether a failing
/// verdict was stored anyway (`force=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanVerdict {
    /// The gate's report.
    #[serde(flatten)]
    pub gate: GateReport,
    /// A failing plan stored with `force=true`.
    pub forced: bool,
}

/// Filters and limits for listing plans.
#[derive(Debug, Clone, Default)]
pub struct PlanQuery {
    /// Only this app.
    pub app: Option<AppId>,
    /// Only plans with an id sorting after this one (the cursor).
    pub after: Option<String>,
    /// At most this many.
    pub limit: usize,
    /// At most this many bytes of stored plan JSON (at least one plan is returned).
    pub max_bytes: usize,
}

/// Filters for listing decisions.
#[derive(Debug, Clone, Default)]
pub struct DecisionQuery {
    /// Only this app.
    pub app: Option<AppId>,
    /// Only decisions made at or after this time.
    pub since: Option<Timestamp>,
    /// Only decisions with an id greater than this (the cursor).
    pub after: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

enum Job {
    Alerts {
        items: Vec<Incoming>,
        reply: oneshot::Sender<Result<Vec<Outcome>, String>>,
    },
    PutPlan {
        plan: Box<ScalingPlan>,
        forecast: Option<Box<Forecast>>,
        verdict: Option<Box<PlanVerdict>>,
        reply: oneshot::Sender<Result<bool, String>>,
    },
}

/// Handle to the state database: submit writes to the writer thread, read
/// through a shared read-only connection.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Job>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
    last_write_error: Arc<Mutex<Option<String>>>,
    now: Arc<dyn Fn() -> Timestamp + Send + Sync>,
}

/// The writer thread; join it after dropping every [`Store`] clone.
pub struct WriterHandle(Option<JoinHandle<()>>);

impl WriterHandle {
    /// Wait for the writer to finish its last batch.
    pub fn join(mut self) {
        if let Some(h) = self.0.take() {
            // A panicked writer has nothing left to flush; nothing to do about it here.
            let _ = h.join();
        }
    }
}

fn ts_string(ms: i64) -> String {
    Timestamp(ms).to_string()
}

impl Store {
    /// Open (creating and migrating if needed) the database and start the writer.
    ///
    /// # Errors
    /// [`ServerError::OpenDb`] when the file cannot be opened or migrated.
    pub fn open<C: Clock + 'static>(
        path: &Path,
        max_batch: usize,
        clock: C,
        metrics: Arc<Metrics>,
    ) -> Result<(Store, WriterHandle), ServerError> {
        let open_err = |source| ServerError::OpenDb {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Checkpoints run after replies, not inside a commit requests wait on
        // (see `maybe_checkpoint`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        crate::apps::ensure_schema(&conn).map_err(open_err)?;
        let lease = lease::take(&conn, path)?;
        let ledger = load_ledger(&conn).map_err(open_err)?;

        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;

        let (tx, rx) = mpsc::channel(max_batch.max(1) * 4);
        let clock = Arc::new(clock);
        let reads_clock = Arc::clone(&clock);
        let now: Arc<dyn Fn() -> Timestamp + Send + Sync> = Arc::new(move || reads_clock.now());
        let last_write_error = Arc::new(Mutex::new(None));
        let health = Arc::clone(&last_write_error);
        let handle = std::thread::Builder::new()
            .name("crest-db-writer".into())
            .spawn(move || {
                let renewer = lease::Renewer::start(lease.clone(), Arc::clone(&health));
                writer_loop(conn, ledger, rx, max_batch.max(1), clock, &metrics, &health);
                renewer.stop();
                lease::release(&lease);
            })
            .map_err(|source| ServerError::Io {
                what: "start the database writer thread".into(),
                source,
            })?;
        Ok((
            Store {
                tx,
                reader: Arc::new(Mutex::new(reader)),
                path: path.to_path_buf(),
                last_write_error,
                now,
            },
            WriterHandle(Some(handle)),
        ))
    }

    /// The store's clock (the server's).
    pub fn now(&self) -> Timestamp {
        (self.now)()
    }

    /// Whether the writer thread is still taking requests.
    pub fn writer_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// The error of the last write batch, `None` when it committed (or none ran yet).
    pub fn last_write_error(&self) -> Option<String> {
        self.last_write_error
            .lock()
            .map_or_else(|_| Some("write health lock poisoned".into()), |g| g.clone())
    }

    /// Size in bytes of the write-ahead log (0 when there is none).
    pub fn wal_bytes(&self) -> u64 {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record alerts and make their decisions; resolves once they are durable.
    ///
    /// # Errors
    /// [`StoreFailure::WriterGone`] when the writer stopped,
    /// [`StoreFailure::Commit`] when the batch failed to commit (nothing of it was kept).
    pub async fn record_alerts(&self, items: Vec<Incoming>) -> Result<Vec<Outcome>, StoreFailure> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Alerts { items, reply })
            .await
            .map_err(|_| StoreFailure::WriterGone)?;
        rx.await
            .map_err(|_| StoreFailure::WriterGone)?
            .map_err(StoreFailure::Commit)
    }

    /// Insert or replace a plan; `Ok(true)` when it is new (durable when it resolves).
    ///
    /// # Errors
    /// As [`Store::record_alerts`].
    pub async fn put_plan(&self, plan: ScalingPlan) -> Result<bool, StoreFailure> {
        self.put_plan_with_forecast(plan, None).await
    }

    /// [`Store::put_plan`], keeping the forecast the plan was made from
    /// (a `crest plan --output` document's), for `/metrics`.
    ///
    /// # Errors
    /// As [`Store::record_alerts`].
    pub async fn put_plan_with_forecast(
        &self,
        plan: ScalingPlan,
        forecast: Option<Forecast>,
    ) -> Result<bool, StoreFailure> {
        self.put_plan_verified(plan, forecast, None).await
    }

    /// [`Store::put_plan_with_forecast`] with the verification gate's
    /// verdict (none: a verdict stored before for the same id is dropped,
    /// it was about another plan).
    ///
    /// # Errors
    /// As [`Store::record_alerts`].
    pub async fn put_plan_verified(
        &self,
        plan: ScalingPlan,
        forecast: Option<Forecast>,
        verdict: Option<PlanVerdict>,
    ) -> Result<bool, StoreFailure> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::PutPlan {
                plan: Box::new(plan),
                forecast: forecast.map(Box::new),
                verdict: verdict.map(Box::new),
                reply,
            })
            .await
            .map_err(|_| StoreFailure::WriterGone)?;
        rx.await
            .map_err(|_| StoreFailure::WriterGone)?
            .map_err(StoreFailure::Commit)
    }

    /// What the newest stored plan of each app says about `now`: the
    /// replicas it asks for and its forecast there (for `/metrics`).
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when the query fails.
    pub async fn plans_now(&self, now: Timestamp) -> Result<Vec<PlanNow>, StoreFailure> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.app, p.body, f.body FROM plans p
                 LEFT JOIN plan_forecasts f ON f.id = p.id
                 WHERE p.submitted_ms = (SELECT max(submitted_ms) FROM plans q WHERE q.app = p.app)
                 ORDER BY p.app, p.id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out: Vec<PlanNow> = Vec::new();
            while let Some(r) = rows.next()? {
                let app: String = r.get(0)?;
                if out.last().is_some_and(|p| p.app == app) {
                    continue; // two plans stored in the same millisecond: the first id
                }
                let body: String = r.get(1)?;
                let Ok(plan) = serde_json::from_str::<ScalingPlan>(&body) else {
                    continue;
                };
                let Some(planned) = plan.desired_at(now) else {
                    continue;
                };
                let forecast = r
                    .get::<_, Option<String>>(2)?
                    .and_then(|b| serde_json::from_str::<Forecast>(&b).ok())
                    .map(|f| forecast_at(&f, now))
                    .unwrap_or_default();
                out.push(PlanNow {
                    app,
                    planned: planned.0,
                    forecast,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Run `f` on the read-only connection, on a blocking thread.
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when `f` fails.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreFailure> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .map_err(|_| StoreFailure::Read("reader lock poisoned".into()))?;
            f(&conn).map_err(|e| StoreFailure::Read(e.to_string()))
        })
        .await
        .map_err(|e| StoreFailure::Read(e.to_string()))?
    }

    /// List decisions matching `q`, oldest first (keyset pagination on `id`).
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when the query fails.
    pub async fn decisions(&self, q: DecisionQuery) -> Result<Vec<DecisionRecord>, StoreFailure> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at_ms, app, source, alertname, fingerprint, status, starts_at_ms, step,
                        delta, desired, previous, min_replicas, max_replicas, on_resolve,
                        ended_at_ms
                 FROM decisions
                 WHERE id > ?1 AND (?2 IS NULL OR app = ?2) AND (?3 IS NULL OR at_ms >= ?3)
                 ORDER BY id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    q.after.unwrap_or(0),
                    q.app.as_ref().map(AppId::as_str),
                    q.since.map(Timestamp::millis),
                    i64::try_from(q.limit).unwrap_or(i64::MAX)
                ],
                decision_from_row,
            )?;
            rows.filter_map(|r| r.transpose()).collect()
        })
        .await
    }

    /// A page of plans, by id: at most `q.limit`, and no more stored JSON
    /// than `q.max_bytes` (but always at least one plan), and the cursor of
    /// the next page (`q.after` for it) when more plans follow.
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when the query fails.
    pub async fn plans(
        &self,
        q: PlanQuery,
    ) -> Result<(Vec<PlanRecord>, Option<String>), StoreFailure> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.id, p.submitted_ms, p.body, length(p.body), v.body FROM plans p
                 LEFT JOIN plan_verdicts v ON v.id = p.id
                 WHERE (?1 IS NULL OR p.app = ?1) AND (?2 IS NULL OR p.id > ?2)
                 ORDER BY p.id LIMIT ?3",
            )?;
            let mut rows = stmt.query(params![
                q.app.as_ref().map(AppId::as_str),
                q.after,
                // One more than a page: whether another page follows.
                i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX)
            ])?;
            let mut out = Vec::new();
            let mut taken = 0usize;
            let mut bytes = 0usize;
            let mut more = false;
            let mut last_id = None;
            while let Some(r) = rows.next()? {
                if taken == q.limit {
                    more = true;
                    break;
                }
                let len = usize::try_from(r.get::<_, i64>(3)?).unwrap_or(usize::MAX);
                if taken > 0 && bytes.saturating_add(len) > q.max_bytes {
                    more = true;
                    break;
                }
                bytes = bytes.saturating_add(len);
                taken += 1;
                last_id = Some(r.get::<_, String>(0)?);
                if let Some(p) = plan_from_row(r, 4)? {
                    out.push(p);
                }
            }
            Ok((out, last_id.filter(|_| more)))
        })
        .await
    }

    /// One plan by id.
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when the query fails.
    pub async fn plan(&self, id: String) -> Result<Option<PlanRecord>, StoreFailure> {
        self.read(move |c| {
            c.query_row(
                "SELECT p.id, p.submitted_ms, p.body, v.body FROM plans p
                 LEFT JOIN plan_verdicts v ON v.id = p.id WHERE p.id = ?1",
                params![id],
                |r| plan_from_row(r, 3),
            )
            .optional()
            .map(Option::flatten)
        })
        .await
    }

    /// Alerts and decisions recorded so far (health check). Rows are never
    /// deleted, so the largest rowid is the count, read in O(log n).
    ///
    /// # Errors
    /// [`StoreFailure::Read`] when the query fails.
    pub async fn counts(&self) -> Result<(i64, i64), StoreFailure> {
        self.read(|c| {
            let a = c.query_row("SELECT coalesce(max(id), 0) FROM alerts", [], |r| r.get(0))?;
            let d = c.query_row("SELECT coalesce(max(id), 0) FROM decisions", [], |r| {
                r.get(0)
            })?;
            Ok((a, d))
        })
        .await
    }
}

/// A store operation failed (the API turns these into 503s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreFailure {
    /// The writer thread stopped.
    WriterGone,
    /// The batch failed to commit.
    Commit(String),
    /// A read failed.
    Read(String),
}

impl std::fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreFailure::WriterGone => {
                f.write_str("failed to record: the state writer has stopped")
            }
            StoreFailure::Commit(e) => write!(f, "failed to commit to the state database: {e}"),
            StoreFailure::Read(e) => write!(f, "failed to read the state database: {e}"),
        }
    }
}

/// Rows with unparseable stored values are skipped (`Ok(None)`), never a panic.
fn decision_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<DecisionRecord>> {
    let app: String = r.get(2)?;
    let source: String = r.get(3)?;
    let status: String = r.get(6)?;
    let on_resolve: String = r.get(14)?;
    let alertname: String = r.get(4)?;
    let (Ok(app), Some(source), Some(status)) = (
        AppId::try_new(app),
        Source::parse(&source),
        AlertStatus::parse(&status),
    ) else {
        return Ok(None);
    };
    let at_ms: i64 = r.get(1)?;
    let starts_at_ms: i64 = r.get(7)?;
    let ended_at_ms: Option<i64> = r.get(15)?;
    let step: i32 = r.get(8)?;
    let fingerprint: String = r.get(5)?;
    let signal_at = match status {
        AlertStatus::Firing => Timestamp(starts_at_ms),
        AlertStatus::Resolved => Timestamp(ended_at_ms.unwrap_or(at_ms)),
    };
    let signal = signal_for(source, &fingerprint, &alertname, status, signal_at, step);
    let replicas = |i: usize| -> rusqlite::Result<Replicas> {
        Ok(Replicas(u32::try_from(r.get::<_, i64>(i)?).unwrap_or(0)))
    };
    Ok(Some(DecisionRecord {
        id: r.get(0)?,
        at: ts_string(at_ms),
        at_ms,
        app,
        source,
        alertname: alertname.clone(),
        fingerprint,
        status,
        starts_at: ts_string(starts_at_ms),
        step,
        delta: r.get(9)?,
        desired_replicas: replicas(10)?,
        previous_replicas: replicas(11)?,
        min_replicas: replicas(12)?,
        max_replicas: replicas(13)?,
        on_resolve: if on_resolve == "end" {
            OnResolve::End
        } else {
            OnResolve::Undo
        },
        reason: PlanReason::Alert { name: alertname },
        signal,
    }))
}

/// A plan row: id, submitted_ms, body, and its verdict's body in column `verdict_col`.
fn plan_from_row(
    r: &rusqlite::Row<'_>,
    verdict_col: usize,
) -> rusqlite::Result<Option<PlanRecord>> {
    let id: String = r.get(0)?;
    let submitted_ms: i64 = r.get(1)?;
    let body: String = r.get(2)?;
    let verdict: Option<String> = r.get(verdict_col)?;
    let Ok(plan) = serde_json::from_str::<ScalingPlan>(&body) else {
        return Ok(None);
    };
    Ok(Some(PlanRecord {
        id,
        app: plan.app.clone(),
        submitted_at: ts_string(submitted_ms),
        plan,
        verification: verdict.and_then(|v| serde_json::from_str(&v).ok()),
    }))
}

fn load_ledger(conn: &Connection) -> rusqlite::Result<AlertLedger> {
    let mut ledger = AlertLedger::new();
    let mut stmt = conn.prepare(
        "SELECT source, fingerprint, app, starts_at_ms, step, on_resolve FROM active_steps",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let source: String = r.get(0)?;
        let app: String = r.get(2)?;
        let on_resolve: String = r.get(5)?;
        let (Some(source), Ok(app)) = (Source::parse(&source), AppId::try_new(app)) else {
            continue;
        };
        ledger.restore(
            app,
            (source, r.get(1)?),
            ActiveStep {
                starts_at: Timestamp(r.get(3)?),
                step: r.get(4)?,
                on_resolve: if on_resolve == "end" {
                    OnResolve::End
                } else {
                    OnResolve::Undo
                },
            },
        );
    }
    Ok(ledger)
}

/// A monotonic start point for the commit-duration metric: it measures the
/// disk, never feeds a decision, so it does not go through the `Clock` seam.
#[allow(clippy::disallowed_methods)]
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

/// Checkpoint once this many commits have gone into the WAL, at the first
/// moment the writer's queue is empty.
const CHECKPOINT_AFTER_COMMITS: u32 = 1000;
/// ... and, under load that never lets the queue empty, after this many.
/// (At 2,000 alerts/s a 1,000-commit WAL is about 43 MB and its checkpoint
/// takes about 4 ms; measured with `crest_store_checkpoint_duration_seconds`.)
const CHECKPOINT_FORCE_COMMITS: u32 = 8000;
/// Batches after a failed write that each end with a `TRUNCATE` checkpoint.
const RECLAIM_COMMITS: u32 = 1000;

/// Copy the WAL back into the database file, on the writer thread, after the
/// batch's requests have been answered.
///
/// Why here and not on a thread of its own: a checkpoint can only reset the
/// WAL (so it is reused instead of growing) if no commit lands while it runs;
/// beside a writer committing every half millisecond that never happens, and
/// the WAL grew to 500 MB in a 10 s benchmark. Why not SQLite's automatic
/// checkpoint: it runs inside COMMIT, before the requests waiting on that
/// commit can be answered. Here it runs after they were, and only when no
/// request is waiting (or after [`CHECKPOINT_FORCE_COMMITS`]).
///
/// After a failed write (a full disk, typically) the writer is careful for
/// [`RECLAIM_COMMITS`] batches (`reclaim` counts them down): after each, a
/// `TRUNCATE` checkpoint copies the WAL back and cuts the file to zero
/// bytes, so the WAL never holds more than one batch while space is short.
/// Without it, once space returned only 9 of 200 writes passed: the WAL,
/// never reset, filled the disk again. A failed checkpoint is retried after
/// the next batch (the count restarts).
fn maybe_checkpoint(
    conn: &Connection,
    since: &mut u32,
    queue_empty: bool,
    reclaim: &mut u32,
    metrics: &Metrics,
) {
    if *reclaim > 0 {
        let started = stopwatch();
        // (busy, log frames, checkpointed frames): busy = 0 means done.
        let done = conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .is_ok_and(|busy| busy == 0);
        metrics.checkpoint(started.elapsed().as_secs_f64());
        if done {
            *reclaim -= 1;
            *since = 0;
        } else {
            *reclaim = RECLAIM_COMMITS;
        }
        return;
    }
    if *since >= CHECKPOINT_FORCE_COMMITS || (*since >= CHECKPOINT_AFTER_COMMITS && queue_empty) {
        let started = stopwatch();
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        metrics.checkpoint(started.elapsed().as_secs_f64());
        *since = 0;
    }
}

enum Reply {
    Alerts(oneshot::Sender<Result<Vec<Outcome>, String>>, Vec<Outcome>),
    Plan(oneshot::Sender<Result<bool, String>>, bool),
}

fn writer_loop<C: Clock>(
    mut conn: Connection,
    mut ledger: AlertLedger,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    clock: Arc<C>,
    metrics: &Metrics,
    last_write_error: &Mutex<Option<String>>,
) {
    let mut since_checkpoint = 0u32;
    let mut reclaim = 0u32;
    let set_health = |e: Option<String>| {
        if let Ok(mut g) = last_write_error.lock() {
            *g = e;
        }
    };
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let requests = batch.len();
        let started = stopwatch();
        let result = write_batch(&mut conn, &mut ledger, &mut batch, now);
        metrics.commit(started.elapsed().as_secs_f64(), requests);
        match result {
            Ok(replies) => {
                set_health(None);
                for r in replies {
                    // A requester that went away (client hung up) just misses its answer;
                    // its alerts are recorded all the same.
                    match r {
                        Reply::Alerts(tx, o) => drop(tx.send(Ok(o))),
                        Reply::Plan(tx, created) => drop(tx.send(Ok(created))),
                    }
                }
            }
            Err((e, senders)) => {
                let msg = e.to_string();
                set_health(Some(msg.clone()));
                reclaim = RECLAIM_COMMITS;
                for s in senders {
                    match s {
                        Reply::Alerts(tx, _) => drop(tx.send(Err(msg.clone()))),
                        Reply::Plan(tx, _) => drop(tx.send(Err(msg.clone()))),
                    }
                }
                // The database is the truth; the ledger may hold steps of the rolled-back batch.
                if let Ok(l) = load_ledger(&conn) {
                    ledger = l;
                }
            }
        }
        since_checkpoint += 1;
        maybe_checkpoint(
            &conn,
            &mut since_checkpoint,
            rx.is_empty(),
            &mut reclaim,
            metrics,
        );
    }
    // Shutting down: fold the WAL into the database and truncate it.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

#[allow(clippy::type_complexity)]
fn write_batch(
    conn: &mut Connection,
    ledger: &mut AlertLedger,
    batch: &mut Vec<Job>,
    now: Timestamp,
) -> Result<Vec<Reply>, (rusqlite::Error, Vec<Reply>)> {
    let mut replies = Vec::with_capacity(batch.len());
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            for job in batch.drain(..) {
                replies.push(empty_reply(job));
            }
            return Err((e, replies));
        }
    };
    let mut failure = None;
    for job in batch.drain(..) {
        if failure.is_some() {
            replies.push(empty_reply(job));
            continue;
        }
        match job {
            Job::Alerts { items, reply } => {
                let mut outcomes = Vec::with_capacity(items.len());
                for item in &items {
                    match record_one(&tx, ledger, item, now) {
                        Ok(o) => outcomes.push(o),
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                replies.push(Reply::Alerts(reply, outcomes));
            }
            Job::PutPlan {
                plan,
                forecast,
                verdict,
                reply,
            } => match put_plan(&tx, &plan, forecast.as_deref(), verdict.as_deref(), now) {
                Ok(created) => replies.push(Reply::Plan(reply, created)),
                Err(e) => {
                    failure = Some(e);
                    replies.push(Reply::Plan(reply, false));
                }
            },
        }
    }
    if let Some(e) = failure {
        drop(tx); // rolls back
        return Err((e, replies));
    }
    match tx.commit() {
        Ok(()) => Ok(replies),
        Err(e) => Err((e, replies)),
    }
}

fn empty_reply(job: Job) -> Reply {
    match job {
        Job::Alerts { reply, .. } => Reply::Alerts(reply, Vec::new()),
        Job::PutPlan { reply, .. } => Reply::Plan(reply, false),
    }
}

/// A forecast's mean and quantiles at `t` (nothing outside its horizon).
fn forecast_at(f: &Forecast, t: Timestamp) -> Vec<(String, f64)> {
    let step_ms = f.step_s.saturating_mul(1000).max(1);
    let off = t.millis().saturating_sub(f.start.millis());
    if off < 0 {
        return Vec::new();
    }
    let Ok(i) = usize::try_from(off / step_ms) else {
        return Vec::new();
    };
    let Some(mean) = f.mean.get(i) else {
        return Vec::new();
    };
    let mut out = vec![("mean".to_string(), *mean)];
    for (q, v) in &f.quantiles {
        if let Some(x) = v.get(i) {
            out.push((q.level().to_string(), *x));
        }
    }
    out
}

/// Store `body` as JSON under `id` in a side table of plans (`plan_verdicts`,
/// `plan_forecasts`), or drop the row when there is none (a re-posted plan
/// must not keep an old one).
fn put_or_drop<T: serde::Serialize>(
    tx: &rusqlite::Transaction<'_>,
    table: &'static str,
    id: &str,
    body: Option<&T>,
) -> rusqlite::Result<()> {
    match body {
        Some(b) => {
            let body = serde_json::to_string(b)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            tx.prepare_cached(&format!(
                "INSERT INTO {table} (id, body) VALUES (?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body"
            ))?
            .execute(params![id, body])?;
        }
        None => {
            tx.prepare_cached(&format!("DELETE FROM {table} WHERE id = ?1"))?
                .execute(params![id])?;
        }
    }
    Ok(())
}

fn put_plan(
    tx: &rusqlite::Transaction<'_>,
    plan: &ScalingPlan,
    forecast: Option<&Forecast>,
    verdict: Option<&PlanVerdict>,
    now: Timestamp,
) -> rusqlite::Result<bool> {
    put_or_drop(tx, "plan_verdicts", &plan.id, verdict)?;
    put_or_drop(tx, "plan_forecasts", &plan.id, forecast)?;
    let body = serde_json::to_string(plan)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let existed: bool = tx
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM plans WHERE id = ?1)")?
        .query_row(params![plan.id], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO plans (id, app, submitted_ms, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET app = excluded.app, submitted_ms = excluded.submitted_ms, body = excluded.body",
    )?
    .execute(params![plan.id, plan.app.as_str(), now.millis(), body])?;
    Ok(!existed)
}

fn record_one(
    tx: &rusqlite::Transaction<'_>,
    ledger: &mut AlertLedger,
    item: &Incoming,
    now: Timestamp,
) -> rusqlite::Result<Outcome> {
    let ev = &item.event;
    let seen: bool = tx
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM alerts
             WHERE source = ?1 AND fingerprint = ?2 AND status = ?3 AND starts_at_ms = ?4)",
        )?
        .query_row(
            params![
                ev.source.as_str(),
                ev.fingerprint,
                ev.status.as_str(),
                ev.starts_at.millis()
            ],
            |r| r.get(0),
        )?;
    if seen {
        return Ok(Outcome::Duplicate);
    }
    let outcome = match &item.target {
        Err(reason) => Outcome::Ignored(reason.clone()),
        Ok(target) => match ledger.apply(ev, target) {
            Applied::NothingToResolve => Outcome::NothingToResolve,
            Applied::Stale => Outcome::Stale,
            Applied::Decision(d) => Outcome::Decision(Box::new(DecisionRecord {
                id: 0,
                at: ts_string(now.millis()),
                at_ms: now.millis(),
                app: d.app,
                source: ev.source,
                alertname: ev.alertname().to_string(),
                fingerprint: ev.fingerprint.clone(),
                status: ev.status,
                starts_at: ts_string(ev.starts_at.millis()),
                step: d.step,
                delta: d.delta,
                desired_replicas: d.desired,
                previous_replicas: d.previous,
                min_replicas: d.bounds.min,
                max_replicas: d.bounds.max,
                on_resolve: d.on_resolve,
                reason: d.reason,
                signal: signal_for(
                    ev.source,
                    &ev.fingerprint,
                    ev.alertname(),
                    ev.status,
                    match ev.status {
                        AlertStatus::Firing => ev.starts_at,
                        AlertStatus::Resolved => ev.ends_at.unwrap_or(now),
                    },
                    d.step,
                ),
            })),
        },
    };
    let (outcome_text, app) = match &outcome {
        Outcome::Decision(d) => ("decision".to_string(), Some(d.app.as_str().to_string())),
        Outcome::Ignored(r) => (format!("ignored: {r}"), None),
        Outcome::NothingToResolve => (
            "nothing to resolve".to_string(),
            item.target.as_ref().ok().map(|t| t.app.to_string()),
        ),
        Outcome::Stale => (
            "stale".to_string(),
            item.target.as_ref().ok().map(|t| t.app.to_string()),
        ),
        Outcome::Duplicate => ("duplicate".to_string(), None),
    };
    let labels = serde_json::to_string(&ev.labels).unwrap_or_else(|_| "{}".into());
    let annotations = serde_json::to_string(&ev.annotations).unwrap_or_else(|_| "{}".into());
    tx.prepare_cached(
        "INSERT INTO alerts (received_ms, source, fingerprint, status, starts_at_ms, ends_at_ms,
                             alertname, app, outcome, labels, annotations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        now.millis(),
        ev.source.as_str(),
        ev.fingerprint,
        ev.status.as_str(),
        ev.starts_at.millis(),
        ev.ends_at.map(Timestamp::millis),
        ev.alertname(),
        app,
        outcome_text,
        labels,
        annotations
    ])?;
    let alert_id = tx.last_insert_rowid();
    let Outcome::Decision(mut d) = outcome else {
        return Ok(outcome);
    };
    tx.prepare_cached(
        "INSERT INTO decisions (alert_id, at_ms, app, source, alertname, fingerprint, status,
                                starts_at_ms, step, delta, desired, previous, min_replicas,
                                max_replicas, on_resolve, ended_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        alert_id,
        d.at_ms,
        d.app.as_str(),
        d.source.as_str(),
        d.alertname,
        d.fingerprint,
        d.status.as_str(),
        ev.starts_at.millis(),
        d.step,
        d.delta,
        d.desired_replicas.0,
        d.previous_replicas.0,
        d.min_replicas.0,
        d.max_replicas.0,
        d.on_resolve.as_str(),
        (ev.status == AlertStatus::Resolved).then_some(d.signal.at.millis())
    ])?;
    d.id = tx.last_insert_rowid();
    match ev.status {
        AlertStatus::Firing => {
            tx.prepare_cached(
                "INSERT INTO active_steps (source, fingerprint, app, starts_at_ms, step, on_resolve)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (source, fingerprint) DO UPDATE SET app = excluded.app,
                   starts_at_ms = excluded.starts_at_ms, step = excluded.step,
                   on_resolve = excluded.on_resolve",
            )?
            .execute(params![
                ev.source.as_str(),
                ev.fingerprint,
                d.app.as_str(),
                ev.starts_at.millis(),
                d.step,
                d.on_resolve.as_str()
            ])?;
        }
        AlertStatus::Resolved => {
            tx.prepare_cached("DELETE FROM active_steps WHERE source = ?1 AND fingerprint = ?2")?
                .execute(params![ev.source.as_str(), ev.fingerprint])?;
        }
    }
    Ok(Outcome::Decision(d))
}
