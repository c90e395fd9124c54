//! Every endpoint: auth, bad payloads, limits, dedup, resolution, queries, plans.

use crest_server::client::HttpClient;
use hyper::Method;

use crate::common::*;

fn resolved_of_firing() -> String {
    AM_FIRING
        .replace("\"status\": \"firing\"", "\"status\": \"resolved\"")
        .replace(
            "\"endsAt\": \"0001-01-01T00:00:00Z\"",
            "\"endsAt\": \"2026-11-28T21:58:49.620Z\"",
        )
}

#[tokio::test]
async fn write_endpoints_require_the_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    for path in ["/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v1/plans"] {
        for token in [None, Some("wrong-token-but-long-enough"), Some("")] {
            let (s, b) = c.post(path, token, AM_FIRING).await.unwrap();
            assert_eq!(s.as_u16(), 401, "{path} {token:?}");
            let v = json(&b);
            assert_eq!(v["field"], "Authorization");
            assert!(v["error"].as_str().unwrap().contains("bearer token"), "{v}");
        }
    }
    // Wrong scheme.
    let (s, _) = c
        .request(
            Method::POST,
            "/v1/alerts/alertmanager",
            None,
            Some(AM_FIRING.into()),
        )
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 401);
    // Nothing was recorded.
    assert_eq!(
        decisions(&mut c, "").await["decisions"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Plans are operational data: reading them needs the token too.
    let (s, b) = c.get("/v1/plans").await.unwrap();
    assert_eq!(s.as_u16(), 401);
    assert_eq!(json(&b)["field"], "Authorization");
    let (s, _) = c.get("/v1/plans/anything").await.unwrap();
    assert_eq!(s.as_u16(), 401);
    let (s, _) = c.get_with_token("/v1/plans", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    // The client always writes "Bearer"; send "bearer" by hand over a raw socket.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let req = format!(
        "POST /v1/alerts/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{AM_FIRING}",
        AM_FIRING.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    srv.stop().await;
}

#[tokio::test]
async fn alertmanager_alert_becomes_one_decision_and_dedups() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let (s, v) = post_am(&mut c, AM_FIRING).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["received"], 1);
    let d = &v["decisions"][0];
    assert_eq!(d["app"], "flight-search");
    assert_eq!(d["fingerprint"], "c22a44858553d3e2");
    assert_eq!(d["status"], "firing");
    assert_eq!(d["step"], 4);
    assert_eq!(d["delta"], 4);
    assert_eq!(d["previous_replicas"], 2);
    assert_eq!(d["desired_replicas"], 6);
    assert_eq!(d["reason"]["kind"], "alert");
    assert_eq!(d["reason"]["name"], "HighLatency");
    // The event for the autoscaler's StepScalingPolicy.
    assert_eq!(d["signal"]["key"], "alertmanager:c22a44858553d3e2");
    assert_eq!(d["signal"]["firing"], true);
    assert_eq!(d["signal"]["at"], 1_795_902_529_620_i64);
    assert_eq!(
        d["signal"]["adjustment"],
        serde_json::json!({"kind": "change", "value": 4})
    );

    // Alertmanager re-sends the group (repeat_interval, group changes): no new decision.
    for _ in 0..3 {
        let (s, v) = post_am(&mut c, AM_FIRING).await;
        assert_eq!(s, 200);
        assert_eq!(v["duplicates"], 1);
        assert_eq!(v["decisions"].as_array().unwrap().len(), 0);
    }

    // Resolution undoes the step.
    let (s, v) = post_am(&mut c, &resolved_of_firing()).await;
    assert_eq!(s, 200, "{v}");
    let d = &v["decisions"][0];
    assert_eq!(d["status"], "resolved");
    assert_eq!(d["delta"], -4);
    assert_eq!(d["desired_replicas"], 2);
    assert_eq!(d["signal"]["firing"], false);
    assert_eq!(d["signal"]["at"], 1_795_903_129_620_i64); // endsAt
    // ... once.
    let (_, v) = post_am(&mut c, &resolved_of_firing()).await;
    assert_eq!(v["duplicates"], 1);

    let all = decisions(&mut c, "").await;
    assert_eq!(all["decisions"].as_array().unwrap().len(), 2);

    let (_, m) = c.get("/metrics").await.unwrap();
    let m = String::from_utf8(m.to_vec()).unwrap();
    assert!(
        m.contains("crest_alert_duplicates_total{source=\"alertmanager\"} 4"),
        "{m}"
    );
    assert!(
        m.contains("crest_decisions_total{source=\"alertmanager\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("crest_alerts_received_total{source=\"alertmanager\",status=\"resolved\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("crest_http_request_duration_seconds_count{route=\"alerts_alertmanager\"} 6"),
        "{m}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn resolve_without_firing_and_unmapped_alerts_are_recorded_not_decided() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    // search-api is configured; its alert resolves but never fired here.
    let (s, v) = post_am(&mut c, AM_RESOLVED).await;
    assert_eq!(s, 200);
    assert!(
        v["ignored"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("held no step"),
        "{v}"
    );
    // booking-api via the `service` label, severity page → step 2.
    let (_, v) = post_am(&mut c, AM_FROM_PROM).await;
    assert_eq!(v["decisions"][0]["app"], "booking-api");
    assert_eq!(v["decisions"][0]["step"], 2);
    // An app that is not configured (no [defaults]): ignored with a reason.
    let other = AM_FIRING.replace("\"app\": \"flight-search\"", "\"app\": \"unknown-app\"");
    let (s, v) = post_am(&mut c, &other).await;
    assert_eq!(s, 200);
    assert!(
        v["ignored"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not configured"),
        "{v}"
    );
    let (_, h) = c.get("/healthz").await.unwrap();
    let h = json(&h);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["alerts_recorded"], 3);
    assert_eq!(h["decisions_recorded"], 1);
    srv.stop().await;
}

#[tokio::test]
async fn grafana_webhook_decides_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let (s, b) = c
        .post("/v1/alerts/grafana", Some(TOKEN), GRAFANA)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 200);
    let v = json(&b);
    let ds = v["decisions"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0]["source"], "grafana");
    assert_eq!(ds[1]["app"], "booking-api");
    assert_eq!(ds[1]["on_resolve"], "end");
    // Resolving the "end" alert releases its floor without asking for a scale-in.
    let resolved = GRAFANA.replacen("\"status\": \"firing\"", "\"status\": \"resolved\"", 3);
    let (_, b) = c
        .post("/v1/alerts/grafana", Some(TOKEN), resolved)
        .await
        .unwrap();
    let v = json(&b);
    let ds = v["decisions"].as_array().unwrap();
    assert_eq!(ds.len(), 2, "{v}");
    assert_eq!(ds[0]["delta"], -4);
    assert_eq!(ds[1]["delta"], 0);
    assert_eq!(ds[1]["desired_replicas"], 1);
    // The same fingerprint from Alertmanager is another source: not a duplicate.
    let same_fp = AM_FIRING.replace("c22a44858553d3e2", "7d3a9e01c4b2f655");
    let (_, v) = post_am(&mut c, &same_fp).await;
    assert_eq!(v["decisions"].as_array().unwrap().len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn bad_payloads_get_json_4xx_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let cases: Vec<(String, Option<&str>)> = vec![
        ("".into(), None),
        ("not json".into(), None),
        ("[]".into(), None),
        ("{\"version\":\"4\",\"status\":\"firing\"}".into(), None),
        (
            AM_FIRING.replace("\"version\": \"4\"", "\"version\": \"5\""),
            Some("version"),
        ),
        (
            AM_FIRING.replace("2026-11-28T21:48:49.620085413Z", "soon"),
            Some("alerts[0].startsAt"),
        ),
        (
            AM_FIRING.replace("\"alertname\": \"HighLatency\"", "\"alertname\": 7"),
            Some("alerts[0].labels.alertname"),
        ),
        (
            AM_FIRING.replace(
                "\"status\": \"firing\",\n    \"alerts\"",
                "\"status\": \"on fire\",\n    \"alerts\"",
            ),
            Some("status"),
        ),
    ];
    for (body, field) in cases {
        let (s, b) = c
            .post("/v1/alerts/alertmanager", Some(TOKEN), body.clone())
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 400, "{body}");
        let v = json(&b);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        if let Some(f) = field {
            assert_eq!(v["field"], f, "{v}");
        }
    }
    // Too large: 413 with a JSON error, and the server keeps serving.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000));
    let (s, b) = c
        .post("/v1/alerts/alertmanager", Some(TOKEN), big)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 413);
    assert!(json(&b)["error"].as_str().unwrap().contains("65536"));
    let mut c = srv.client().await;
    let (s, _) = c.get("/healthz").await.unwrap();
    assert_eq!(s.as_u16(), 200);
    // Unknown route and wrong method: JSON too.
    let (s, b) = c.get("/v1/nope").await.unwrap();
    assert_eq!(s.as_u16(), 404);
    assert!(json(&b)["error"].is_string());
    let (s, b) = c.get("/v1/alerts/alertmanager").await.unwrap();
    assert_eq!(s.as_u16(), 405);
    assert!(json(&b)["error"].is_string());
    srv.stop().await;
}

