//! Issue 16, item 4: one server per database. A second server on the same
//! database is refused, naming the holder (pid, host, since); a clean stop
//! frees the database at once; a holder that died (its pid gone on this
//! host) or whose lease expired does not block a restart.

use crest_core::WallClock;
use crest_server::{Opened, ServerConfig, ServerError};

use crate::common::*;

fn open(dir: &std::path::Path) -> Result<Opened, ServerError> {
    let config = ServerConfig::from_toml(&config_text(""), "test.toml", dir, |_| None).unwrap();
    Opened::open(config, WallClock)
}

fn set_lease(dir: &std::path::Path, pid: i64, host: &str, expires_in_ms: i64) {
    let c = rusqlite::Connection::open(dir.join("state.db")).unwrap();
    #[allow(clippy::disallowed_methods)] // the lease is wall time across processes
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.execute(
        "INSERT OR REPLACE INTO server_lease (id, holder, pid, host, since_ms, expires_ms) \
         VALUES (1, 'other', ?1, ?2, ?3, ?4)",
        rusqlite::params![pid, host, now - 1000, now + expires_in_ms],
    )
    .unwrap();
}

#[tokio::test]
async fn a_second_server_on_the_same_database_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    // The first server answers: its database is open and leased.
    let mut c = srv.client().await;
    let (s, _) = post_am(&mut c, AM_FIRING).await;
    assert_eq!(s, 200);

    let Err(e) = open(dir.path()) else {
        panic!("a second server opened a leased database");
    };
    let msg = e.to_string();
    assert!(matches!(e, ServerError::Leased { .. }), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains("another crest serve holds it"), "{msg}");
    assert!(msg.contains("since 20"), "{msg}");
    // The refused server changed nothing: the first still serves and writes.
    let (s, v) = post_am(&mut c, AM_RESOLVED).await;
    assert_eq!(s, 200, "{v}");
    drop(c);

    // A clean stop frees it at once.
    srv.stop().await;
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    assert!(
        !decisions(&mut c, "").await["decisions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    drop(c);
    srv.stop().await;
}

#[tokio::test]
async fn a_dead_or_expired_holder_does_not_block_a_restart_but_a_live_one_elsewhere_does() {
    let dir = tempfile::tempdir().unwrap();
    // Create the database (and its lease table), then stop.
    TestServer::start(dir.path()).await.stop().await;

    // Killed with -9 on this host: its pid is gone, the lease not yet expired.
    set_lease(dir.path(), i64::from(i32::MAX), &hostname(), 60_000);
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    assert_eq!(post_am(&mut c, AM_FIRING).await.0, 200);
    drop(c);
    srv.stop().await;

    // Alive on another host (as far as we can tell) and unexpired: refused.
    set_lease(dir.path(), 1, "some-other-host", 60_000);
    let Err(e) = open(dir.path()) else {
        panic!("opened a database leased by another host");
    };
    assert!(e.to_string().contains("pid 1 on some-other-host"), "{e}");

    // The same lease, expired: taken.
    set_lease(dir.path(), 1, "some-other-host", -1);
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    assert_eq!(
        decisions(&mut c, "").await["decisions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    drop(c);
    srv.stop().await;
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}
