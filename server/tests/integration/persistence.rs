//! State survives a restart: decisions, plans, dedup and the active steps.

use crate::common::*;

#[tokio::test]
async fn restart_keeps_decisions_dedup_and_active_steps() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let (s, _) = post_am(&mut c, AM_FIRING).await;
    assert_eq!(s, 200);
    let (s, _) = c
        .post(
            "/v1/plans",
            Some(TOKEN),
            r#"{"app":"flight-search","id":"p1","steps":[{"at":0,"replicas":3,"reason":{"kind":"baseline"}}]}"#,
        )
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 201);
    drop(c);
    srv.stop().await;

    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let v = decisions(&mut c, "").await;
    assert_eq!(v["decisions"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["decisions"][0]["signal"]["key"],
        "alertmanager:c22a44858553d3e2"
    );
    // Still a duplicate after the restart.
    let (_, v) = post_am(&mut c, AM_FIRING).await;
    assert_eq!(v["duplicates"], 1);
    // The step held before the restart is still held: resolving undoes it.
    let resolved = AM_FIRING.replace("\"status\": \"firing\"", "\"status\": \"resolved\"");
    let (_, v) = post_am(&mut c, &resolved).await;
    assert_eq!(v["decisions"][0]["delta"], -4, "{v}");
    assert_eq!(v["decisions"][0]["previous_replicas"], 6);
    let (_, b) = c.get_with_token("/v1/plans/p1", TOKEN).await.unwrap();
    assert_eq!(json(&b)["plan"]["steps"][0]["replicas"], 3);
    drop(c);
    srv.stop().await;
    // The WAL was checkpointed and truncated on the way out.
    let wal = dir.path().join("state.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}
