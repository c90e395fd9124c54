//! The write-ahead journal (SQLite): every step is written before it is done
//! and marked after, so a crash at any point leaves a record of what may be
//! half-done.
//!
//! Two tables: `steps` is the append-only log (intent, done or failed, with
//! the instance, the step and a detail), `instances` the derived state of each
//! instance crest ever started (`starting`, `running`, `stopping`, `gone`), its
//! IP and plan. Each step and the instance row change in one transaction. The
//! journal is not trusted blindly after a crash: [`crate::fleet`] reconciles it
//! with what containerd, CNI and HAProxy really hold. WAL mode with
//! `synchronous = NORMAL` survives a kill -9 of crest (only an OS crash can
//! lose the last commits, and reconciliation covers that too).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crest_core::{AppId, Timestamp, action::InstanceId};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::ActuatorError;

/// Lifecycle of an instance as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalState {
    /// Start intended or under way: may be half-built.
    Starting,
    /// Fully started (container, IP, load balancer).
    Running,
    /// Removal intended or under way.
    Stopping,
    /// Fully removed.
    Gone,
}

impl JournalState {
    fn as_str(self) -> &'static str {
        match self {
            JournalState::Starting => "starting",
            JournalState::Running => "running",
            JournalState::Stopping => "stopping",
            JournalState::Gone => "gone",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "starting" => JournalState::Starting,
            "running" => JournalState::Running,
            "stopping" => JournalState::Stopping,
            "gone" => JournalState::Gone,
            _ => return None,
        })
    }
}

/// One instance's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalInstance {
    /// The instance (also its container id and LB server name).
    pub id: InstanceId,
    /// Its app.
    pub app: AppId,
    /// The plan that started it.
    pub plan_id: Option<String>,
    /// Its IP, once CNI gave one.
    pub ip: Option<String>,
    /// Its state.
    pub state: JournalState,
}

/// A step's outcome in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMark {
    /// About to be done.
    Intent,
    /// Done.
    Done,
    /// Failed (detail says why).
    Failed,
}

impl StepMark {
    fn as_str(self) -> &'static str {
        match self {
            StepMark::Intent => "intent",
            StepMark::Done => "done",
            StepMark::Failed => "failed",
        }
    }
}

