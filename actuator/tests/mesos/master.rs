//! What a real master expects of a framework (issue 15), each point against
//! the double answering as `src/master/http.cpp` / `master.cpp` /
//! `slave.cpp` do (NOT a real master, which cannot run here). The test names
//! carry the defect number they cover.

use std::time::Duration;

use base64::Engine as _;
use crest_actuator::error::ActuatorError;
use crest_actuator::mesos::actuator::invoking_user;
use crest_actuator::mesos::client::Credentials;
use crest_actuator::mesos::{AppSpec, MesosActuator, MesosConfig};
use crest_core::seams::Actuator;
use crest_core::{Action, AppId, Replicas, Timestamp, WallClock};
use serde_json::{Value, json};

use crate::double::Cluster;

use crate::framework::{WAIT_MS, config, running, web};

fn set(n: u32) -> Action {
    crate::framework::set(n, None)
}

/// A cluster of one master with these agents, and a framework subscribed to it.
async fn started(agents: &[(f64, f64)], heartbeat_s: f64) -> (Cluster, MesosActuator<WallClock>) {
    let c = Cluster::start(1, agents, heartbeat_s).await;
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    (c, a)
}

async fn subscribed(a: &MesosActuator<WallClock>, n: u64, within_ms: i64) {
    a.wait_until(within_ms, |_, c| {
        c.subscriptions >= n && c.stream_id.is_some()
    })
    .await
    .unwrap_or_else(|e| panic!("waiting for subscription {n}: {e}; {:?}", a.connection()));
}

async fn fatal(a: &MesosActuator<WallClock>) -> String {
    a.wait_until(WAIT_MS, |_, c| c.fatal.is_some())
        .await
        .unwrap_or_else(|e| panic!("no fatal error: {e}; {:?}", a.connection()));
    a.connection().fatal.unwrap()
}

async fn sleep_ms(ms: u64) {
    tokio::time::timeout(Duration::from_millis(ms), std::future::pending::<()>())
        .await
        .ok();
}

// ------------------------------------------------------------------ 1: user

#[tokio::test]
async fn defect1_user_defaults_to_the_invoking_user_and_empty_is_refused() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    let me = invoking_user().expect("the user running the tests");
    let cfg = config(c.url(0));
    assert_eq!(cfg.user, me);
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    let sent = c.with(|s| s.subscribes[0]["subscribe"]["framework_info"]["user"].clone());
    assert_eq!(sent, json!(me));
    // An agent drops the tasks of a framework with user "" (it cannot chown
    // the sandbox); with the invoking user they run.
    a.apply(&set(2)).await.unwrap();
    running(&a, 2).await;
    assert_eq!(a.stats().failed, 0);

    let mut empty = config(c.url(0));
    empty.user = String::new();
    let e = MesosActuator::start(empty, WallClock).unwrap_err();
    assert!(
        matches!(e, ActuatorError::BadFrameworkConfig { field: "user", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("user"), "{e}");
}

#[tokio::test]
async fn double_agent_loses_the_tasks_of_a_framework_with_an_empty_user() {
    // The double itself: what made the old default relaunch forever.
    let (c, a) = started(&[(4.0, 4096.0)], 0.5).await;
    c.with(|s| s.user = String::new());
    a.apply(&set(1)).await.unwrap();
    a.wait_until(WAIT_MS, |fw, _| fw.stats().failed >= 2)
        .await
        .unwrap();
    assert_eq!(c.running().len(), 0);
}

// ------------------------------------------------------- 2: final ERRORs

#[tokio::test]
async fn defect2_framework_failed_over_is_final_and_not_stolen_back() {
    let (c, a) = started(&[(4.0, 4096.0)], 0.2).await;
    let id = a.framework_id().unwrap();
    let mut cfg = config(c.url(0));
    cfg.framework_id = Some(id.clone());
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&b, 1, WAIT_MS).await;
    let why = fatal(&a).await;
    assert!(
        why.contains("Framework failed over") && why.contains(&id),
        "{why}"
    );
    // a stays away: b keeps the subscription
    sleep_ms(800).await;
    assert_eq!(c.with(|s| s.subscribes.len()), 2);
    assert_eq!(
        b.connection().stream_id,
        c.with(|s| s.stream_ids.last().cloned())
    );
    assert!(a.connection().stream_id.is_none());
    // the id stays with whoever holds it: only an operator drops it
    assert_eq!(a.framework_id().as_deref(), Some(id.as_str()));
    b.apply(&set(1)).await.unwrap();
    running(&b, 1).await;
}

