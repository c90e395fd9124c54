//! The framework end to end against the protocol double (not a real master).

use crest_actuator::mesos::{AppSpec, MesosActuator, MesosConfig};
use crest_core::seams::{Actuator, SeamErrorKind};
use crest_core::{Action, AppId, Replicas, WallClock};
use serde_json::json;

use crate::double::Cluster;

pub(crate) const WAIT_MS: i64 = 10_000;

pub(crate) fn web() -> AppId {
    AppId::try_new("web").unwrap()
}

pub(crate) fn config(url: String) -> MesosConfig {
    let mut c = MesosConfig::new(url).with_app(web(), AppSpec::new(1.0, 128.0, "sleep 1000"));
    c.role = "crest".into();
    c.backoff_min_ms = 20;
    c.backoff_max_ms = 200;
    c.subscribe_timeout_ms = 2_000;
    c.call_timeout_ms = 2_000;
    c
}

pub(crate) fn set(n: u32, plan: Option<&str>) -> Action {
    Action::SetReplicas {
        app: web(),
        replicas: Replicas(n),
        plan_id: plan.map(str::to_owned),
    }
}

pub(crate) async fn running(a: &MesosActuator<WallClock>, n: u32) {
    let app = web();
    a.wait_until(WAIT_MS, |fw, _| {
        let f = fw.fleet(&app, crest_core::Timestamp(0));
        f.running() == Replicas(n) && f.instances.len() == n as usize
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "waiting for {n} running: {e}; tasks {:?}",
            a.inspect(|f| f.tasks().clone())
        )
    });
}

async fn subscriptions(a: &MesosActuator<WallClock>, n: u64) {
    a.wait_until(WAIT_MS, |_, c| {
        c.subscriptions >= n && c.stream_id.is_some()
    })
    .await
    .unwrap_or_else(|e| panic!("waiting for subscription {n}: {e}; {:?}", a.connection()));
}

/// All reliable updates acknowledged, nothing the double objects to.
fn clean(c: &Cluster) {
    assert_eq!(c.violations(), Vec::<String>::new());
    let unacked = c.with(|s| s.tasks.values().filter(|t| !t.pending.is_empty()).count());
    assert_eq!(unacked, 0, "unacknowledged updates");
}

async fn wait_acked(c: &Cluster) {
    for _ in 0..200 {
        if c.with(|s| s.tasks.values().all(|t| t.pending.is_empty())) {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::timeout(
            std::time::Duration::from_millis(10),
            std::future::pending::<()>(),
        )
        .await
        .ok();
    }
}

#[tokio::test]
async fn subscribes_then_reconnects_when_heartbeats_stop() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.05).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.wait_until(WAIT_MS, |fw, _| {
        fw.stats().events.get("HEARTBEAT").copied().unwrap_or(0) >= 3
    })
    .await
    .unwrap();
    let first = c.with(|s| s.subscribes[0].clone());
    let info = &first["subscribe"]["framework_info"];
    assert!(
        info.get("id").is_none(),
        "a first SUBSCRIBE has no framework id"
    );
    assert_eq!(info["failover_timeout"], json!(604_800.0));
    assert!(
        !info["user"].as_str().unwrap().is_empty(),
        "the invoking user"
    );
    assert_eq!(info["roles"], json!(["crest"]));
    assert_eq!(info["capabilities"], json!([{"type": "MULTI_ROLE"}]));
    assert_eq!(a.inspect(|f| f.heartbeat_s()), Some(0.05));
    let fw_id = a.framework_id().unwrap();

    // The master goes silent (no heartbeats, no offers) but keeps the connection.
    c.with(|s| {
        s.heartbeats = false;
        s.auto_offer = false;
    });
    subscriptions(&a, 2).await;
    let err = a.connection().last_error.unwrap();
    assert!(err.contains("heartbeats missed"), "{err}");
    let second = c.with(|s| s.subscribes[1].clone());
    assert_eq!(
        second["subscribe"]["framework_info"]["id"]["value"],
        json!(fw_id)
    );
    assert_eq!(second["framework_id"]["value"], json!(fw_id));
    let ids = c.with(|s| s.stream_ids.clone());
    assert_ne!(ids[0], ids[1]);
    // (with heartbeats still off it keeps reconnecting: any later stream id will do)
    let now = a.connection().stream_id.unwrap();
    assert!(ids[1..].contains(&now), "{now} not in {ids:?}");
    clean(&c);
}

