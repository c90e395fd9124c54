//! `POST /v1/plans?verify=true`: the verification gate (crest-planning's
//! `run_gate`, the one `crest plan --verify` and `crest run` use) runs on a
//! posted plan document and its verdict is stored with the plan.

use std::collections::BTreeMap;

use crest_autoscaler::planner::{PlannerConfig, RateLimit, plan};
use crest_autoscaler::{EmpiricalErrors, FluidModel, GateConfig, PlanDocument};
use crest_core::series::Quantile;
use crest_core::{AppId, Capacity, Forecast, Replicas, Timestamp};

use crate::common::{TOKEN, TestServer, json};

/// A day at 30-minute steps with a three-hour crest, and the p90 plan for
/// it; with `missed`, the document carries a past day on which the
/// forecaster saw that many times its forecast all day (the gate fails it).
fn document(id: &str, missed: Option<f64>) -> String {
    let mean: Vec<f64> = (0..48)
        .map(|i| if (20..26).contains(&i) { 1000.0 } else { 200.0 })
        .collect();
    let mut q = BTreeMap::new();
    for (l, f) in [(0.1, 0.85), (0.9, 1.15), (0.99, 1.3)] {
        q.insert(
            Quantile::try_new(l).unwrap(),
            mean.iter().map(|m| m * f).collect(),
        );
    }
    let f = Forecast::try_new("x", Timestamp::from_secs(1_800_000_000), 1800, mean, q).unwrap();
    let cap = Capacity::given(10.0, 200.0).unwrap();
    let mut cfg = PlannerConfig::new(AppId::try_new("flight-search").unwrap(), id);
    cfg.scale_out_rate = RateLimit::new(20, 60);
    cfg.current = Replicas(25);
    let o = plan(&f, &cap, &cfg).unwrap();
    let mut model = FluidModel::new(cap.clone());
    model.scale_out_rate = cfg.scale_out_rate;
    model.evaluate_every_s = 60;
    model.tick_s = 60;
    let gate = GateConfig {
        scenarios: 20,
        stress_surge: 1.2,
        stress_lead_p99: true,
        ..GateConfig::default()
    };
    let mut doc = PlanDocument::new(&o, f, cap, cfg, model, gate);
    doc.empirical = missed.map(|k| EmpiricalErrors {
        source: "a day the forecaster missed".into(),
        labels: vec!["missed".into()],
        profiles: vec![vec![k; 48]],
        levels: Vec::new(),
    });
    serde_json::to_string(&doc).unwrap()
}

#[tokio::test]
async fn verify_true_runs_the_gate_and_stores_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;

    // A plan that passes: stored, 201, with the verdict.
    let good = document("good", None);
    let (s, b) = c
        .post("/v1/plans?verify=true", Some(TOKEN), good.clone())
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    let v = json(&b);
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["verification"]["engine"], "crest-sim/fluid");
    assert_eq!(v["verification"]["scenarios"], 22); // 20 draws + 2 stress cases
    assert_eq!(v["verification"]["forced"], false);
    let kinds: Vec<&str> = v["verification"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["quantile", "surge x1.2", "lead p99"]);
    let (s, b) = c.get_with_token("/v1/plans/good", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 200);
    let got = json(&b);
    assert_eq!(got["verification"], v["verification"], "{got}");

    // A plan that fails: 422 with the verdict, nothing stored.
    let bad = document("bad", Some(4.0));
    let (s, b) = c
        .post("/v1/plans?verify=true", Some(TOKEN), bad.clone())
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 422, "{}", String::from_utf8_lossy(&b));
    let v = json(&b);
    assert_eq!(v["stored"], false);
    assert_eq!(v["id"], "bad");
    assert_eq!(v["verification"]["passed"], false);
    assert_eq!(v["verification"]["breach_probability"], 1.0, "{v}");
    assert_eq!(v["verification"]["kinds"][1]["kind"], "empirical");
    assert_eq!(v["verification"]["kinds"][1]["breaches"], 1);
    assert!(v["error"].as_str().unwrap().contains("verification gate"));
    let (s, _) = c.get_with_token("/v1/plans/bad", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 404);

    // With force=true it is stored, marked forced, and shown as failed.
    let (s, b) = c
        .post("/v1/plans?verify=true&force=true", Some(TOKEN), bad)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["passed"], false);
    let (_, b) = c.get_with_token("/v1/plans/bad", TOKEN).await.unwrap();
    let got = json(&b);
    assert_eq!(got["verification"]["passed"], false, "{got}");
    assert_eq!(got["verification"]["forced"], true);
    let (_, b) = c.get_with_token("/v1/plans", TOKEN).await.unwrap();
    let list = json(&b);
    assert_eq!(list["plans"][0]["id"], "bad");
    assert_eq!(list["plans"][0]["verification"]["forced"], true);

    // The planner's fluid model is the other engine.
    let (s, b) = c
        .post(
            "/v1/plans?verify=true&engine=fluid",
            Some(TOKEN),
            good.clone(),
        )
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["verification"]["engine"], "fluid");

    // Posting the plan again unverified drops the old verdict.
    let (s, _) = c.post("/v1/plans", Some(TOKEN), good).await.unwrap();
    assert_eq!(s.as_u16(), 200);
    let (_, b) = c.get_with_token("/v1/plans/good", TOKEN).await.unwrap();
    assert!(json(&b).get("verification").is_none());
    srv.stop().await;
}

#[tokio::test]
async fn verify_needs_a_plan_document_and_sane_flags() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let bare = r#"{"app":"flight-search","id":"p","steps":[{"at":1800000000000,"replicas":4,"reason":{"kind":"baseline"}}]}"#;
    let (s, b) = c
        .post("/v1/plans?verify=true", Some(TOKEN), bare)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 400);
    assert_eq!(json(&b)["field"], "plan");
    for (q, field) in [
        ("verify=maybe", "verify"),
        ("verify=true&engine=warp", "engine"),
        ("force=true", "force"),
        ("colour=blue", "colour"),
    ] {
        let (s, b) = c
            .post(&format!("/v1/plans?{q}"), Some(TOKEN), bare)
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 400, "{q}");
        assert_eq!(json(&b)["field"], field, "{q}");
    }
    // Too many scenarios for the server's gate.
    let big = document("big", None).replace("\"scenarios\":20", "\"scenarios\":5000");
    let (s, b) = c
        .post("/v1/plans?verify=true", Some(TOKEN), big)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 400, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["field"], "gate.scenarios");
    srv.stop().await;
}