#[tokio::test]
async fn defect2_framework_removed_after_its_failover_timeout_is_final() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.2).await;
    let mut cfg = config(c.url(0));
    cfg.failover_timeout_s = 0.3;
    let a = MesosActuator::start(cfg.clone(), WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(2)).await.unwrap();
    running(&a, 2).await;
    let id = a.framework_id().unwrap();
    a.shutdown().await;
    // the double removes the framework once it has been away that long
    for _ in 0..100 {
        if c.with(|s| s.removed.contains(&id)) {
            break;
        }
        sleep_ms(20).await;
    }
    assert!(c.with(|s| s.removed.contains(&id) && s.tasks.is_empty()));

    cfg.framework_id = Some(id.clone());
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    let why = fatal(&b).await;
    assert!(why.contains("Framework has been removed"), "{why}");
    sleep_ms(500).await;
    assert_eq!(c.with(|s| s.subscribes.len()), 2, "no re-subscription loop");
}

// ------------------------------------------------- 3: failover_timeout > 0

#[tokio::test]
async fn defect3_failover_timeout_must_be_positive_and_defaults_to_a_week() {
    assert_eq!(
        MesosConfig::new("http://m:5050").failover_timeout_s,
        604_800.0
    );
    for bad in [0.0, -1.0, f64::NAN] {
        let mut cfg = config("http://127.0.0.1:1".into());
        cfg.failover_timeout_s = bad;
        let e = MesosActuator::start(cfg, WallClock).unwrap_err();
        assert!(e.to_string().contains("failover_timeout_s"), "{bad}: {e}");
    }
}

// ------------------------------------------------------ 4: 400 / 503 / 5xx

#[tokio::test]
async fn defect4_503_while_recovering_is_retried_with_bounded_backoff() {
    let (c, a) = started(&[(4.0, 4096.0)], 0.5).await;
    // settle: nothing wanted, offers suppressed
    a.wait_until(WAIT_MS, |_, _| c.with(|s| s.suppressed))
        .await
        .unwrap();
    c.with(|s| s.recovering = true);
    a.apply(&set(2)).await.unwrap();
    sleep_ms(1_000).await;
    let answered = c.with(|s| s.unavailable_answers);
    // backoff 20 ms doubling to 200 ms: a handful per second, never a tight loop
    assert!(
        (2..=30).contains(&answered),
        "{answered} calls answered 503 in 1 s"
    );
    c.with(|s| s.recovering = false);
    running(&a, 2).await;
    assert_eq!(c.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn defect4_400_stream_id_mismatch_means_subscribe_again() {
    let (c, a) = started(&[(8.0, 8192.0)], 1.0).await;
    c.change_stream_id();
    a.apply(&set(2)).await.unwrap();
    // well before the 5 s heartbeat window runs out
    subscribed(&a, 2, 2_000).await;
    let rejected = c.with(|s| s.rejected.clone());
    assert!(
        rejected.iter().any(|r| r.contains("with stream id")),
        "{rejected:?}"
    );
    running(&a, 2).await;
}

#[tokio::test]
async fn defect4_400_framework_cannot_be_found_means_subscribe_again_with_the_id() {
    let (c, a) = started(&[(8.0, 8192.0)], 1.0).await;
    let id = a.framework_id().unwrap();
    c.forget_framework();
    a.apply(&set(2)).await.unwrap();
    subscribed(&a, 2, 2_000).await;
    // the master accepts and recovers the id it did not know
    assert_eq!(c.with(|s| s.framework_id.clone()), Some(id.clone()));
    let last = c.with(|s| s.subscribes.last().unwrap().clone());
    assert_eq!(
        last["subscribe"]["framework_info"]["id"]["value"],
        json!(id)
    );
    running(&a, 2).await;
}

// ------------------------------------------- 5: refused ACCEPT is declined

#[tokio::test]
async fn defect5_offers_of_a_refused_accept_are_declined() {
    // One agent: its resources come back only once the offer is answered.
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    c.with(|s| s.refuse_accepts = 1);
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(1)).await.unwrap();
    running(&a, 1).await;
    let refused = c.with(|s| s.rejected.clone());
    let refused = refused
        .iter()
        .find_map(|r| r.strip_prefix("ACCEPT refused on purpose: "))
        .unwrap()
        .to_owned();
    let refused: Value = serde_json::from_str(&refused).unwrap();
    let declined: Vec<Value> = c
        .calls_of("DECLINE")
        .iter()
        .flat_map(|d| d["decline"]["offer_ids"].as_array().unwrap().clone())
        .collect();
    assert!(
        declined.contains(&refused[0]),
        "{refused} not in {declined:?}"
    );
    // nothing held: every offer sent was answered
    a.wait_until(WAIT_MS, |_, _| c.with(|s| s.outstanding_offers()) == 0)
        .await
        .unwrap();
    assert_eq!(c.violations(), Vec::<String>::new());
}

// ------------------------------------------------------------- 6: ports

#[tokio::test]
async fn defect6_tasks_get_host_ports_from_offers_and_report_ip_and_port() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    let mut cfg = config(c.url(0));
    cfg.apps.insert(
        web(),
        AppSpec::new(0.5, 64.0, "exec serve --port $PORT0").with_ports(2),
    );
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(3)).await.unwrap();
    running(&a, 3).await;
    let tasks = c.with(|s| s.tasks.clone());
    let mut all = std::collections::BTreeSet::new();
    for (id, t) in &tasks {
        assert_eq!(t.ports.len(), 2, "{id}");
        for (i, p) in t.ports.iter().enumerate() {
            assert!((31_000..=32_000).contains(p));
            assert!(all.insert(*p), "port {p} given twice");
            assert_eq!(t.env.get(&format!("PORT{i}")), Some(&p.to_string()), "{id}");
        }
    }
    // one agent hosts all three: no collision, and the address names the port
    let fleet = a.inspect(|f| f.fleet(&web(), Timestamp(0)));
    for i in &fleet.instances {
        let port = tasks[i.id.as_str()].ports[0];
        let addr = i.addr.clone().unwrap();
        assert!(
            addr.starts_with("127.0.1.") && addr.ends_with(&format!(":{port}")),
            "{addr}"
        );
    }
    assert_eq!(c.violations(), Vec::<String>::new());
}