/// The SQLite journal. Cheap to share behind an `Arc`; calls are short and
/// serialised on one connection.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    app TEXT NOT NULL,
    instance TEXT NOT NULL,
    step TEXT NOT NULL,
    mark TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS instances (
    instance TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    plan_id TEXT,
    ip TEXT,
    state TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_app ON instances(app, state);
CREATE TABLE IF NOT EXISTS counters (
    app TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS desired (
    app TEXT PRIMARY KEY,
    replicas INTEGER NOT NULL,
    plan_id TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

impl Journal {
    /// Open (or create) the journal at `path`.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] when the file cannot be opened or the schema
    /// cannot be created.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ActuatorError> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|source| ActuatorError::Journal {
            what: "open".into(),
            path: path.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|source| ActuatorError::Journal {
                what: "create the schema".into(),
                path: path.clone(),
                source,
            })?;
        Ok(Journal {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory journal (dry runs and unit tests).
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] if SQLite cannot open memory.
    pub fn in_memory() -> Result<Self, ActuatorError> {
        Self::open(":memory:")
    }

    /// The journal file (`:memory:` for an in-memory one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> ActuatorError {
        let path = self.path.clone();
        let what = what.into();
        move |source| ActuatorError::Journal { what, path, source }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; SQLite
        // rolled that transaction back, so the connection is still sound.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserve a new instance for `app` and record the start intent, in one
    /// transaction: the id is never handed out twice, even across crashes.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn reserve(
        &self,
        app: &AppId,
        plan_id: Option<&str>,
        now: Timestamp,
    ) -> Result<InstanceId, ActuatorError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(self.err("begin a transaction"))?;
        let next: i64 = tx
            .query_row(
                "SELECT next FROM counters WHERE app = ?1",
                params![app.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("read the instance counter"))?
            .unwrap_or(1);
        tx.execute(
            "INSERT INTO counters(app, next) VALUES (?1, ?2)
             ON CONFLICT(app) DO UPDATE SET next = excluded.next",
            params![app.as_str(), next + 1],
        )
        .map_err(self.err("bump the instance counter"))?;
        let id = InstanceId::from(format!("{app}-{next:05}"));
        tx.execute(
            "INSERT INTO instances(instance, app, plan_id, ip, state, updated_ms)
             VALUES (?1, ?2, ?3, NULL, 'starting', ?4)",
            params![id.as_str(), app.as_str(), plan_id, now.millis()],
        )
        .map_err(self.err("insert an instance"))?;
        tx.execute(
            "INSERT INTO steps(at_ms, app, instance, step, mark) VALUES (?1, ?2, ?3, 'reserve', 'done')",
            params![now.millis(), app.as_str(), id.as_str()],
        )
        .map_err(self.err("log a step"))?;
        tx.commit().map_err(self.err("commit"))?;
        Ok(id)
    }

    /// Log a step of an instance, optionally moving it to a new state.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    #[allow(clippy::too_many_arguments)] // one column each of the log row
    pub fn step(
        &self,
        app: &AppId,
        instance: &InstanceId,
        step: &str,
        mark: StepMark,
        detail: &str,
        new_state: Option<JournalState>,
        now: Timestamp,
    ) -> Result<(), ActuatorError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(self.err("begin a transaction"))?;
        tx.execute(
            "INSERT INTO steps(at_ms, app, instance, step, mark, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now.millis(), app.as_str(), instance.as_str(), step, mark.as_str(), detail],
        )
        .map_err(self.err("log a step"))?;
        if let Some(s) = new_state {
            tx.execute(
                "INSERT INTO instances(instance, app, plan_id, ip, state, updated_ms)
                 VALUES (?1, ?2, NULL, NULL, ?3, ?4)
                 ON CONFLICT(instance) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
                params![instance.as_str(), app.as_str(), s.as_str(), now.millis()],
            )
            .map_err(self.err("update an instance"))?;
        }
        tx.commit().map_err(self.err("commit"))
    }

    /// Record an instance's IP.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn set_ip(&self, instance: &InstanceId, ip: Option<&str>) -> Result<(), ActuatorError> {
        self.lock()
            .execute(
                "UPDATE instances SET ip = ?2 WHERE instance = ?1",
                params![instance.as_str(), ip],
            )
            .map(|_| ())
            .map_err(self.err("record an IP"))
    }

    /// Record the replica count last asked for.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn set_desired(
        &self,
        app: &AppId,
        replicas: u32,
        plan_id: Option<&str>,
    ) -> Result<(), ActuatorError> {
        self.lock()
            .execute(
                "INSERT INTO desired(app, replicas, plan_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app) DO UPDATE SET replicas = excluded.replicas, plan_id = excluded.plan_id",
                params![app.as_str(), replicas, plan_id],
            )
            .map(|_| ())
            .map_err(self.err("record the desired count"))
    }

    /// The replica count last asked for.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn desired(&self, app: &AppId) -> Result<Option<u32>, ActuatorError> {
        self.lock()
            .query_row(
                "SELECT replicas FROM desired WHERE app = ?1",
                params![app.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("read the desired count"))
    }

    /// Every instance of `app` not yet gone, by id.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure, [`ActuatorError::JournalCorrupt`]
    /// on a row that does not parse.
    pub fn live(
        &self,
        app: &AppId,
    ) -> Result<BTreeMap<InstanceId, JournalInstance>, ActuatorError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT instance, plan_id, ip, state FROM instances WHERE app = ?1 AND state != 'gone'",
            )
            .map_err(self.err("read instances"))?;
        let rows = stmt
            .query_map(params![app.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(self.err("read instances"))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, plan_id, ip, state) = row.map_err(self.err("read an instance"))?;
            let state =
                JournalState::parse(&state).ok_or_else(|| ActuatorError::JournalCorrupt {
                    path: self.path.clone(),
                    row: id.clone(),
                    message: format!("unknown state {state:?}"),
                })?;
            let id = InstanceId::from(id);
            out.insert(
                id.clone(),
                JournalInstance {
                    id,
                    app: app.clone(),
                    plan_id,
                    ip,
                    state,
                },
            );
        }
        Ok(out)
    }

    /// A small key/value setting kept with the journal (e.g. the Mesos
    /// framework id, so a later run fails over instead of registering anew).
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, ActuatorError> {
        self.lock()
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err(format!("read meta {key:?}")))
    }

    /// Set (insert or replace) a key/value setting; durable once it returns.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), ActuatorError> {
        self.lock()
            .execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(self.err(format!("write meta {key:?}")))
    }

    /// Remove a key/value setting; returns the value it had.
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn remove_meta(&self, key: &str) -> Result<Option<String>, ActuatorError> {
        let old = self.get_meta(key)?;
        self.lock()
            .execute("DELETE FROM meta WHERE key = ?1", params![key])
            .map(|_| ())
            .map_err(self.err(format!("delete meta {key:?}")))?;
        Ok(old)
    }

    /// Number of rows in the step log (tests and reports).
    ///
    /// # Errors
    /// [`ActuatorError::Journal`] on SQLite failure.
    pub fn step_count(&self) -> Result<u64, ActuatorError> {
        self.lock()
            .query_row("SELECT COUNT(*) FROM steps", [], |r| r.get(0))
            .map_err(self.err("count steps"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_never_repeats_an_id_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.sqlite");
        let app = AppId::try_new("web").unwrap();
        let a = Journal::open(&p)
            .unwrap()
            .reserve(&app, None, Timestamp(1))
            .unwrap();
        let j = Journal::open(&p).unwrap();
        let b = j.reserve(&app, Some("p1"), Timestamp(2)).unwrap();
        assert_eq!(a.0, "web-00001");
        assert_eq!(b.0, "web-00002");
        let live = j.live(&app).unwrap();
        assert_eq!(live.len(), 2);
        assert!(live.values().all(|i| i.state == JournalState::Starting));
        assert_eq!(live[&b].plan_id.as_deref(), Some("p1"));
    }

    #[test]
    fn steps_move_state_and_gone_leaves_live() {
        let j = Journal::in_memory().unwrap();
        let app = AppId::try_new("web").unwrap();
        let id = j.reserve(&app, None, Timestamp(1)).unwrap();
        j.step(
            &app,
            &id,
            "start",
            StepMark::Done,
            "",
            Some(JournalState::Running),
            Timestamp(2),
        )
        .unwrap();
        j.set_ip(&id, Some("10.0.0.2")).unwrap();
        assert_eq!(j.live(&app).unwrap()[&id].ip.as_deref(), Some("10.0.0.2"));
        j.step(
            &app,
            &id,
            "remove",
            StepMark::Done,
            "",
            Some(JournalState::Gone),
            Timestamp(3),
        )
        .unwrap();
        assert!(j.live(&app).unwrap().is_empty());
        assert_eq!(j.step_count().unwrap(), 3);
        j.set_desired(&app, 4, Some("p")).unwrap();
        assert_eq!(j.desired(&app).unwrap(), Some(4));
    }

    #[test]
    fn meta_survives_reopen_and_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.sqlite");
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.get_meta("mesos/crest/framework_id").unwrap(), None);
        j.set_meta("mesos/crest/framework_id", "f-1").unwrap();
        j.set_meta("other", "x").unwrap();
        drop(j);
        let j = Journal::open(&p).unwrap();
        assert_eq!(
            j.get_meta("mesos/crest/framework_id").unwrap().as_deref(),
            Some("f-1")
        );
        j.set_meta("mesos/crest/framework_id", "f-2").unwrap();
        assert_eq!(
            j.get_meta("mesos/crest/framework_id").unwrap().as_deref(),
            Some("f-2")
        );
        assert_eq!(j.get_meta("other").unwrap().as_deref(), Some("x"));
    }
}
