//! `crest scale --config mesos.toml` as an operator runs it, against the
//! protocol-level double of a Mesos master (`actuator/tests/mesos/double.rs`,
//! NOT a real master, which cannot run here): the first run registers the
//! framework and saves its id in the journal, the next run fails over with
//! that id and adopts the running tasks instead of launching new ones, a
//! shortfall at the deadline exits 1, and bad configs name the field.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Output;

use serde_json::Value;

#[allow(dead_code)] // the double serves more tests than this one
#[path = "../actuator/tests/mesos/double.rs"]
mod double;

use double::Cluster;

async fn crest(args: &[&str], dir: &Path) -> Output {
    crest_env(args, dir, &[]).await
}

async fn crest_env(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn report(o: &Output) -> Value {
    let out = stdout(o);
    let line = out.lines().last().unwrap_or_else(|| {
        panic!("no report on stdout; stderr: {}", stderr(o));
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

fn config(dir: &Path, name: &str, master: &str, extra: &str) {
    let text = format!(
        "journal = \"{}\"\n[mesos]\nmaster = \"{master}\"\nrole = \"crest\"\ncpus = 1\nmem_mb = 128\ncommand = \"sleep 1000\"\nreconcile_s = 0.3\n{extra}",
        dir.join("journal.sqlite").display()
    );
    std::fs::write(dir.join(name), text).unwrap();
}

/// Task ids launched through ACCEPTs, in order.
fn launched(c: &Cluster) -> Vec<String> {
    c.calls_of("ACCEPT")
        .iter()
        .flat_map(|a| {
            a["accept"]["operations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|op| {
            op["launch"]["task_infos"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|t| t["task_id"]["value"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_fails_over_with_the_saved_framework_id_and_adopts_tasks() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(d, "mesos.toml", &c.url(0), "wait_s = 20\n");

    // 0 -> 3: a new framework registers, its id goes into the journal.
    let o = crest(
        &[
            "scale",
            "web",
            "3",
            "--config",
            "mesos.toml",
            "--plan",
            "p1",
        ],
        d,
    )
    .await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = report(&o);
    assert_eq!(r["backend"], "mesos");
    assert_eq!(r["app"], "web");
    assert_eq!((r["from"].as_u64(), r["to"].as_u64()), (Some(0), Some(3)));
    assert_eq!(r["running"], 3);
    assert_eq!(r["started"].as_array().unwrap().len(), 3);
    assert_eq!(r["failed"], serde_json::json!({}));
    let fw_id = r["framework_id"].as_str().unwrap().to_owned();
    assert!(!fw_id.is_empty());
    assert_eq!(c.running().len(), 3);
    let subs = c.with(|s| s.subscribes.clone());
    assert_eq!(subs.len(), 1);
    assert!(subs[0]["subscribe"]["framework_info"].get("id").is_none());
    let t = &c.calls_of("ACCEPT")[0]["accept"]["operations"][0]["launch"]["task_infos"][0];
    assert_eq!(t["labels"]["labels"][1]["value"], "p1");
    let j = crest_actuator::journal::Journal::open(d.join("journal.sqlite")).unwrap();
    assert_eq!(
        j.get_meta("mesos/crest/framework_id").unwrap().as_deref(),
        Some(fw_id.as_str())
    );
    assert_eq!(
        j.desired(&crest_core::AppId::try_new("web").unwrap())
            .unwrap(),
        Some(3)
    );
    drop(j);

    // 3 -> 1: a new process re-SUBSCRIBEs with the saved id, adopts the
    // three tasks from reconciliation and kills two of them.
    let o = crest(&["scale", "web", "1", "--config", "mesos.toml"], d).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = report(&o);
    assert_eq!((r["from"].as_u64(), r["to"].as_u64()), (Some(3), Some(1)));
    assert_eq!(r["running"], 1);
    assert_eq!(r["adopted"], 3);
    assert_eq!(r["framework_id"], fw_id.as_str());
    assert_eq!(r["started"], serde_json::json!([]));
    assert_eq!(r["stopped"].as_array().unwrap().len(), 2);
    let subs = c.with(|s| s.subscribes.clone());
    assert_eq!(subs.len(), 2);
    assert_eq!(
        subs[1]["subscribe"]["framework_info"]["id"]["value"],
        fw_id.as_str()
    );
    assert_eq!(subs[1]["framework_id"]["value"], fw_id.as_str());
    assert_eq!(c.calls_of("KILL").len(), 2);
    assert_eq!(c.running().len(), 1);
    assert_eq!(launched(&c).len(), 3, "nothing launched twice");
    assert!(c.calls_of("TEARDOWN").is_empty(), "tasks outlive the CLI");

    // 1 -> 10 on 4 cpus with a short deadline: 4 run, the shortfall is a failure.
    config(d, "short.toml", &c.url(0), "wait_s = 2\n");
    let o = crest(&["scale", "web", "10", "--config", "short.toml"], d).await;
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let r = report(&o);
    assert_eq!(r["running"], 4);
    assert_eq!(r["adopted"], 1);
    assert_eq!(r["started"].as_array().unwrap().len(), 3);
    let why = r["failed"]["convergence"].as_str().unwrap();
    assert!(why.contains("4 of 10 tasks running"), "{why}");
    assert!(
        stderr(&o).contains("4 of 10 tasks running on mesos"),
        "{}",
        stderr(&o)
    );
    assert_eq!(c.running().len(), 4);

    // -> 0: all gone, still the same framework.
    let o = crest(&["scale", "web", "0", "--config", "mesos.toml"], d).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = report(&o);
    assert_eq!(
        (r["from"].as_u64(), r["running"].as_u64()),
        (Some(4), Some(0))
    );
    assert_eq!(r["framework_id"], fw_id.as_str());
    assert!(c.running().is_empty());
    let subs = c.with(|s| s.subscribes.clone());
    assert!(
        subs[1..]
            .iter()
            .all(|s| s["subscribe"]["framework_info"]["id"]["value"] == fw_id.as_str())
    );
    assert_eq!(c.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_master_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Nothing listens on port 1 of 127.0.0.1.
    config(d, "m.toml", "http://127.0.0.1:1", "wait_s = 1\n");
    let o = crest(&["scale", "web", "2", "--config", "m.toml"], d).await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("failed to subscribe to mesos master http://127.0.0.1:1 within 1 s"),
        "{e}"
    );
    assert!(e.contains("127.0.0.1:1"), "{e}");
    assert!(stdout(&o).is_empty());

    // A saved framework id the master has removed (failover timeout passed,
    // torn down): final, said once, the id kept until the operator drops it.
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    c.with(|s| s.removed.insert("gone-0001".into()));
    let journal = d.join("journal.sqlite");
    crest_actuator::journal::Journal::open(&journal)
        .unwrap()
        .set_meta("mesos/crest/framework_id", "gone-0001")
        .unwrap();
    config(d, "m.toml", &c.url(0), "wait_s = 5\n");
    let o = crest(&["scale", "web", "2", "--config", "m.toml"], d).await;
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("failing over as framework gone-0001"), "{e}");
    assert!(e.contains("key mesos/crest/framework_id"), "{e}");
    assert!(e.contains("Framework has been removed"), "{e}");
    assert!(e.contains("crest scale --forget-framework"), "{e}");
    assert_eq!(c.with(|s| s.subscribes.len()), 1, "not retried: {e}");
    assert!(c.running().is_empty());
    let saved = || {
        crest_actuator::journal::Journal::open(&journal)
            .unwrap()
            .get_meta("mesos/crest/framework_id")
            .unwrap()
    };
    assert_eq!(
        saved().as_deref(),
        Some("gone-0001"),
        "kept until the operator says"
    );

    // The operator drops it: a new framework registers and runs the tasks.
    let o = crest(
        &[
            "scale",
            "web",
            "2",
            "--config",
            "m.toml",
            "--forget-framework",
        ],
        d,
    )
    .await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("forgot mesos framework gone-0001"),
        "{}",
        stderr(&o)
    );
    let r = report(&o);
    let new_id = r["framework_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, "gone-0001");
    assert_eq!(saved().as_deref(), Some(new_id.as_str()));
    assert_eq!(c.running().len(), 2);
    assert!(c.with(|s| {
        s.subscribes[1]["subscribe"]["framework_info"]
            .get("id")
            .is_none()
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_authenticates_with_a_secret_from_the_environment_and_never_prints_it() {
    let c = Cluster::start(1, &[(4.0, 4096.0)], 0.5).await;
    c.with(|s| s.auth = Some(("crest-fw".into(), "hunter2-secret".into())));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(
        d,
        "m.toml",
        &c.url(0),
        "wait_s = 10\nprincipal = \"crest-fw\"\nsecret_env = \"CREST_MESOS_SECRET\"\nports = 1\n",
    );
    // the variable unset: named, nothing sent
    let o = crest(&["scale", "web", "2", "--config", "m.toml"], d).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("CREST_MESOS_SECRET is not set"),
        "{}",
        stderr(&o)
    );
    assert_eq!(c.with(|s| s.subscribes.len()), 0);

    let o = crest_env(
        &["scale", "web", "2", "--config", "m.toml"],
        d,
        &[("CREST_MESOS_SECRET", "hunter2-secret")],
    )
    .await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("hunter2") && !stderr(&o).contains("hunter2"));
    assert_eq!(report(&o)["running"], 2);
    let info = c.with(|s| s.subscribes[0]["subscribe"]["framework_info"].clone());
    assert_eq!(info["principal"], "crest-fw");
    // each task got its own host port
    let ports: std::collections::BTreeSet<u64> =
        c.with(|s| s.tasks.values().map(|t| t.ports[0]).collect());
    assert_eq!(ports.len(), 2);

    // a wrong secret: a 401, said plainly, once
    let o = crest_env(
        &["scale", "web", "2", "--config", "m.toml"],
        d,
        &[("CREST_MESOS_SECRET", "wrong")],
    )
    .await;
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("401") && e.contains("refused"), "{e}");
    assert!(!e.contains("wrong\"") && !e.contains("hunter2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = "journal = \"j.sqlite\"\n[mesos]\nmaster = \"http://127.0.0.1:5050\"\ncpus = 1\nmem_mb = 64\ncommand = \"sleep 1\"\nwait_s = 1\n";
    let cases: [(&str, String, &[&str]); 7] = [
        (
            "user.toml",
            format!("{ok}user = \"\"\n"),
            &["mesos.user: expected the Unix user tasks run as"],
        ),
        (
            "failover.toml",
            format!("{ok}failover_timeout_s = 0\n"),
            &["mesos.failover_timeout_s: expected a number > 0"],
        ),
        (
            "both.toml",
            format!(
                "{ok}[containerd]\nsocket = \"/c.sock\"\nimage = \"i\"\ncommand = [\"/bin/true\"]\n"
            ),
            &["found both [mesos] and [containerd]"],
        ),
        (
            "nomaster.toml",
            ok.replace("master = \"http://127.0.0.1:5050\"\n", ""),
            &["mesos.master: expected http://host:port"],
        ),
        (
            "badmaster.toml",
            ok.replace("http://127.0.0.1:5050", "127.0.0.1:5050"),
            &[
                "mesos.master: expected http://host:port",
                "\"127.0.0.1:5050\"",
            ],
        ),
        (
            "unknown.toml",
            format!("{ok}cpu = 2\n"),
            &["unknown field `cpu`", "unknown.toml"],
        ),
        (
            "neither.toml",
            "journal = \"j.sqlite\"\n".to_string(),
            &["expected a [containerd] or a [mesos] section"],
        ),
    ];
    for (name, text, wants) in cases {
        std::fs::write(d.join(name), text).unwrap();
        let o = crest(&["scale", "web", "2", "--config", name], d).await;
        assert!(!o.status.success(), "{name} accepted");
        let e = stderr(&o);
        for w in wants {
            assert!(e.contains(w), "{name}: {w:?} not in {e}");
        }
        assert!(stdout(&o).is_empty(), "{name}: {}", stdout(&o));
    }
    assert!(!d.join("j.sqlite").exists(), "nothing touched");
}

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_follows_a_plan_through_the_framework_and_scale_fails_over_after_it() {
    let c = Cluster::start(1, &[(64.0, 65536.0)], 0.5).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_forecast(d, 6);
    let o = crest(
        &[
            "plan",
            "--forecast",
            "forecast.json",
            "--per-instance-qps",
            "20",
            "--output",
            "p.json",
        ],
        d,
    )
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: crest_autoscaler::PlanDocument = common::read_json(d.join("p.json"));
    let app = doc.plan.app.to_string();
    let steps = doc.plan.steps();
    let last = steps.last().unwrap().replicas.0;
    let peak = steps.iter().map(|s| s.replicas.0).max().unwrap();
    assert!(
        peak > last,
        "the plan scales out and back in: {peak} > {last}"
    );
    std::fs::write(
        d.join("mesos.toml"),
        format!(
            "journal = \"{}\"\n[mesos]\nmaster = \"{}\"\nrole = \"crest\"\ncpus = 0.1\nmem_mb = 16\ncommand = \"sleep 1000\"\nwait_s = 20\nreconcile_s = 0.3\n",
            d.join("journal.sqlite").display(),
            c.url(0)
        ),
    )
    .unwrap();
    let o = crest(
        &[
            "run",
            "--schedule",
            "p.json",
            "--config",
            "mesos.toml",
            "--start-now",
            "--speed",
            "50000",
            "--reverify-before",
            "1m",
            "--engine",
            "fluid",
        ],
        d,
    )
    .await;
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains(&format!("applied: set {app} replicas ->")),
        "{out}"
    );
    let fw_id = c.with(|s| s.framework_id.clone()).unwrap();
    assert!(
        out.contains(&format!(
            "mesos: {app}: {last} of {last} tasks running (framework {fw_id})"
        )),
        "{out}"
    );
    assert_eq!(c.running().len(), last as usize);
    assert!(c.calls_of("TEARDOWN").is_empty());

    // The next CLI run fails over to the same framework and adopts the plan's tasks.
    let o = crest(&["scale", &app, "0", "--config", "mesos.toml"], d).await;
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let r = report(&o);
    assert_eq!(r["framework_id"], fw_id.as_str());
    assert_eq!(r["adopted"], last);
    assert_eq!(r["running"], 0);
    assert!(c.running().is_empty());
    assert_eq!(c.with(|s| s.subscribes.len()), 2);
    assert_eq!(c.violations(), Vec::<String>::new());
}