// ------------------------------------------- 7: resources across entries

#[tokio::test]
async fn defect7_resources_are_gathered_across_reserved_and_unreserved_entries() {
    // 1 cpu, half of it reserved for the role: offered as two cpus entries.
    let c = Cluster::start(1, &[(1.0, 1024.0)], 0.5).await;
    c.with(|s| s.agents[0].reserved_cpus = 0.5);
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(1)).await.unwrap();
    running(&a, 1).await;
    let accept = c.calls_of("ACCEPT")[0].clone();
    let res = accept["accept"]["operations"][0]["launch"]["task_infos"][0]["resources"]
        .as_array()
        .unwrap()
        .clone();
    let cpus: Vec<&Value> = res.iter().filter(|r| r["name"] == "cpus").collect();
    assert_eq!(cpus.len(), 2, "{res:?}");
    assert!(cpus.iter().any(|r| r["reservations"][0]["role"] == "crest"));
    let total: f64 = cpus
        .iter()
        .map(|r| r["scalar"]["value"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9);
    assert_eq!(c.violations(), Vec::<String>::new());
}

// --------------------------------------------------- 8: auth, TLS, uuids

#[tokio::test]
async fn basic_authentication_and_a_401_is_final() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    c.with(|s| s.auth = Some(("crest".into(), "s3cret-value".into())));
    // without credentials: 401, said once, not retried forever
    let a = MesosActuator::start(config(c.url(0)), WallClock).unwrap();
    let why = fatal(&a).await;
    assert!(
        why.contains("401") && why.contains("mesos.principal"),
        "{why}"
    );
    sleep_ms(300).await;
    assert_eq!(c.with(|s| s.unauthorized_answers), 1);

    let mut cfg = config(c.url(0));
    cfg.credentials = Some(Credentials {
        principal: "crest".into(),
        secret: "s3cret-value".into(),
    });
    assert!(!format!("{cfg:?}").contains("s3cret"));
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&b, 1, WAIT_MS).await;
    let info = c.with(|s| s.subscribes[0]["subscribe"]["framework_info"].clone());
    assert_eq!(info["principal"], "crest");
    b.apply(&set(1)).await.unwrap();
    running(&b, 1).await;
    assert!(!format!("{b:?}{:?}", b.connection()).contains("s3cret"));

    let mut wrong = config(c.url(0));
    wrong.credentials = Some(Credentials {
        principal: "crest".into(),
        secret: "nope".into(),
    });
    let w = MesosActuator::start(wrong, WallClock).unwrap();
    let why = fatal(&w).await;
    assert!(why.contains("refused") && !why.contains("nope"), "{why}");
}