#[tokio::test]
async fn decisions_filter_and_paginate() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(
        dir.path(),
        "[defaults]\nmin_replicas = 1\nmax_replicas = 1000\n",
    )
    .await;
    let mut c = srv.client().await;
    for i in 0..25 {
        let app = if i % 5 == 0 { "flight-search" } else { "bench" };
        let body = AM_FIRING
            .replace("c22a44858553d3e2", &format!("fp{i:03}"))
            .replace("\"app\": \"flight-search\"", &format!("\"app\": \"{app}\""));
        let (s, v) = post_am(&mut c, &body).await;
        assert_eq!(s, 200, "{v}");
    }
    let page = decisions(&mut c, "?app=flight-search").await;
    assert_eq!(page["decisions"].as_array().unwrap().len(), 5);
    assert!(page["next_after"].is_null());

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = decisions(&mut c, &format!("?limit=10&after={after}")).await;
        for d in page["decisions"].as_array().unwrap() {
            seen.push(d["id"].as_i64().unwrap());
        }
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());

    let page = decisions(&mut c, "?since=2100-01-01T00:00:00Z").await;
    assert_eq!(page["decisions"].as_array().unwrap().len(), 0);
    let page = decisions(&mut c, "?since=0&limit=3").await;
    assert_eq!(page["decisions"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], 3);

    for (q, field) in [
        ("?limit=0", "limit"),
        ("?limit=5000", "limit"),
        ("?after=-1", "after"),
        ("?since=tomorrow", "since"),
        ("?app=Not%20An%20App", "app"),
        ("?colour=blue", "colour"),
    ] {
        let (s, b) = c.get(&format!("/v1/decisions{q}")).await.unwrap();
        assert_eq!(s.as_u16(), 400, "{q}");
        assert_eq!(json(&b)["field"], field, "{q}");
    }
    srv.stop().await;
}

