//! The controller's state in the server's database: per-app status, the
//! decision and actuation history, the pause flag and the per-app lease.
//!
//! Why here and not in `crest-controller`: the server must read this state
//! (`GET /v1/apps`, `GET /v1/apps/{app}/history`) and write the pause flag
//! (`POST /v1/apps/{app}/pause`) without depending on the controller, which
//! depends on the actuator (the server never touches a fleet). So the tables
//! and the SQL live in one place, here; the controller calls these functions
//! on its own connection, the server on its read-only one (and on a short-lived
//! write connection for the pause flag, a rare operator action).
//!
//! All functions are synchronous over a `rusqlite::Connection`: callers in
//! async code run them on a blocking thread.

use std::path::Path;

use crest_core::{AppId, Replicas, ScalingPlan, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::config::{AppBounds, OnResolve};
use crate::engine::{ActiveStep, AlertLedger};
use crate::payload::Source;

/// The controller's tables. Created by the server's store and by the controller.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS controller_apps (
    app              TEXT PRIMARY KEY,
    desired          INTEGER NOT NULL DEFAULT 0,
    observed         INTEGER NOT NULL DEFAULT 0,
    ready            INTEGER NOT NULL DEFAULT 0,
    floors           TEXT NOT NULL DEFAULT '[]',
    last_decision    TEXT,
    holder           TEXT,
    cooldown_from_ms INTEGER,
    paused           INTEGER NOT NULL DEFAULT 0,
    paused_ms        INTEGER,
    updated_ms       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS controller_history (
    id        INTEGER PRIMARY KEY,
    app       TEXT NOT NULL,
    at_ms     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    current   INTEGER NOT NULL,
    desired   INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    holder    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS controller_history_by_app ON controller_history (app, id);
CREATE TABLE IF NOT EXISTS controller_lease (
    app         TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_ms INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
";

/// One replica floor in force for an app, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// `baseline`, `alert`, `plan` or `metric`.
    pub source: String,
    /// The floor, in replicas.
    pub replicas: u32,
    /// What holds it: alert fingerprints, plan id and step, metric value.
    pub detail: String,
}

/// The last decision the controller made for an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastDecision {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Replicas asked for before.
    pub current: u32,
    /// Replicas decided.
    pub desired: u32,
    /// Why (the winning floor, or the safety rule that held it).
    pub reason: String,
}

/// An app as `GET /v1/apps` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppStatus {
    /// The app.
    pub app: String,
    /// Replicas the controller asks for.
    pub desired: u32,
    /// Instances running or starting.
    pub observed: u32,
    /// Instances passing the load balancer's health check.
    pub ready: u32,
    /// Floors in force, with their sources.
    pub floors: Vec<Floor>,
    /// The last decision.
    pub last_decision: Option<LastDecision>,
    /// The controller instance holding the app's lease (when the status was written).
    pub holder: Option<String>,
    /// Whether actuation is paused (kill switch).
    pub paused: bool,
    /// When the status was written (RFC 3339).
    pub updated_at: String,
}

/// One entry of an app's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Sequence number (the pagination cursor).
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// `decision`, `actuate`, `actuated`, `actuate_failed`, `held`, `paused`,
    /// `plan_verified`, `plan_refused`, `lease`.
    pub kind: String,
    /// Replicas asked for before.
    pub current: u32,
    /// Replicas decided or applied.
    pub desired: u32,
    /// Why.
    pub reason: String,
    /// What happened (actuator report, error).
    pub detail: String,
    /// The controller instance that wrote it.
    pub holder: String,
}

fn u(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Create the tables if missing.
///
/// # Errors
/// SQLite errors.
pub fn ensure_schema(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(SCHEMA)
}

/// Write an app's status (keeps the pause flag).
///
/// # Errors
/// SQLite errors.
#[allow(clippy::too_many_arguments)] // one column each
pub fn put_status(
    c: &Connection,
    app: &AppId,
    desired: u32,
    observed: u32,
    ready: u32,
    floors: &[Floor],
    last: Option<&LastDecision>,
    holder: &str,
    cooldown_from: Option<Timestamp>,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let floors = serde_json::to_string(floors).unwrap_or_else(|_| "[]".into());
    let last = last.and_then(|l| serde_json::to_string(l).ok());
    c.prepare_cached(
        "INSERT INTO controller_apps (app, desired, observed, ready, floors, last_decision, holder,
                                      cooldown_from_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (app) DO UPDATE SET desired = excluded.desired, observed = excluded.observed,
           ready = excluded.ready, floors = excluded.floors,
           last_decision = coalesce(excluded.last_decision, controller_apps.last_decision),
           holder = excluded.holder,
           cooldown_from_ms = excluded.cooldown_from_ms, updated_ms = excluded.updated_ms",
    )?
    .execute(params![
        app.as_str(),
        desired,
        observed,
        ready,
        floors,
        last,
        holder,
        cooldown_from.map(Timestamp::millis),
        now.millis()
    ])?;
    Ok(())
}

/// Append one history entry.
///
/// # Errors
/// SQLite errors.
#[allow(clippy::too_many_arguments)] // one column each
pub fn append_history(
    c: &Connection,
    app: &AppId,
    at: Timestamp,
    kind: &str,
    current: u32,
    desired: u32,
    reason: &str,
    detail: &str,
    holder: &str,
) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO controller_history (app, at_ms, kind, current, desired, reason, detail, holder)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        app.as_str(),
        at.millis(),
        kind,
        current,
        desired,
        reason,
        detail,
        holder
    ])?;
    Ok(c.last_insert_rowid())
}