fn openssl(args: &str, dir: &std::path::Path) -> bool {
    std::process::Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn tls_to_the_master_with_a_ca_file() {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    // an EC P-256 CA, and a server certificate it signs for 127.0.0.1
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    let ok = openssl(
        &format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=crest-test-ca"),
        d,
    ) && openssl(
        &format!("req {ec} -keyout srv.key -out srv.csr -subj /CN=127.0.0.1"),
        d,
    ) && openssl(
        "x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext",
        d,
    );
    if !ok {
        crest_core::services::skip_or_fail(
            "tls_to_the_master_with_a_ca_file",
            "openssl could not make a test CA (install openssl)",
        );
        return;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(d.join("srv.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(d.join("srv.key")).unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let server = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server));
    let c = Cluster::start_with(1, &[(4.0, 4096.0)], 0.5, Some(acceptor)).await;
    assert!(c.url(0).starts_with("https://"));

    let mut cfg = config(c.url(0));
    cfg.ca_file = Some(d.join("ca.pem"));
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(2)).await.unwrap();
    running(&a, 2).await;
    a.shutdown().await;

    // a CA that did not sign the master's certificate: no subscription
    let mut cfg = config(c.url(0));
    cfg.ca_file = Some(d.join("srv.pem"));
    cfg.subscribe_timeout_ms = 500;
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    sleep_ms(700).await;
    assert_eq!(b.connection().subscriptions, 0);
    let err = b.connection().last_error.unwrap_or_default();
    assert!(err.contains("TLS handshake"), "{err}");
}

#[tokio::test]
async fn double_uuids_are_16_bytes_and_implicit_reconcile_reports_every_task() {
    let (c, a) = started(&[(8.0, 8192.0)], 0.5).await;
    a.apply(&set(3)).await.unwrap();
    running(&a, 3).await;
    for ack in c.calls_of("ACKNOWLEDGE") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(ack["acknowledge"]["uuid"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw.len(), 16);
    }
    let id = a.framework_id().unwrap();
    a.shutdown().await;
    // one task is still starting on its agent: a real master reports it too
    let starting = c.running()[0].clone();
    c.with(|s| s.tasks.get_mut(&starting).unwrap().state = "TASK_STARTING".into());
    let mut cfg = config(c.url(0));
    cfg.framework_id = Some(id);
    let b = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&b, 1, WAIT_MS).await;
    b.wait_until(WAIT_MS, |fw, _| fw.tasks().len() == 3)
        .await
        .unwrap();
    b.apply(&set(3)).await.unwrap();
    sleep_ms(300).await;
    assert_eq!(b.stats().launched, 0, "adopted, not relaunched");
    assert_eq!(c.with(|s| s.tasks.len()), 3);
}

// ------------------------------- the bodies crest sends vs the docs' examples

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/mesos/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Walk `ours` against the documented example `doc`, field by field: a field
/// both have must have the same JSON type (and the same value for the
/// protocol's enum-like `type` fields and `shell`); fields only one side has
/// are listed as `+path` (ours only) and `-path` (the example only). Array
/// elements are matched by `name` for resources, else by `type`, else the
/// example's first.
fn walk(doc: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    match (doc, ours) {
        (Value::Object(d), Value::Object(o)) => {
            for (k, v) in o {
                let p = format!("{path}.{k}");
                match d.get(k) {
                    Some(dv) => walk(dv, v, &p, out),
                    None => out.push(format!("+{p}")),
                }
            }
            for k in d.keys().filter(|k| !o.contains_key(*k)) {
                out.push(format!("-{path}.{k}"));
            }
        }
        (Value::Array(d), Value::Array(o)) => {
            let p = format!("{path}[]");
            for v in o {
                let same = |key: &str| {
                    d.iter()
                        .find(|x| x.get(key).is_some() && x.get(key) == v.get(key))
                };
                // Resources are told apart by name; other elements by type.
                let resources = path.ends_with(".resources");
                let found = if resources {
                    same("name")
                } else {
                    same("type").or(d.first())
                };
                match found {
                    Some(dv) => walk(dv, v, &p, out),
                    None => out.push(format!("+{p}(name={})", v["name"])),
                }
            }
        }
        (d, o) => {
            if kind(d) != kind(o) {
                out.push(format!(
                    "!{path}: {} in the docs, {} sent",
                    kind(d),
                    kind(o)
                ));
            } else if (path.ends_with(".type") || path.ends_with(".shell")) && d != o {
                out.push(format!("!{path}: {d} in the docs, {o} sent"));
            }
        }
    }
    out.sort();
    out.dedup();
}

fn diff(doc: &str, ours: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(&fixture(doc), ours, "", &mut out);
    out
}

#[tokio::test]
async fn bodies_crest_sends_match_the_documented_examples_field_by_field() {
    let c = Cluster::start(1, &[(2.0, 2048.0), (2.0, 2048.0)], 0.5).await;
    let job = AppId::try_new("job").unwrap();
    let mut cfg = config(c.url(0));
    cfg.apps
        .insert(web(), AppSpec::new(1.0, 128.0, "serve").with_ports(1));
    cfg.apps.insert(
        job.clone(),
        AppSpec::new(0.2, 64.0, "run-job").with_tasks_per_executor(2),
    );
    let a = MesosActuator::start(cfg, WallClock).unwrap();
    subscribed(&a, 1, WAIT_MS).await;
    a.apply(&set(1)).await.unwrap();
    a.apply(&Action::SetReplicas {
        app: job.clone(),
        replicas: Replicas(1),
        plan_id: None,
    })
    .await
    .unwrap();
    running(&a, 1).await;
    a.wait_until(WAIT_MS, |fw, _| {
        fw.fleet(&job, Timestamp(0)).running() == Replicas(1)
    })
    .await
    .unwrap();
    c.drop_stream();
    subscribed(&a, 2, WAIT_MS).await;
    a.apply(&set(0)).await.unwrap();
    running(&a, 0).await;

    // An ACCEPT may carry both kinds of operation; each is compared with its
    // example inside the ACCEPT it was sent in.
    let only = |kind: &str| {
        let mut call = c
            .calls_of("ACCEPT")
            .into_iter()
            .find(|x| {
                x["accept"]["operations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["type"] == kind)
            })
            .unwrap();
        let ops: Vec<Value> = call["accept"]["operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["type"] == kind)
            .cloned()
            .collect();
        call["accept"]["operations"] = Value::Array(ops);
        call
    };
    let launch = only("LAUNCH");
    let group = only("LAUNCH_GROUP");
    let explicit = c
        .calls_of("RECONCILE")
        .into_iter()
        .find(|r| r["reconcile"]["tasks"] != json!([]))
        .unwrap();
    let subscribe = c.with(|s| s.subscribes[0].clone());
    // Each difference is deliberate; the reason is in mesos.proto.
    let cases: [(&str, Value, &[&str]); 7] = [
        (
            "subscribe_call.json",
            subscribe,
            &[
                // optional FrameworkInfo fields the example leaves out
                "+.subscribe.framework_info.checkpoint",
                "+.subscribe.framework_info.failover_timeout",
                // optional Subscribe fields crest does not use
                "-.subscribe.offer_constraints",
                "-.subscribe.suppressed_roles",
            ],
        ),
        (
            "accept_launch_call.json",
            launch.clone(),
            &[
                // crest's tasks run a command under the command executor
                // (TaskInfo.command) instead of a custom executor, carry labels
                // and a `ports` RANGES resource, and set no limits
                "+.accept.operations[].launch.task_infos[].command",
                "+.accept.operations[].launch.task_infos[].labels",
                "+.accept.operations[].launch.task_infos[].resources[](name=\"ports\")",
                "-.accept.operations[].launch.task_infos[].executor",
                "-.accept.operations[].launch.task_infos[].limits",
            ],
        ),
        (
            "accept_launch_group_call.json",
            group.clone(),
            &[
                // MULTI_ROLE: every resource names its allocation role (the
                // example is a single-role framework) and crest's offers
                // carry the pre-refinement `role`
                "+.accept.operations[].launch_group.executor.labels",
                "+.accept.operations[].launch_group.executor.name",
                "+.accept.operations[].launch_group.executor.resources[].allocation_info",
                "+.accept.operations[].launch_group.executor.resources[].role",
                "+.accept.operations[].launch_group.task_group.tasks[].command.shell",
                "+.accept.operations[].launch_group.task_group.tasks[].labels",
                "+.accept.operations[].launch_group.task_group.tasks[].resources[].allocation_info",
                "+.accept.operations[].launch_group.task_group.tasks[].resources[].role",
                // no artifact fetched, no image, no limits
                "-.accept.operations[].launch_group.task_group.tasks[].command.uris",
                "-.accept.operations[].launch_group.task_group.tasks[].container",
                "-.accept.operations[].launch_group.task_group.tasks[].limits",
            ],
        ),
        ("decline_call.json", c.calls_of("DECLINE")[0].clone(), &[]),
        ("kill_call.json", c.calls_of("KILL")[0].clone(), &[]),
        (
            "acknowledge_call.json",
            c.calls_of("ACKNOWLEDGE")[0].clone(),
            &[],
        ),
        ("reconcile_call.json", explicit, &[]),
    ];
    for (doc, ours, want) in cases {
        let got = diff(doc, &ours);
        let want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, want, "{doc} vs what crest sent: {ours}");
    }
    assert_eq!(c.violations(), Vec::<String>::new());
}