const PLAN: &str = r#"{"app":"flight-search","id":"spring-festival-2027","steps":[
  {"at":1800000000000,"replicas":4,"reason":{"kind":"baseline"}},
  {"at":1800003600000,"replicas":30,"reason":{"kind":"forecast","demand_rps":5200.0,"quantile":0.9}},
  {"at":1800090000000,"replicas":6,"reason":{"kind":"calendar","name":"spring festival"}}]}"#;

#[tokio::test]
async fn plans_are_stored_validated_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let (s, b) = c.post("/v1/plans", Some(TOKEN), PLAN).await.unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["created"], true);
    let (s, b) = c.post("/v1/plans", Some(TOKEN), PLAN).await.unwrap();
    assert_eq!(s.as_u16(), 200);
    assert_eq!(json(&b)["created"], false);

    let (s, b) = c.get_with_token("/v1/plans", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 200);
    let v = json(&b);
    assert_eq!(v["plans"][0]["id"], "spring-festival-2027");
    assert_eq!(v["plans"][0]["plan"]["steps"][1]["replicas"], 30);
    let (_, b) = c
        .get_with_token("/v1/plans?app=booking-api", TOKEN)
        .await
        .unwrap();
    assert_eq!(json(&b)["plans"].as_array().unwrap().len(), 0);
    let (s, b) = c
        .get_with_token("/v1/plans/spring-festival-2027", TOKEN)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 200);
    assert_eq!(json(&b)["app"], "flight-search");
    let (s, b) = c.get_with_token("/v1/plans/nope", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 404);
    assert_eq!(json(&b)["field"], "id");

    // A plan file (`crest plan --output`) is accepted too: its `plan` is stored.
    let doc = format!(
        r#"{{"version":1,"plan":{},"instance_hours":12.5}}"#,
        PLAN.replace("spring-festival-2027", "from-file")
    );
    let (s, b) = c.post("/v1/plans", Some(TOKEN), doc).await.unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    let (s, _) = c
        .get_with_token("/v1/plans/from-file", TOKEN)
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 200);
    let bad_doc = r#"{"version":1,"plan":{"app":"x","id":"y","steps":[{"at":"soon"}]}}"#;
    let (s, b) = c.post("/v1/plans", Some(TOKEN), bad_doc).await.unwrap();
    assert_eq!(s.as_u16(), 400);
    assert_eq!(json(&b)["field"], "plan.steps[0].at");

    // Out-of-order steps are refused, as ScalingPlan::try_new refuses them.
    let unordered = PLAN.replace("1800003600000", "1700000000000");
    let (s, b) = c.post("/v1/plans", Some(TOKEN), unordered).await.unwrap();
    assert_eq!(s.as_u16(), 400);
    assert_eq!(json(&b)["field"], "steps");
    let bad_app = PLAN.replace("flight-search", "Flight Search");
    let (s, b) = c.post("/v1/plans", Some(TOKEN), bad_app).await.unwrap();
    assert_eq!(s.as_u16(), 400);
    assert_eq!(json(&b)["field"], "app");
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_senders_all_get_durable_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start_with(
        dir.path(),
        "[defaults]\nmin_replicas = 1\nmax_replicas = 100000\n",
    )
    .await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let addr = srv.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = HttpClient::connect(addr).await.unwrap();
            for i in 0..25 {
                let body = AM_FIRING
                    .replace("c22a44858553d3e2", &format!("t{t}-{i}"))
                    .replace("\"app\": \"flight-search\"", "\"app\": \"busy\"");
                let (s, v) = post_am(&mut c, &body).await;
                assert_eq!(s, 200);
                assert_eq!(v["decisions"].as_array().unwrap().len(), 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = srv.client().await;
    let v = decisions(&mut c, "?app=busy&limit=1000").await;
    let ds = v["decisions"].as_array().unwrap();
    assert_eq!(ds.len(), 200);
    // One writer, one order: each decision's floor is the previous one's plus the step.
    for w in ds.windows(2) {
        assert_eq!(w[1]["previous_replicas"], w[0]["desired_replicas"]);
    }
    assert_eq!(ds[199]["desired_replicas"], 1 + 200 * 4); // HighLatency: step 4
    srv.stop().await;
}

/// A plan file's forecast and the plan's replicas at scrape time reach
/// `/metrics`, so Grafana can draw forecast against actual and Alertmanager
/// can alert on the deviation (`examples/prometheus/rules.yml`).
#[tokio::test]
async fn the_newest_plan_and_its_forecast_at_now_are_on_metrics() {
    use crest_core::series::Quantile;
    use crest_core::{Clock, Forecast, Timestamp, WallClock};
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::start(dir.path()).await;
    let mut c = srv.client().await;
    let hour_ago =
        Timestamp::from_millis(WallClock.now().millis() / 3_600_000 * 3_600_000).add_secs(-3600);
    let mut q = std::collections::BTreeMap::new();
    q.insert(Quantile::try_new(0.9).unwrap(), vec![120.0, 240.0, 360.0]);
    let f = Forecast::try_new("web", hour_ago, 3600, vec![100.0, 200.0, 300.0], q).unwrap();
    let doc = serde_json::json!({
        "plan": {"app": "web", "id": "web-today", "steps": [
            {"at": hour_ago.millis(), "replicas": 3, "reason": {"kind": "baseline"}},
            {"at": hour_ago.add_secs(3600).millis(), "replicas": 7, "reason": {"kind": "baseline"}},
            {"at": hour_ago.add_secs(7200).millis(), "replicas": 9, "reason": {"kind": "baseline"}}]},
        "forecast": f,
    });
    let (s, b) = c
        .post("/v1/plans", Some(TOKEN), doc.to_string())
        .await
        .unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    let (s, b) = c.get("/metrics").await.unwrap();
    assert_eq!(s.as_u16(), 200);
    let text = String::from_utf8_lossy(&b);
    assert!(
        text.contains("crest_planned_replicas{app=\"web\"} 7"),
        "{text}"
    );
    assert!(
        text.contains("crest_forecast_requests_per_second{app=\"web\",quantile=\"mean\"} 200"),
        "{text}"
    );
    assert!(
        text.contains("crest_forecast_requests_per_second{app=\"web\",quantile=\"0.9\"} 240"),
        "{text}"
    );
    // A bad forecast is refused naming it, and nothing is stored.
    let bad = doc.to_string().replace("\"step_s\":3600", "\"step_s\":-1");
    let (s, b) = c.post("/v1/plans", Some(TOKEN), bad).await.unwrap();
    assert_eq!(s.as_u16(), 400, "{}", String::from_utf8_lossy(&b));
    assert!(
        json(&b)["field"].as_str().unwrap().starts_with("forecast"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    srv.stop().await;
}