/// Set or clear an app's pause flag (the row is created if the controller
/// has not written one yet).
///
/// # Errors
/// SQLite errors.
pub fn set_paused(
    c: &Connection,
    app: &AppId,
    paused: bool,
    now: Timestamp,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO controller_apps (app, paused, paused_ms, updated_ms) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (app) DO UPDATE SET paused = excluded.paused, paused_ms = excluded.paused_ms",
    )?
    .execute(params![app.as_str(), i64::from(paused), now.millis()])?;
    Ok(())
}

/// Set an app's pause flag through a short-lived connection to `db`.
///
/// # Errors
/// SQLite errors.
pub fn set_paused_in(db: &Path, app: &AppId, paused: bool, now: Timestamp) -> rusqlite::Result<()> {
    let c = Connection::open(db)?;
    c.busy_timeout(std::time::Duration::from_secs(5))?;
    ensure_schema(&c)?;
    set_paused(&c, app, paused, now)
}

/// Whether an app is paused.
///
/// # Errors
/// SQLite errors.
pub fn paused(c: &Connection, app: &AppId) -> rusqlite::Result<bool> {
    Ok(
        c.prepare_cached("SELECT paused FROM controller_apps WHERE app = ?1")?
            .query_row(params![app.as_str()], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|p| p != 0),
    )
}

/// When an app's scale-in cooldown started (last scale-out or alert seen firing).
///
/// # Errors
/// SQLite errors.
pub fn cooldown_from(c: &Connection, app: &AppId) -> rusqlite::Result<Option<Timestamp>> {
    Ok(
        c.prepare_cached("SELECT cooldown_from_ms FROM controller_apps WHERE app = ?1")?
            .query_row(params![app.as_str()], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
            .map(Timestamp),
    )
}

fn status_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AppStatus> {
    let floors: String = r.get(4)?;
    let last: Option<String> = r.get(5)?;
    Ok(AppStatus {
        app: r.get(0)?,
        desired: u(r.get(1)?),
        observed: u(r.get(2)?),
        ready: u(r.get(3)?),
        floors: serde_json::from_str(&floors).unwrap_or_default(),
        last_decision: last.and_then(|l| serde_json::from_str(&l).ok()),
        holder: r.get(6)?,
        paused: r.get::<_, i64>(7)? != 0,
        updated_at: Timestamp(r.get(8)?).to_string(),
    })
}

/// Every app the controller (or the kill switch) has written, by name.
///
/// # Errors
/// SQLite errors.
pub fn list(c: &Connection) -> rusqlite::Result<Vec<AppStatus>> {
    let mut stmt = c.prepare_cached(
        "SELECT app, desired, observed, ready, floors, last_decision, holder, paused, updated_ms
         FROM controller_apps ORDER BY app",
    )?;
    let rows = stmt.query_map([], status_from_row)?;
    rows.collect()
}

/// An app's history after entry `after`, oldest first, at most `limit` entries.
///
/// # Errors
/// SQLite errors.
pub fn history(
    c: &Connection,
    app: &AppId,
    after: i64,
    limit: usize,
) -> rusqlite::Result<Vec<HistoryEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, at_ms, kind, current, desired, reason, detail, holder FROM controller_history
         WHERE app = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![
            app.as_str(),
            after,
            i64::try_from(limit).unwrap_or(i64::MAX)
        ],
        |r| {
            let at_ms: i64 = r.get(1)?;
            Ok(HistoryEntry {
                id: r.get(0)?,
                at: Timestamp(at_ms).to_string(),
                at_ms,
                kind: r.get(2)?,
                current: u(r.get(3)?),
                desired: u(r.get(4)?),
                reason: r.get(5)?,
                detail: r.get(6)?,
                holder: r.get(7)?,
            })
        },
    )?;
    rows.collect()
}

/// Take or renew the app's lease for `holder` until `now + ttl_ms`: succeeds
/// when nobody holds it, `holder` already does, or the holder's lease expired.
/// One statement, so two contenders can never both win.
///
/// # Errors
/// SQLite errors.
pub fn try_lease(
    c: &Connection,
    app: &AppId,
    holder: &str,
    now: Timestamp,
    ttl_ms: i64,
) -> rusqlite::Result<bool> {
    let n = c
        .prepare_cached(
            "INSERT INTO controller_lease (app, holder, acquired_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (app) DO UPDATE SET
               acquired_ms = CASE WHEN controller_lease.holder = excluded.holder
                                  THEN controller_lease.acquired_ms ELSE excluded.acquired_ms END,
               holder = excluded.holder, expires_ms = excluded.expires_ms
             WHERE controller_lease.holder = excluded.holder OR controller_lease.expires_ms <= ?3",
        )?
        .execute(params![app.as_str(), holder, now.millis(), now.millis() + ttl_ms])?;
    Ok(n == 1)
}

