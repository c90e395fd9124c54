//! One server per database: the `server_lease` row.
//!
//! Why: two `crest serve` on one database both started, fought for SQLite's
//! write lock (1,154 × 503 "database is locked") and each computed replica
//! floors from the alerts it had seen only. Now the first server writes a
//! lease row (holder, pid, host, since, expiry) in an immediate transaction;
//! a second one finds it unexpired and refuses to start, naming the holder.
//! The holder renews it every [`RENEW_EVERY`] from a thread of its own, and
//! deletes it on a clean stop. A holder killed with `kill -9` leaves the row:
//! on the same host its pid is gone, so a restart takes the lease at once;
//! from another host the lease is free when it expires ([`TTL_MS`]).
//!
//! Lease times are wall time whatever the store's clock: they are compared
//! across processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crest_core::{Clock, Timestamp, WallClock};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::ServerError;

/// A lease not renewed for this long is free.
pub(super) const TTL_MS: i64 = 30_000;
/// How often the holder renews it.
pub(super) const RENEW_EVERY: Duration = Duration::from_secs(10);

/// This server's claim on its database.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    path: PathBuf,
    holder: String,
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether process `pid` runs on this host (Linux `/proc`; elsewhere assume
/// it does, and wait for the lease to expire).
fn pid_alive(pid: i64) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Take the lease, or fail naming the live holder.
///
/// # Errors
/// [`ServerError::Leased`] when another live server holds it,
/// [`ServerError::OpenDb`] when SQLite fails.
pub(super) fn take(conn: &Connection, path: &Path) -> Result<Lease, ServerError> {
    let db = |source| ServerError::OpenDb {
        path: path.to_path_buf(),
        source,
    };
    let now = WallClock.now().millis();
    let host = host_name();
    let pid = i64::from(std::process::id());
    let holder = format!("{host}:{pid}:{now}");
    conn.execute_batch("BEGIN IMMEDIATE").map_err(db)?;
    let result = (|| {
        let current = conn
            .query_row(
                "SELECT pid, host, since_ms, expires_ms FROM server_lease WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(db)?;
        if let Some((p, h, since, until)) = current {
            let dead_here = h == host && p != pid && !pid_alive(p);
            if until > now && !dead_here {
                return Err(ServerError::Leased {
                    path: path.to_path_buf(),
                    pid: p,
                    host: h,
                    since: Timestamp(since).to_string(),
                    until: Timestamp(until).to_string(),
                });
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO server_lease (id, holder, pid, host, since_ms, expires_ms) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![holder, pid, host, now, now + TTL_MS],
        )
        .map_err(db)?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT").map_err(db)?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(Lease {
        path: path.to_path_buf(),
        holder,
    })
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

/// Extend the lease; `Ok(false)` when it is no longer ours.
fn renew(conn: &Connection, lease: &Lease) -> rusqlite::Result<bool> {
    let now = WallClock.now().millis();
    let n = conn.execute(
        "UPDATE server_lease SET expires_ms = ?1 WHERE id = 1 AND holder = ?2",
        params![now + TTL_MS, lease.holder],
    )?;
    Ok(n == 1)
}

/// Give the lease up (a clean stop): the next server starts at once.
pub(super) fn release(lease: &Lease) {
    if let Ok(c) = connect(&lease.path) {
        // Nothing to do if this fails: the lease expires on its own.
        let _ = c.execute(
            "DELETE FROM server_lease WHERE id = 1 AND holder = ?1",
            params![lease.holder],
        );
    }
}

/// The thread renewing the lease.
pub(super) struct Renewer {
    stop: mpsc::Sender<()>,
    handle: Option<JoinHandle<()>>,
}

impl Renewer {
    /// Renew every [`RENEW_EVERY`]; a lost or unrenewable lease is reported
    /// as the write health (`/healthz` answers 503).
    pub(super) fn start(lease: Lease, health: Arc<Mutex<Option<String>>>) -> Renewer {
        let (stop, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("crest-db-lease".into())
            .spawn(move || {
                let mut conn = None;
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(RENEW_EVERY) {
                    if conn.is_none() {
                        conn = connect(&lease.path).ok();
                    }
                    let problem = match conn.as_ref().map(|c| renew(c, &lease)) {
                        Some(Ok(true)) => None,
                        Some(Ok(false)) => Some(
                            "lost the database lease to another server (see server_lease)".into(),
                        ),
                        Some(Err(e)) => Some(format!("failed to renew the database lease: {e}")),
                        None => Some("failed to open the database to renew its lease".into()),
                    };
                    if let Some(p) = problem
                        && let Ok(mut g) = health.lock()
                    {
                        *g = Some(p);
                    }
                }
            })
            .ok();
        Renewer { stop, handle }
    }

    /// Stop renewing (before [`release`]).
    pub(super) fn stop(mut self) {
        let _ = self.stop.send(());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
