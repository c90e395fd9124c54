//! The reconcile loop over a real `crest serve` (HTTP, SQLite) and the
//! actuator's dry-run fleet (the production `FleetActuator` logic over
//! printing backends): one test per safety rule, ticks driven with explicit
//! times so cooldowns and lease expiry need no waiting. One test reads live
//! demand from a real Prometheus scraping a crest-loadlab server.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crest_actuator::config::{DryFleet, ScaleConfig, dry_fleet};
use crest_actuator::dryrun::Sink;
use crest_actuator::fleet::NoLoadBalancer;
use crest_autoscaler::{TargetMetric, TargetTrackingConfig};
use crest_controller::{AppLoop, AppSpec, Controller, NoMetrics};
use crest_core::seams::{Metrics, MetricsSource, SeamError};
use crest_core::{AppId, Clock, Timestamp, WallClock};
use crest_loadlab::loadgen::{self, LoadGenConfig};
use crest_loadlab::server::{self as test_server, TestServerConfig};
use crest_prometheus::local::{LocalPrometheus, prometheus_binary};
use crest_prometheus::{AppQueries, Client, ClientConfig, PrometheusMetrics, RetryPolicy};
use crest_server::client::HttpClient;
use crest_server::{Opened, ServerConfig};
use serde_json::Value;

const TOKEN: &str = "controller-test-token-0123";

struct Server {
    addr: SocketAddr,
    db: std::path::PathBuf,
    mapping: crest_server::config::Mapping,
    metrics: Arc<crest_server::metrics::Metrics>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::from_toml(
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndb_path = \"crest.db\"\ntoken = \"{TOKEN}\"\n\
             [[mapping.rules]]\nalertname = \"HighLatency\"\nstep = 4\n\
             [apps.web]\nmin_replicas = 1\nmax_replicas = 40\nbase_replicas = 2\n"
        ),
        "t.toml",
        dir.path(),
        |_| None,
    )
    .unwrap();
    let mapping = config.mapping.clone();
    let db = config.db_path.clone();
    let opened = Opened::open(config, WallClock).unwrap();
    let metrics = opened.metrics();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(opened.serve(listener, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        db,
        mapping,
        metrics,
        _stop: stop,
        _dir: dir,
    }
}

fn web() -> AppId {
    AppId::try_new("web").unwrap()
}

fn spec() -> AppSpec {
    AppSpec {
        base: 2,
        max_instances: 20,
        max_step: 20,
        cooldown_s: 60,
        lease_ttl_ms: 10_000,
        ..AppSpec::new(web(), 20)
    }
}

type Lines = Arc<Mutex<Vec<String>>>;

fn controller(
    s: &Server,
    holder: &str,
) -> (Arc<Controller<DryFleet, NoLoadBalancer, NoMetrics>>, Lines) {
    let fleet = dry_fleet(&ScaleConfig::default(), &Sink::default()).unwrap();
    let lines: Lines = Arc::default();
    let l2 = Arc::clone(&lines);
    let c = Controller::new(
        fleet,
        None::<NoLoadBalancer>,
        None::<NoMetrics>,
        &s.db,
        s.mapping.clone(),
        holder,
    )
    .with_telemetry(Arc::clone(&s.metrics))
    .with_log(move |l| l2.lock().unwrap().push(l.to_string()));
    (Arc::new(c), lines)
}

async fn alert(addr: SocketAddr, fingerprint: &str, firing: bool) {
    let status = if firing { "firing" } else { "resolved" };
    let ends = if firing {
        "0001-01-01T00:00:00Z".to_string()
    } else {
        "2026-01-01T00:00:10Z".to_string()
    };
    let body = serde_json::json!({
        "version": "4", "status": status, "receiver": "crest",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighLatency", "app": "web"},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": ends,
            "fingerprint": fingerprint,
        }]
    });
    let mut c = HttpClient::connect(addr).await.unwrap();
    let (st, b) = c
        .post(
            "/v1/alerts/alertmanager",
            Some(TOKEN),
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    assert!(st.is_success(), "{st} {}", String::from_utf8_lossy(&b));
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut c = HttpClient::connect(addr).await.unwrap();
    let (st, b) = c.get(path).await.unwrap();
    (
        st.as_u16(),
        serde_json::from_slice(&b).unwrap_or(Value::String(String::from_utf8_lossy(&b).into())),
    )
}

async fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut c = HttpClient::connect(addr).await.unwrap();
    let (st, b) = c.post(path, token, body.as_bytes().to_vec()).await.unwrap();
    (
        st.as_u16(),
        serde_json::from_slice(&b).unwrap_or(Value::Null),
    )
}

async fn tick(
    l: &mut AppLoop<DryFleet, NoLoadBalancer, NoMetrics>,
    t: Timestamp,
) -> (u32, u32, String) {
    let r = l.tick(t).await.unwrap();
    if let Some(Err(e)) = &r.actuation {
        panic!("actuation failed: {e}");
    }
    (r.current, r.desired, r.reason)
}

fn t0() -> Timestamp {
    WallClock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_scales_out_in_bounded_steps_and_in_only_after_resolve_and_cooldown() {
    let s = server().await;
    let (c, _) = controller(&s, "a");
    let mut l = c
        .app_loop(AppSpec {
            max_step: 3,
            ..spec()
        })
        .unwrap();
    let t = t0();
    // Nothing fires: the base.
    assert_eq!(tick(&mut l, t).await.1, 2);
    alert(s.addr, "fp1", true).await;
    alert(s.addr, "fp2", true).await;
    // Two alerts hold base 2 + 4 + 4 = 10; max_step 3 per decision.
    let (cur, des, why) = tick(&mut l, t.add_secs(1)).await;
    assert_eq!((cur, des), (2, 5));
    assert!(
        why.contains("alertmanager:fp1") && why.contains("max step up"),
        "{why}"
    );
    assert_eq!(tick(&mut l, t.add_secs(2)).await.1, 8);
    assert_eq!(tick(&mut l, t.add_secs(3)).await.1, 10);
    alert(s.addr, "fp1", false).await;
    alert(s.addr, "fp2", false).await;
    // Resolved, but within the cooldown of the last firing alert: held.
    let (cur, des, why) = tick(&mut l, t.add_secs(30)).await;
    assert_eq!((cur, des), (10, 10), "{why}");
    assert!(why.contains("cooldown"), "{why}");
    // The cooldown runs from the first tick that saw the resolve (t+30).
    let (_, des, why) = tick(&mut l, t.add_secs(89)).await;
    assert_eq!(des, 10, "{why}");
    // After the cooldown: down in max_step steps to the base.
    assert_eq!(tick(&mut l, t.add_secs(90)).await.1, 7);
    assert_eq!(tick(&mut l, t.add_secs(200)).await.1, 4);
    assert_eq!(tick(&mut l, t.add_secs(300)).await.1, 2);
    // Every decision and actuation is in the history with its reason.
    let (st, h) = get(s.addr, "/v1/apps/web/history?limit=1000").await;
    assert_eq!(st, 200);
    let h = h["history"].as_array().unwrap().clone();
    assert!(
        h.iter().any(|e| e["kind"] == "decision"
            && e["reason"].as_str().unwrap().contains("alertmanager:fp2"))
    );
    let actuated: Vec<u64> = h
        .iter()
        .filter(|e| e["kind"] == "actuated")
        .map(|e| e["desired"].as_u64().unwrap())
        .collect();
    assert_eq!(actuated, vec![2, 5, 8, 10, 7, 4, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_instances_caps_the_alert_floor() {
    let s = server().await;
    let (c, _) = controller(&s, "a");
    let mut l = c
        .app_loop(AppSpec {
            max_instances: 7,
            max_step: 20,
            ..spec()
        })
        .unwrap();
    for k in 0..5 {
        alert(s.addr, &format!("fp{k}"), true).await;
    }
    let (_, des, why) = tick(&mut l, t0()).await;
    assert_eq!(des, 7, "{why}");
    assert!(why.contains("max"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_scale_in_while_an_alert_fires_even_when_a_plan_step_ends() {
    let s = server().await;
    let (c, _) = controller(&s, "a");
    let mut l = c
        .app_loop(AppSpec {
            stored_plans: true,
            max_step: 20,
            cooldown_s: 0,
            ..spec()
        })
        .unwrap();
    let t = t0();
    // A stored plan: 12 instances now, back to 1 in 100 s.
    let plan = serde_json::json!({
        "app": "web", "id": "crest-xmas",
        "steps": [
            {"at": t.add_secs(-10).millis(), "replicas": 12, "reason": {"kind": "calendar", "name": "xmas"}},
            {"at": t.add_secs(100).millis(), "replicas": 1, "reason": {"kind": "baseline"}},
        ]
    });
    let (st, b) = post(s.addr, "/v1/plans", Some(TOKEN), &plan.to_string()).await;
    assert!(st == 201, "{st} {b}");
    let (_, des, why) = tick(&mut l, t).await;
    assert_eq!(des, 12);
    assert!(why.contains("plan crest-xmas"), "{why}");
    // An alert fires (floor 6, below the plan): the plan keeps its floor.
    alert(s.addr, "fp1", true).await;
    assert_eq!(tick(&mut l, t.add_secs(10)).await.1, 12);
    // The plan step ends while the alert fires: no scale-in at all.
    let (cur, des, why) = tick(&mut l, t.add_secs(110)).await;
    assert_eq!((cur, des), (12, 12));
    assert!(why.contains("alert") && why.contains("firing"), "{why}");
    // Resolved (cooldown 0): down to the base.
    alert(s.addr, "fp1", false).await;
    assert_eq!(tick(&mut l, t.add_secs(120)).await.1, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_is_a_kill_switch_and_needs_the_token() {
    let s = server().await;
    let (c, _) = controller(&s, "a");
    let mut l = c.app_loop(spec()).unwrap();
    let t = t0();
    tick(&mut l, t).await;
    let (st, _) = post(s.addr, "/v1/apps/web/pause", None, "").await;
    assert_eq!(st, 401);
    let (st, v) = post(s.addr, "/v1/apps/web/pause", Some(TOKEN), "").await;
    assert_eq!((st, v["paused"].clone()), (200, Value::Bool(true)));
    let (st, v) = post(
        s.addr,
        "/v1/apps/web/pause",
        Some(TOKEN),
        "{\"pased\": true}",
    )
    .await;
    assert_eq!(st, 400, "{v}");
    alert(s.addr, "fp1", true).await;
    let r = l.tick(t.add_secs(1)).await.unwrap();
    assert!(r.paused);
    assert_eq!(
        (r.desired, r.actuation.clone()),
        (6, None),
        "decided, not applied"
    );
    let (_, apps) = get(s.addr, "/v1/apps").await;
    assert_eq!(apps["apps"][0]["paused"], true);
    assert_eq!(apps["apps"][0]["observed"], 2);
    let (st, _) = post(
        s.addr,
        "/v1/apps/web/pause",
        Some(TOKEN),
        "{\"paused\": false}",
    )
    .await;
    assert_eq!(st, 200);
    let r = l.tick(t.add_secs(2)).await.unwrap();
    assert!(!r.paused);
    assert!(matches!(r.actuation, Some(Ok(_))), "{r:?}");
    assert_eq!(l.tick(t.add_secs(3)).await.unwrap().observed, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_controller_per_app_and_a_standby_takes_over_after_expiry() {
    let s = server().await;
    let (a, _) = controller(&s, "a");
    let (b, _) = controller(&s, "b");
    let mut la = a.app_loop(spec()).unwrap();
    let mut lb = b.app_loop(spec()).unwrap();
    let t = t0();
    assert!(la.tick(t).await.unwrap().standby.is_none());
    let r = lb.tick(t.add_secs(1)).await.unwrap();
    assert_eq!(r.standby.as_deref(), Some("a"));
    assert!(r.actuation.is_none());
    // a renews at t+5; b still waits at t+14; a stops renewing (died): b takes over at t+15.
    assert!(la.tick(t.add_secs(5)).await.unwrap().standby.is_none());
    assert_eq!(
        lb.tick(t.add_secs(14)).await.unwrap().standby.as_deref(),
        Some("a")
    );
    let r = lb.tick(t.add_secs(15)).await.unwrap();
    assert!(r.standby.is_none(), "{r:?}");
    assert_eq!(
        la.tick(t.add_secs(16)).await.unwrap().standby.as_deref(),
        Some("b")
    );
    let (_, h) = get(s.addr, "/v1/apps/web/history").await;
    let leases: Vec<&str> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "lease")
        .map(|e| e["holder"].as_str().unwrap())
        .collect();
    assert_eq!(leases, vec!["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_what_it_would_do_and_writes_no_state() {
    let s = server().await;
    let (c, lines) = controller(&s, "a");
    let c = Arc::new(Arc::try_unwrap(c).ok().unwrap().dry_run(true));
    let mut l = c.app_loop(spec()).unwrap();
    alert(s.addr, "fp1", true).await;
    let r = l.tick(t0()).await.unwrap();
    assert_eq!(r.desired, 6);
    let out = lines.lock().unwrap().join("\n");
    assert!(
        out.contains("would: set web to 6 replicas (alert alertmanager:fp1)"),
        "{out}"
    );
    let (_, apps) = get(s.addr, "/v1/apps").await;
    assert_eq!(apps["apps"], serde_json::json!([]));
    let (_, h) = get(s.addr, "/v1/apps/web/history").await;
    assert_eq!(h["history"], serde_json::json!([]));
}

/// A dry-run controller with target tracking for `web` on `metric` (1..=20).
fn tracking<M: MetricsSource + 'static>(
    s: &Server,
    metrics: M,
    metric: TargetMetric,
    target: f64,
) -> Arc<Controller<DryFleet, NoLoadBalancer, M>> {
    let fleet = dry_fleet(&ScaleConfig::default(), &Sink::default()).unwrap();
    Arc::new(
        Controller::new(
            fleet,
            None::<NoLoadBalancer>,
            Some(metrics),
            &s.db,
            s.mapping.clone(),
            "a",
        )
        .with_log(|_| {})
        .with_target_tracking(
            web(),
            TargetTrackingConfig::new(metric, target).with_bounds(1, 20),
        ),
    )
}

/// A metrics source for the test: utilisation set by the test.
#[derive(Clone, Default)]
struct Util(Arc<Mutex<f64>>);

impl MetricsSource for Util {
    async fn sample(&self, _app: &AppId) -> Result<Metrics, SeamError> {
        Ok(Metrics {
            at: WallClock.now(),
            utilisation: *self.0.lock().unwrap(),
            running: 2,
            ..Metrics::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_metrics_drive_target_tracking_above_the_floors() {
    let s = server().await;
    let util = Util::default();
    *util.0.lock().unwrap() = 0.5;
    let c = tracking(&s, util.clone(), TargetMetric::Utilisation, 0.5);
    let mut l = c.app_loop(spec()).unwrap();
    let t = t0();
    assert_eq!(l.tick(t).await.unwrap().desired, 2);
    // Utilisation doubles over its target: target tracking asks for twice the fleet.
    *util.0.lock().unwrap() = 1.0;
    let r = l.tick(t.add_secs(15)).await.unwrap();
    assert_eq!(r.desired, 4, "{r:?}");
    assert!(r.reason.contains("metric utilisation"), "{}", r.reason);
    assert!(r.floors.iter().any(|f| f.source == "metric"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_endpoint_and_metrics_show_each_app() {
    let s = server().await;
    let (c, _) = controller(&s, "a");
    let mut l = c.app_loop(spec()).unwrap();
    alert(s.addr, "fp9", true).await;
    let t = t0();
    tick(&mut l, t).await;
    tick(&mut l, t.add_secs(1)).await;
    let (st, v) = get(s.addr, "/v1/apps").await;
    assert_eq!(st, 200);
    let a = &v["apps"][0];
    assert_eq!(
        (
            a["app"].as_str(),
            a["desired"].as_u64(),
            a["observed"].as_u64(),
            a["ready"].as_u64()
        ),
        (Some("web"), Some(6), Some(6), Some(6))
    );
    let sources: Vec<&str> = a["floors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, vec!["baseline", "alert"]);
    assert_eq!(a["floors"][1]["detail"], "alertmanager:fp9");
    assert_eq!(a["floors"][1]["replicas"], 6);
    assert!(
        a["last_decision"]["reason"]
            .as_str()
            .unwrap()
            .contains("fp9")
    );
    assert_eq!(a["holder"], "a");
    let (st, v) = get(s.addr, "/v1/apps/web/history?after=x").await;
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["field"], "after");
    let (st, _) = get(s.addr, "/v1/apps/Bad%20App/history").await;
    assert_eq!(st, 400);
    let mut cl = HttpClient::connect(s.addr).await.unwrap();
    let (_, m) = cl.get("/metrics").await.unwrap();
    let m = String::from_utf8_lossy(&m);
    for want in [
        "crest_app_desired_replicas{app=\"web\"} 6",
        "crest_app_observed_replicas{app=\"web\"} 6",
        "crest_app_ready_replicas{app=\"web\"} 6",
        "crest_app_paused{app=\"web\"} 0",
        "crest_controller_decision_duration_seconds_count{app=\"web\"} 2",
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }
}

/// A plan document over a forecast that starts an hour ago: the p90 plan
/// (`risky` false) passes the gate, the median plan at full utilisation fails.
fn plan_doc(dir: &std::path::Path, risky: bool) -> std::path::PathBuf {
    use crest_autoscaler::{FluidModel, GateConfig, PlanDocument, PlannerConfig, RateLimit, plan};
    use crest_core::series::Quantile;
    use crest_core::{Capacity, Forecast, Replicas};
    let start = Timestamp::from_secs((t0().secs() / 1800 - 2) * 1800);
    let mean: Vec<f64> = (0..48)
        .map(|i| if (20..26).contains(&i) { 1000.0 } else { 200.0 })
        .collect();
    let mut q = std::collections::BTreeMap::new();
    for (l, f) in [(0.1, 0.85), (0.9, 1.15), (0.99, 1.3)] {
        q.insert(
            Quantile::try_new(l).unwrap(),
            mean.iter().map(|m| m * f).collect(),
        );
    }
    let f = Forecast::try_new("x", start, 1800, mean, q).unwrap();
    let cap = Capacity::given(10.0, 200.0).unwrap();
    let mut cfg = PlannerConfig::new(web(), if risky { "risky" } else { "p90" });
    cfg.scale_out_rate = RateLimit::new(20, 60);
    cfg.current = Replicas(25);
    if risky {
        cfg.risk = 0.5;
        cfg.target_utilisation = 1.0;
    }
    let o = plan(&f, &cap, &cfg).unwrap();
    let mut model = FluidModel::new(cap.clone());
    model.scale_out_rate = cfg.scale_out_rate;
    model.evaluate_every_s = 60;
    model.tick_s = 60;
    let gate = GateConfig {
        scenarios: 100,
        ..GateConfig::default()
    };
    let doc = PlanDocument::new(&o, f, cap, cfg, model, gate);
    let path = dir.join(format!("{}.json", doc.plan.id));
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_reverified_before_they_start_and_refused_when_they_fail() {
    let s = server().await;
    let dir = tempfile::tempdir().unwrap();
    let good = plan_doc(dir.path(), false);
    let bad = plan_doc(dir.path(), true);
    let load = |p: &std::path::Path| {
        let d: crest_autoscaler::PlanDocument =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        (p.to_path_buf(), d)
    };
    let (c, _) = controller(&s, "a");
    let t = t0();
    let want = load(&good).1.plan.desired_at(t).unwrap().0;
    assert!(want > 2, "the plan asks for more than the base: {want}");
    let big = AppSpec {
        max_instances: 200,
        max_step: 200,
        ..spec()
    };
    // The failing plan alone: refused, the base holds.
    let mut l = c
        .app_loop(AppSpec {
            plans: vec![load(&bad)],
            ..big.clone()
        })
        .unwrap();
    let (_, des, why) = tick(&mut l, t).await;
    assert_eq!(des, 2, "{why}");
    // Forced, the same plan is followed.
    let mut l = c
        .app_loop(AppSpec {
            plans: vec![load(&bad)],
            force_plans: true,
            ..big.clone()
        })
        .unwrap();
    let (_, _, why) = tick(&mut l, t.add_secs(1)).await;
    assert!(why.contains("plan risky"), "{why}");
    // The passing plan is followed, its step named in the reason.
    let mut l = c
        .app_loop(AppSpec {
            plans: vec![load(&good)],
            ..big
        })
        .unwrap();
    let (_, des, why) = tick(&mut l, t.add_secs(2)).await;
    assert_eq!(des, want, "{why}");
    assert!(why.contains("plan p90 step at"), "{why}");
    let (_, h) = get(s.addr, "/v1/apps/web/history?limit=1000").await;
    let kinds: Vec<(String, String)> = h["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("plan_"))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("plan_refused".to_string(), "plan risky".to_string()),
            ("plan_verified".to_string(), "plan risky".to_string()),
            ("plan_verified".to_string(), "plan p90".to_string()),
        ]
    );
}

/// Live demand from a real Prometheus scraping a crest-loadlab server (the
/// `[metrics]` source of `crest serve`): a load step from 20 to 100 rps
/// reaches the fleet within two evaluation periods (target 25 rps per
/// instance: 2 -> 4), and with Prometheus gone the loop keeps the fleet
/// instead of scaling in to the base (no cooldown here to hide a scale-in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods)] // a real Prometheus scraping a real server runs on the wall clock
async fn prometheus_demand_drives_target_tracking_and_its_loss_holds_the_fleet() {
    let Some(bin) = prometheus_binary() else {
        crest_core::services::skip_or_fail(
            "prometheus_demand_drives_target_tracking_and_its_loss_holds_the_fleet",
            "prometheus is not installed (CI installs it)",
        );
        return;
    };
    let s = server().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(test_server::run(
        listener,
        TestServerConfig {
            name: "s0".into(),
            workers: 16,
            service_time: Duration::from_millis(5),
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loadlab\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          app: web\n"
    );
    let mut prom = LocalPrometheus::start(&bin, dir.path(), &config, &[]).unwrap();
    let mut cc = ClientConfig::new(prom.url());
    cc.timeout = Duration::from_secs(2);
    cc.retry = RetryPolicy {
        attempts: 2,
        base: Duration::from_millis(100),
        max: Duration::from_millis(200),
    };
    let client = Client::new(&cc).unwrap();
    let mut scraped = false;
    for _ in 0..100 {
        scraped = client
            .query("count_over_time(up{job=\"loadlab\"}[10s]) >= 2", None)
            .await
            .is_ok_and(|v| !v.is_empty());
        if scraped {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(scraped, "prometheus never scraped: {}", prom.log_tail());

    let mut queries = BTreeMap::new();
    queries.insert(
        "web".to_string(),
        AppQueries {
            demand: r#"sum(rate(http_requests_total{app="{app}"}[4s]))"#.into(),
            p99_ms: None,
            ready: None,
        },
    );
    let live = PrometheusMetrics::new(client, queries, None).with_max_age(Duration::from_secs(10));
    let c = tracking(&s, live, TargetMetric::RpsPerInstance, 25.0);
    let mut l = c
        .app_loop(AppSpec {
            cooldown_s: 0,
            ..spec()
        })
        .unwrap();
    const PERIOD: Duration = Duration::from_secs(3);
    let load = loadgen::spawn(LoadGenConfig::get(
        format!("http://{target}/").parse().unwrap(),
        20.0,
    ))
    .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(PERIOD).await;
        let r = l.tick(WallClock.now()).await.unwrap();
        assert_eq!(r.desired, 2, "20 rps stays at the base of 2: {r:?}");
    }
    load.set_rate(100.0);
    let stepped = std::time::Instant::now();
    let mut reached = None;
    for k in 1..=4 {
        tokio::time::sleep(PERIOD).await;
        let r = l.tick(WallClock.now()).await.unwrap();
        if r.desired >= 4 {
            assert!(r.floors.iter().any(|f| f.source == "metric"), "{r:?}");
            reached = Some(k);
            eprintln!(
                "load step reached the fleet after {k} period(s), {:.1} s (desired {})",
                stepped.elapsed().as_secs_f64(),
                r.desired
            );
            break;
        }
    }
    assert!(
        reached.is_some_and(|k| k <= 2),
        "100 rps reached the fleet after {reached:?} periods"
    );
    let before = l.tick(WallClock.now()).await.unwrap().desired;
    assert!(before >= 4);

    // Prometheus gone and the load with it: no scale-in on missing data.
    prom.kill();
    load.stop();
    for _ in 0..2 {
        tokio::time::sleep(PERIOD).await;
        let r = l.tick(WallClock.now()).await.unwrap();
        assert_eq!(r.desired, before, "{r:?}");
        // Target tracking sees an unknown demand and keeps the fleet; should
        // any member still ask for less, the loop holds the scale-in.
        assert!(
            r.reason.contains("NaN") || r.reason.contains("live metrics unavailable"),
            "{}",
            r.reason
        );
    }
    let _ = stop.send(());
}