/// Give the lease up (clean shutdown), so a standby takes over at once.
///
/// # Errors
/// SQLite errors.
pub fn release_lease(c: &Connection, app: &AppId, holder: &str) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM controller_lease WHERE app = ?1 AND holder = ?2")?
        .execute(params![app.as_str(), holder])?;
    Ok(())
}

/// Who holds the app's lease, and until when.
///
/// # Errors
/// SQLite errors.
pub fn lease_holder(c: &Connection, app: &AppId) -> rusqlite::Result<Option<(String, Timestamp)>> {
    c.prepare_cached("SELECT holder, expires_ms FROM controller_lease WHERE app = ?1")?
        .query_row(params![app.as_str()], |r| {
            Ok((r.get(0)?, Timestamp(r.get(1)?)))
        })
        .optional()
}

/// The alerts firing for an app (their `source:fingerprint` keys) and the
/// replica floor they hold together: the app's base plus their steps, within
/// its bounds, exactly as the server's decisions compute it. `None` when no
/// alert holds a step for the app.
///
/// # Errors
/// SQLite errors.
pub fn alert_floor(
    c: &Connection,
    app: &AppId,
    bounds: AppBounds,
) -> rusqlite::Result<Option<(Replicas, Vec<String>)>> {
    let mut stmt = c.prepare_cached(
        "SELECT source, fingerprint, starts_at_ms, step, on_resolve FROM active_steps
         WHERE app = ?1 ORDER BY source, fingerprint",
    )?;
    let mut rows = stmt.query(params![app.as_str()])?;
    let mut ledger = AlertLedger::new();
    let mut keys = Vec::new();
    while let Some(r) = rows.next()? {
        let source: String = r.get(0)?;
        let Some(source) = Source::parse(&source) else {
            continue;
        };
        let fingerprint: String = r.get(1)?;
        let on_resolve: String = r.get(4)?;
        keys.push(format!("{source}:{fingerprint}"));
        ledger.restore(
            app.clone(),
            (source, fingerprint),
            ActiveStep {
                starts_at: Timestamp(r.get(2)?),
                step: r.get(3)?,
                on_resolve: if on_resolve == "end" {
                    OnResolve::End
                } else {
                    OnResolve::Undo
                },
            },
        );
    }
    if keys.is_empty() {
        return Ok(None);
    }
    Ok(Some((ledger.desired(app, bounds), keys)))
}

/// The plans stored through `POST /v1/plans` for an app (unreadable ones skipped).
///
/// # Errors
/// SQLite errors.
pub fn stored_plans(c: &Connection, app: &AppId) -> rusqlite::Result<Vec<ScalingPlan>> {
    let mut stmt = c.prepare_cached("SELECT body FROM plans WHERE app = ?1 ORDER BY id")?;
    let rows = stmt.query_map(params![app.as_str()], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for body in rows {
        if let Ok(p) = serde_json::from_str::<ScalingPlan>(&body?) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        ensure_schema(&c).unwrap();
        c
    }

    #[test]
    fn one_holder_at_a_time_until_expiry() {
        let c = db();
        let app = AppId::try_new("web").unwrap();
        let t = Timestamp::from_secs(1000);
        assert!(try_lease(&c, &app, "a", t, 5_000).unwrap());
        assert!(!try_lease(&c, &app, "b", t.add_secs(4), 5_000).unwrap());
        assert!(try_lease(&c, &app, "a", t.add_secs(4), 5_000).unwrap());
        // a renewed until t+9: b still waits at t+8, takes over at t+9.
        assert!(!try_lease(&c, &app, "b", t.add_secs(8), 5_000).unwrap());
        assert!(try_lease(&c, &app, "b", t.add_secs(9), 5_000).unwrap());
        assert_eq!(lease_holder(&c, &app).unwrap().unwrap().0, "b");
        release_lease(&c, &app, "a").unwrap(); // not a's any more: no effect
        assert_eq!(lease_holder(&c, &app).unwrap().unwrap().0, "b");
        release_lease(&c, &app, "b").unwrap();
        assert!(try_lease(&c, &app, "a", t.add_secs(10), 5_000).unwrap());
    }

    #[test]
    fn pause_survives_status_writes() {
        let c = db();
        let app = AppId::try_new("web").unwrap();
        let t = Timestamp::from_secs(10);
        set_paused(&c, &app, true, t).unwrap();
        put_status(&c, &app, 3, 2, 1, &[], None, "h", None, t).unwrap();
        assert!(paused(&c, &app).unwrap());
        let s = list(&c).unwrap();
        assert_eq!(
            (s[0].desired, s[0].observed, s[0].ready, s[0].paused),
            (3, 2, 1, true)
        );
        set_paused(&c, &app, false, t).unwrap();
        assert!(!paused(&c, &app).unwrap());
    }
}