#[tokio::test]
async fn scales_out_from_offers_declines_spare_ones_and_kills_on_scale_in() {
    let c = Cluster::start(1, &[(4.0, 4096.0), (4.0, 4096.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;

    let applied = a.apply(&set(3, Some("plan-7"))).await.unwrap();
    assert!(applied.changed);
    running(&a, 3).await;
    assert_eq!(c.running().len(), 3);
    // three 1-cpu tasks fit the first agent's offer; the second agent's is declined
    let accepts = c.calls_of("ACCEPT");
    let t = &accepts[0]["accept"]["operations"][0]["launch"]["task_infos"][0];
    assert_eq!(
        t["labels"]["labels"],
        json!([{"key": "crest.app", "value": "web"}, {"key": "crest.plan", "value": "plan-7"}])
    );
    assert_eq!(t["command"], json!({"shell": true, "value": "sleep 1000"}));
    assert_eq!(
        t["resources"][0]["allocation_info"],
        json!({"role": "crest"})
    );
    let declines = c.calls_of("DECLINE");
    assert!(!declines.is_empty());
    assert_eq!(
        declines[0]["decline"]["filters"]["refuse_seconds"],
        json!(5.0)
    );
    // nothing more needed: offers suppressed
    a.wait_until(WAIT_MS, |_, _| c.with(|s| s.suppressed))
        .await
        .unwrap();
    // idempotent
    assert!(!a.apply(&set(3, Some("plan-7"))).await.unwrap().changed);

    // scale out again: REVIVE, then offers from both agents
    a.apply(&set(6, None)).await.unwrap();
    running(&a, 6).await;
    assert!(!c.calls_of("REVIVE").is_empty());
    assert_eq!(c.running().len(), 6);

    // scale in: KILL 4, fleet shows draining until TASK_KILLED arrives
    a.apply(&set(2, None)).await.unwrap();
    running(&a, 2).await;
    let kills = c.calls_of("KILL");
    assert_eq!(kills.len(), 4);
    assert!(
        kills
            .iter()
            .all(|k| k["kill"]["agent_id"]["value"].is_string())
    );
    assert_eq!(c.running().len(), 2);
    let fleet = a.observe(&web()).await.unwrap();
    assert_eq!(fleet.desired, Replicas(2));
    assert!(fleet.instances.iter().all(|i| {
        i.addr
            .as_deref()
            .is_some_and(|ip| ip.starts_with("127.0.1."))
    }));
    wait_acked(&c).await;
    clean(&c);
    // every reliable update was acknowledged exactly once: 6 RUNNING + 4 KILLED
    assert_eq!(c.calls_of("ACKNOWLEDGE").len(), 10);
    assert_eq!(a.stats().launched, 6);
}

#[tokio::test]
async fn failed_tasks_are_replaced() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.apply(&set(4, None)).await.unwrap();
    running(&a, 4).await;
    let victim = c.running()[0].clone();
    c.fail_task(&victim);
    a.wait_until(WAIT_MS, |fw, _| fw.stats().failed == 1)
        .await
        .unwrap();
    running(&a, 4).await;
    assert!(!a.inspect(|f| f.tasks().contains_key(&victim)));
    assert_eq!(a.stats().launched, 5);
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn reconnect_reconciles_and_gets_missed_updates() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.apply(&set(3, None)).await.unwrap();
    running(&a, 3).await;
    wait_acked(&c).await;
    let fw_id = a.framework_id().unwrap();

    // The connection breaks; while it is down a task fails (the update is lost
    // on the wire and must be re-sent by the master until acknowledged).
    c.drop_stream();
    let victim = c.running()[0].clone();
    c.fail_task(&victim);
    subscriptions(&a, 2).await;
    running(&a, 3).await;
    assert_eq!(a.framework_id().unwrap(), fw_id);
    let recs = c.calls_of("RECONCILE");
    let explicit: Vec<_> = recs
        .iter()
        .filter(|r| {
            r["reconcile"]["tasks"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    let implicit: Vec<_> = recs
        .iter()
        .filter(|r| r["reconcile"]["tasks"] == json!([]))
        .collect();
    assert!(!explicit.is_empty() && !implicit.is_empty(), "{recs:?}");
    let asked: Vec<&str> = explicit.last().unwrap()["reconcile"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(asked.len(), 3);
    assert!(explicit.last().unwrap()["reconcile"]["tasks"][0]["agent_id"]["value"].is_string());
    assert_eq!(a.stats().failed, 1);
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn a_restarted_framework_fails_over_with_its_id_and_adopts_its_tasks() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.apply(&set(3, None)).await.unwrap();
    running(&a, 3).await;
    wait_acked(&c).await;
    let fw_id = a.framework_id().unwrap();
    a.shutdown().await;

    let mut cfg = config(c.url(0));
    cfg.framework_id = Some(fw_id.clone());
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    subscriptions(&b, 1).await;
    let sub = c.with(|s| s.subscribes.last().unwrap().clone());
    assert_eq!(
        sub["subscribe"]["framework_info"]["id"]["value"],
        json!(fw_id)
    );
    b.apply(&set(3, None)).await.unwrap();
    running(&b, 3).await;
    assert_eq!(b.stats().launched, 0, "adopted, not relaunched");
    assert_eq!(c.with(|s| s.tasks.len()), 3);
    // scale-in of adopted tasks works
    b.apply(&set(1, None)).await.unwrap();
    running(&b, 1).await;
    wait_acked(&c).await;
    clean(&c);
    b.teardown().await.unwrap();
    assert!(c.with(|s| s.torn_down && s.tasks.is_empty()));
}

#[tokio::test]
async fn follows_307_to_the_leading_master_and_to_a_new_leader() {
    let c = Cluster::start(2, &[(8.0, 8192.0)], 0.5).await;
    c.with(|s| s.leader = 1);
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    assert_eq!(a.connection().master, Some(c.addrs[1].to_string()));
    a.apply(&set(2, None)).await.unwrap();
    running(&a, 2).await;
    let fw_id = a.framework_id().unwrap();

    c.elect(0);
    subscriptions(&a, 2).await;
    assert_eq!(a.connection().master, Some(c.addrs[0].to_string()));
    assert_eq!(a.framework_id().unwrap(), fw_id);
    a.apply(&set(4, None)).await.unwrap();
    running(&a, 4).await;
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn malformed_stream_is_a_typed_error_and_a_reconnect() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    c.send_raw(b"12x\n{}");
    subscriptions(&a, 2).await;
    let err = a.connection().last_error.unwrap();
    assert!(
        err.contains("failed to decode the event stream")
            && err.contains("expected decimal digits"),
        "{err}"
    );
    // valid framing, invalid JSON
    c.send_raw(b"5\nabcde");
    subscriptions(&a, 3).await;
    let err = a.connection().last_error.unwrap();
    assert!(err.contains("failed to parse event"), "{err}");
    a.apply(&set(1, None)).await.unwrap();
    running(&a, 1).await;
}

#[tokio::test]
async fn task_groups_run_many_tasks_per_executor() {
    let c = Cluster::start(1, &[(2.0, 2048.0), (2.0, 2048.0)], 0.5).await;
    let mut cfg = config(c.url(0));
    cfg.apps.insert(
        web(),
        AppSpec::new(0.2, 64.0, "run-job").with_tasks_per_executor(4),
    );
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.apply(&set(8, None)).await.unwrap();
    running(&a, 8).await;
    let groups: Vec<_> = c
        .calls_of("ACCEPT")
        .into_iter()
        .flat_map(|c| c["accept"]["operations"].as_array().unwrap().clone())
        .collect();
    assert!(groups.iter().all(|o| o["type"] == "LAUNCH_GROUP"));
    let execs = a.inspect(|f| f.executors().clone());
    assert!(
        execs.len() < 8,
        "tasks share executors: {} executors for 8 tasks",
        execs.len()
    );
    assert!(execs.values().all(|e| e.tasks.len() <= 4));
    assert_eq!(execs.values().map(|e| e.tasks.len()).sum::<usize>(), 8);
    // scale-in kills single tasks; executors stay warm while they hold any
    a.apply(&set(3, None)).await.unwrap();
    running(&a, 3).await;
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn unknown_apps_and_other_actions_are_refused() {
    let c = Cluster::start(1, &[(1.0, 512.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    let e = a
        .apply(&Action::SetReplicas {
            app: AppId::try_new("other").unwrap(),
            replicas: Replicas(1),
            plan_id: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, SeamErrorKind::NotFound);
    let e = a
        .apply(&Action::Drain {
            app: web(),
            instance: crest_core::action::InstanceId("x".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, SeamErrorKind::Rejected);
    assert!(a.observe(&AppId::try_new("other").unwrap()).await.is_err());
}

#[tokio::test]
async fn a_307_on_a_call_moves_the_subscription_to_the_new_leader() {
    let c = Cluster::start(2, &[(8.0, 8192.0)], 0.5).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    a.apply(&set(1, None)).await.unwrap();
    running(&a, 1).await;
    c.elect_quietly(1);
    // the next calls (REVIVE) meet a 307: follow it and subscribe there
    a.apply(&set(3, None)).await.unwrap();
    subscriptions(&a, 2).await;
    assert_eq!(a.connection().master, Some(c.addrs[1].to_string()));
    running(&a, 3).await;
    assert!(a.connection().failed_calls >= 1);
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn a_403_on_a_call_means_subscribe_again() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 1.0).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscriptions(&a, 1).await;
    c.forget_subscription();
    a.apply(&set(2, None)).await.unwrap();
    // well before the 5 s heartbeat window runs out
    a.wait_until(2_000, |_, conn| {
        conn.subscriptions >= 2 && conn.stream_id.is_some()
    })
    .await
    .unwrap();
    assert!(c.with(|s| s.rejected.len()) >= 1);
    let err = a.connection().last_error.unwrap_or_default();
    assert!(err.contains("403"), "{err}");
    running(&a, 2).await;
    wait_acked(&c).await;
    clean(&c);
}

#[tokio::test]
async fn scales_a_thousand_tasks_through_the_double() {
    let agents: Vec<(f64, f64)> = (0..20).map(|_| (32.0, 65_536.0)).collect();
    let c = Cluster::start(1, &agents, 0.5).await;
    let mut cfg = config(c.url(0));
    cfg.apps
        .insert(web(), AppSpec::new(0.5, 256.0, "sleep 1000"));
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscriptions(&a, 1).await;
    #[allow(clippy::disallowed_methods)] // a figure for the report, not library code
    let t0 = std::time::Instant::now();
    a.apply(&set(1000, None)).await.unwrap();
    running(&a, 1000).await;
    let out = t0.elapsed();
    a.apply(&set(0, None)).await.unwrap();
    running(&a, 0).await;
    let total = t0.elapsed();
    wait_acked(&c).await;
    println!(
        "mesos double: 0 -> 1000 tasks running in {:.3} s, 1000 -> 0 in {:.3} s",
        out.as_secs_f64(),
        (total - out).as_secs_f64()
    );
    assert_eq!(c.running().len(), 0);
    assert_eq!(c.calls_of("KILL").len(), 1000);
    clean(&c);
}

#[tokio::test]
async fn an_unreachable_master_is_skipped_for_the_next_one() {
    let c = Cluster::start(1, &[(8.0, 8192.0)], 0.5).await;
    // a loopback port nobody listens on any more
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let a = MesosActuator::start(config(format!("http://{dead},{}", c.url(0))), WallClock).unwrap();
    subscriptions(&a, 1).await;
    assert_eq!(a.connection().master, Some(c.addrs[0].to_string()));
    assert_eq!(c.with(|s| s.subscribes.len()), 1);
}
