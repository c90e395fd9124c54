//! `crest run` as a user runs it: a TOML or JSON schedule of plan documents,
//! re-verified and then executed through crest-actuator's fleet actuator over
//! its dry-run backends (the printed steps are the real ones: containerd, CNI,
//! HAProxy), bad schedules named by field and line, and a plan failing its
//! re-verification refused unless forced.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

use std::path::Path;
use std::process::Command;

use crest_autoscaler::PlanDocument;

mod common;
use common::{crest, is_root, missing_tool, stderr, stdout, write_forecast};

/// `crest plan` into `out`, with extra arguments.
fn plan(dir: &Path, out: &str, extra: &[&str]) {
    let mut args = vec![
        "plan",
        "--forecast",
        "forecast.json",
        "--per-instance-qps",
        "20",
        "--output",
        out,
    ];
    args.extend_from_slice(extra);
    let o = crest(&args, dir);
    assert!(o.status.success(), "{}", stderr(&o));
}

const REHEARSE: [&str; 8] = [
    "--start-now",
    "--speed",
    "50000",
    "--reverify-before",
    "1m",
    "--engine",
    "fluid",
    "--dry-run",
];

/// The replica counts a plan steps through, consecutive repeats removed.
fn plan_counts(doc: &PlanDocument) -> Vec<u32> {
    let mut v: Vec<u32> = doc.plan.steps().iter().map(|s| s.replicas.0).collect();
    v.dedup();
    v
}

#[test]
fn dry_run_of_a_toml_schedule_follows_the_plan_through_the_fleet_actuator() {
    let dir = tempfile::tempdir().unwrap();
    // 6 h: the crest is followed by an hour back at the baseline, so the
    // plan scales out and then in.
    write_forecast(dir.path(), 6);
    plan(dir.path(), "p.json", &[]);
    let doc: PlanDocument = common::read_json(dir.path().join("p.json"));
    std::fs::write(
        dir.path().join("schedule.toml"),
        "# the holiday\n[[runs]]\nplan = \"p.json\"\n",
    )
    .unwrap();
    // The `crest scale` config: a network makes the CNI steps appear.
    std::fs::write(
        dir.path().join("actuator.toml"),
        "[network]\nsubnet = \"10.213.0.0/24\"\ndata_dir = \"/nonexistent\"\n[fleet]\nramp_steps = 2\n",
    )
    .unwrap();
    let mut args = vec![
        "run",
        "--schedule",
        "schedule.toml",
        "--config",
        "actuator.toml",
    ];
    args.extend_from_slice(&REHEARSE);
    #[allow(clippy::disallowed_methods)] // the test's own wall time, not a library's clock
    let started = std::time::Instant::now();
    let o = crest(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    let out = stdout(&o);
    assert!(out.contains("-> PASS"), "{out}");
    assert!(out.contains(&format!("plan {} done", doc.plan.id)), "{out}");

    // The actions handed to the actuator follow the plan's counts in order.
    let set: Vec<u32> = out
        .lines()
        .filter_map(|l| l.split("dry-run: set app replicas -> ").nth(1))
        .map(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    // At a rehearsal's speed steps closer than the actuator's latency are
    // overtaken (the schedule follows the clock, it does not replay every
    // step): the actions are the plan's counts in order, from its first to
    // its last, skipping none but such overtaken ones.
    let want = plan_counts(&doc);
    let want: Vec<u32> = want.into_iter().skip_while(|&n| n == 0).collect();
    let mut rest = want.iter();
    assert!(
        set.iter().all(|n| rest.any(|w| w == n)),
        "{set:?} not in plan order {want:?}\n{out}"
    );
    assert_eq!(set.first(), want.first(), "{out}");
    assert_eq!(set.last(), want.last(), "{out}");
    assert!(set.iter().max().unwrap() >= &40, "{set:?}");

    // Each instance went through the real fleet steps, printed by the
    // dry-run backends: container, CNI ADD, start, balancer, and back.
    let count = |needle: &str| out.lines().filter(|l| l.contains(needle)).count();
    let peak = *set.iter().max().unwrap() as usize;
    let last = *set.last().unwrap() as usize;
    assert!(last < peak, "{set:?}");
    assert_eq!(
        count("would: containerd: prepare snapshot, create container"),
        peak
    );
    assert_eq!(count("would: cni: ADD app-"), peak);
    assert_eq!(count("would: containerd: delete task"), peak - last);
    assert_eq!(count("would: cni: DEL app-"), peak - last);
    assert!(
        out.contains(&format!("crest.plan={}", doc.plan.id)),
        "{out}"
    );
    assert!(
        out.contains("would: haproxy: set weight app/app-00001"),
        "{out}"
    );
    // Scale-in drains the newest instance first.
    let drain = format!("would: haproxy: set server app/app-{peak:05} state drain");
    assert!(out.contains(&drain), "{drain} not in {out}");
}

#[test]
fn bad_schedules_are_named_by_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "s.toml",
            "[[runs]]\nplan = \"p.json\"\nforse = true\n",
            &["forse", "line 3"][..],
        ),
        (
            "s.json",
            "{\"runs\": [\n  {\"plan\": \"p.json\",\n   \"force\": \"yes\"}\n]}\n",
            &["line 3", "\"force\"", "expected a boolean"][..],
        ),
        (
            "m.toml",
            "[[runs]]\nforce = true\n",
            &["missing field `plan`"][..],
        ),
        (
            "e.json",
            "{\"runs\": [{\"plan\": \"\"}]}",
            &["runs[0].plan"][..],
        ),
        (
            "missing.toml",
            "[[runs]]\nplan = \"nope.json\"\n",
            &["nope.json", "runs[0].plan"][..],
        ),
    ];
    for (name, text, needles) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let o = crest(&["run", "--schedule", name, "--dry-run"], dir.path());
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(name), "{name}: {err}");
        for n in needles {
            assert!(err.contains(n), "{name}: {n:?} not in {err}");
        }
        assert!(stdout(&o).is_empty(), "{name}: {}", stdout(&o));
    }
    // Neither backends nor --dry-run: nothing is done.
    let o = crest(&["run", "--schedule", "s.toml"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
    // A real run needs the containerd section.
    std::fs::write(dir.path().join("ok.toml"), "[[runs]]\nplan = \"p.json\"\n").unwrap();
    write_forecast(dir.path(), 4);
    plan(dir.path(), "p.json", &[]);
    std::fs::write(dir.path().join("a.toml"), "journal = \"j.sqlite\"\n").unwrap();
    let o = crest(
        &["run", "--schedule", "ok.toml", "--config", "a.toml"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("[containerd]"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("set app"), "{}", stdout(&o));
    // A level quantile outside 0..=1 is named before anything runs.
    for q in ["1.5", "-0.1", "NaN"] {
        let arg = format!("--level-quantile={q}");
        let o = crest(
            &[
                "run",
                "--schedule",
                "ok.toml",
                "--dry-run",
                "--prometheus",
                "http://127.0.0.1:9",
                "--target-rps-per-instance",
                "50",
                "--track-level",
                &arg,
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{q}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("--level-quantile"),
            "{q}: {}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{q}: {}", stdout(&o));
    }
}

/// A plan whose steps are not in time order is refused when read, naming
/// the file and the step, even with `--force` (it used to be executed).
#[test]
fn an_unordered_plan_is_refused_even_when_forced() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
    plan(dir.path(), "p.json", &[]);
    let path = dir.path().join("p.json");
    let mut doc: serde_json::Value = common::read_json(&path);
    let steps = doc["plan"]["steps"].as_array_mut().unwrap();
    assert!(
        steps.len() >= 2,
        "the forecast must give a plan of 2+ steps"
    );
    let first = steps[0]["at"].clone();
    steps[0]["at"] = steps[1]["at"].clone();
    steps[1]["at"] = first;
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    std::fs::write(dir.path().join("s.toml"), "[[runs]]\nplan = \"p.json\"\n").unwrap();
    let mut args = vec!["run", "--schedule", "s.toml", "--force"];
    args.extend_from_slice(&REHEARSE);
    let o = crest(&args, dir.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("p.json"), "{err}");
    assert!(err.contains("out of order at index 1"), "{err}");
    assert!(!stdout(&o).contains("set app"), "{}", stdout(&o));
}

#[test]
fn a_plan_failing_reverification_is_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 4);
    // Sized for the median at full utilisation: the gate fails it.
    plan(
        dir.path(),
        "median.json",
        &["--risk", "p50", "--utilisation", "1.0"],
    );
    std::fs::write(
        dir.path().join("s.toml"),
        "[[runs]]\nplan = \"median.json\"\n",
    )
    .unwrap();
    let mut args = vec!["run", "--schedule", "s.toml"];
    args.extend_from_slice(&REHEARSE);
    let o = crest(&args, dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("-> FAIL"), "{out}");
    assert!(out.contains("not executed"), "{out}");
    assert!(!out.contains("would:"), "{out}");
    assert!(!out.contains("set app"), "{out}");

    // --force on the command line, or `force = true` on the run, executes it.
    let mut forced = args.clone();
    forced.push("--force");
    let o = crest(&forced, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("dry-run: set app replicas"));
    std::fs::write(
        dir.path().join("f.toml"),
        "[[runs]]\nplan = \"median.json\"\nforce = true\n",
    )
    .unwrap();
    args[2] = "f.toml";
    let o = crest(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("done"), "{}", stdout(&o));
}

/// The real backends, as `scripts/bench-scale-out.sh` starts them
/// (`scripts/lib/real-backends.sh`: a private containerd, a CNI bridge on a
/// private subnet, HAProxy on 127.0.0.1); `crest run --config` follows a plan
/// through them, then `crest scale app 0` removes everything. The script
/// cleans up on exit whatever happens.
const REAL_BACKENDS: &str = r#"set -euo pipefail
# Env: HERE (the repository), CREST (the binary), PLAN (a plan document).
source "$HERE/scripts/lib/real-backends.sh"
real_backends_up crest-run-e2e app 10.219.32.0/24
printf '[[runs]]\nplan = "%s"\n' "$PLAN" > "$T/s.toml"
rc=0; "$CREST" run --schedule "$T/s.toml" --config "$T/scale.toml" --start-now --speed 2000 --reverify-before 1m --engine fluid || rc=$?
echo "crest run exit $rc"
echo "running tasks: $(rb_tasks)"
echo "lb servers: $(rb_lb_servers app)"
echo "ips: $(rb_ips)"
"$CREST" scale app 0 --config "$T/scale.toml" >/dev/null
echo "after scale 0: containers $(rb_containers) ips $(rb_ips) lb $(rb_lb_servers app)"
# Containers that run but serve nothing: reported, exit 1, kept until removed.
sed -e 's|busybox httpd -f -p 8080 -h /www|sleep 600|' -e 's/^health_wait_ms = .*/health_wait_ms = 1500/' \
  "$T/scale.toml" > "$T/idle.toml"
rc=0; "$CREST" scale app 2 --config "$T/idle.toml" >/dev/null 2>"$T/idle.err" || rc=$?
echo "unhealthy scale exit $rc: $(grep -c "2 new instance(s) running but not passing the balancer's health check" "$T/idle.err")"
echo "idle: running $(rb_tasks) lb $(rb_lb_servers app)"
"$CREST" scale app 0 --config "$T/idle.toml" >/dev/null
echo "after idle: containers $(rb_containers) ips $(rb_ips) lb $(rb_lb_servers app)"
"#;

#[test]
fn real_backends_follow_the_plan_and_leave_nothing() {
    let tools = [
        "containerd",
        "ctr",
        "runc",
        "haproxy",
        "socat",
        "ip",
        "/usr/lib/cni/bridge",
        "/usr/lib/cni/host-local",
        "/bin/busybox",
    ];
    if let Some(t) = missing_tool(&tools) {
        crest_core::services::skip_or_fail("cli_run", &format!("{t} is missing (CI installs it)"));
        return;
    }
    if !is_root() {
        crest_core::services::skip_or_fail("cli_run", "containerd and CNI need root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_forecast(dir.path(), 6);
    // 100 rps per instance: a dozen containers at the crest.
    let o = crest(
        &[
            "plan",
            "--forecast",
            "forecast.json",
            "--per-instance-qps",
            "100",
            "--output",
            "p.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: PlanDocument = common::read_json(dir.path().join("p.json"));
    let want = plan_counts(&doc);
    std::fs::write(dir.path().join("e2e.sh"), REAL_BACKENDS).unwrap();
    let o = Command::new("bash")
        .arg(dir.path().join("e2e.sh"))
        .env("HERE", env!("CARGO_MANIFEST_DIR"))
        .env("CREST", env!("CARGO_BIN_EXE_crest"))
        .env("PLAN", dir.path().join("p.json"))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("crest run exit 0"), "{out}\n{}", stderr(&o));
    let set: Vec<u32> = out
        .lines()
        .filter_map(|l| l.split("applied: set app replicas -> ").nth(1))
        .map(|r| {
            r.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    // Steps hours apart: at speed 2000 none is overtaken.
    assert_eq!(set, want, "{out}");
    let last = want.last().unwrap();
    assert!(out.contains(&format!("running tasks: {last}\n")), "{out}");
    assert!(out.contains(&format!("lb servers: {last}\n")), "{out}");
    assert!(out.contains(&format!("ips: {last}\n")), "{out}");
    assert!(
        out.contains("after scale 0: containers 0 ips 0 lb 0"),
        "{out}"
    );
    assert!(out.contains("unhealthy scale exit 1: 1\n"), "{out}");
    assert!(out.contains("idle: running 2 lb 2\n"), "{out}");
    assert!(out.contains("after idle: containers 0 ips 0 lb 0"), "{out}");
}

/// The replica counts `crest run` set, from its `replicas -> N` lines.
fn replica_counts(lines: &[String]) -> Vec<u32> {
    lines
        .iter()
        .filter_map(|l| l.split("replicas -> ").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A real Prometheus scraping a crest-loadlab server under open-loop load,
/// and a one-instance plan (10 rps forecast at 20 per instance) to run
/// against it with `crest run --prometheus`.
struct LiveRig {
    dir: tempfile::TempDir,
    /// Kept alive: the loadlab server and load generator run on it.
    _rt: tokio::runtime::Runtime,
    prom: crest_prometheus::local::LocalPrometheus,
    load: crest_loadlab::loadgen::LoadGenHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Evaluation period of the live runs, seconds.
const PERIOD_S: u64 = 4;

impl LiveRig {
    /// `None` when Prometheus is not installed (skipped, or failed under CI).
    #[allow(clippy::disallowed_methods)] // waits for a real Prometheus on the wall clock
    fn start(test: &str, rps: f64) -> Option<LiveRig> {
        use std::time::Duration;
        let Some(bin) = crest_prometheus::local::prometheus_binary() else {
            crest_core::services::skip_or_fail(
                test,
                "prometheus is not installed (CI installs it)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut q = std::collections::BTreeMap::new();
        for l in [0.1, 0.5, 0.9, 0.975] {
            q.insert(
                crest_core::series::Quantile::try_new(l).unwrap(),
                vec![10.0; 12],
            );
        }
        let f = crest_core::Forecast::try_new(
            "web",
            crest_core::Timestamp::from_secs(1_417_046_400),
            1800,
            vec![10.0; 12],
            q,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("forecast.json"),
            serde_json::to_string(&f).unwrap(),
        )
        .unwrap();
        plan(dir.path(), "p.json", &[]);
        let doc: PlanDocument = common::read_json(dir.path().join("p.json"));
        let app = doc.plan.app.to_string();
        assert!(plan_counts(&doc).iter().all(|n| *n <= 1), "{doc:?}");

        let rt = tokio::runtime::Runtime::new().unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let target = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(crest_loadlab::server::run(
            listener,
            crest_loadlab::server::TestServerConfig {
                name: "s0".into(),
                workers: 16,
                service_time: Duration::from_millis(5),
            },
            async move {
                let _ = stopped.await;
            },
        ));
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: loadlab\n    static_configs:\n      - targets: ['{target}']\n        labels:\n          app: {app}\n"
        );
        let prom = crest_prometheus::local::LocalPrometheus::start(&bin, dir.path(), &config, &[])
            .unwrap();
        let client =
            crest_prometheus::Client::new(&crest_prometheus::ClientConfig::new(prom.url()))
                .unwrap();
        let mut scraped = false;
        for _ in 0..100 {
            scraped = rt
                .block_on(client.query("count_over_time(up{job=\"loadlab\"}[10s]) >= 2", None))
                .is_ok_and(|v| !v.is_empty());
            if scraped {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(scraped, "prometheus never scraped: {}", prom.log_tail());
        let load = {
            let _enter = rt.enter();
            crest_loadlab::loadgen::spawn(crest_loadlab::loadgen::LoadGenConfig::get(
                format!("http://{target}/").parse().unwrap(),
                rps,
            ))
            .unwrap()
        };
        Some(LiveRig {
            dir,
            _rt: rt,
            prom,
            load,
            stop: Some(stop),
        })
    }

    /// `crest run` on the plan with live demand and `extra` arguments; its
    /// stdout lines arrive on the receiver.
    fn run(&self, extra: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader};
        use std::process::Stdio;
        let url = self.prom.url();
        let mut args = vec![
            "run",
            "--schedule",
            "p.json",
            "--dry-run",
            "--start-now",
            "--reverify-before",
            "1s",
            "--engine",
            "fluid",
            "--force",
            "--prometheus",
            &url,
            "--demand-query",
            r#"sum(rate(http_requests_total{app="{app}"}[4s]))"#,
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_crest"))
            .current_dir(self.dir.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        (child, rx)
    }
}

impl Drop for LiveRig {
    fn drop(&mut self) {
        self.load.stop();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Read lines from `rx` into `lines` until `ok` holds; panics after `secs`.
#[allow(clippy::disallowed_methods)] // the run is on the wall clock
fn wait_until(
    rx: &std::sync::mpsc::Receiver<String>,
    lines: &mut Vec<String>,
    what: &str,
    secs: u64,
    ok: &dyn Fn(&[String]) -> bool,
) {
    use std::time::{Duration, Instant};
    let until = Instant::now() + Duration::from_secs(secs);
    while !ok(lines) {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("{what} within {secs} s; output:\n{}", lines.join("\n")),
        }
    }
}

/// `crest run --prometheus`: live demand from a real Prometheus scraping a
/// crest-loadlab server joins a one-instance plan. At 20 rps and a target
/// of 5 rps per instance the fleet goes to 4; a step to 60 rps reaches it
/// within two evaluation periods; with Prometheus killed (and the load
/// gone) it is held, not scaled in.
#[test]
#[allow(clippy::disallowed_methods)] // a real Prometheus and a real server run on the wall clock
fn live_prometheus_demand_lifts_the_plan_and_missing_data_holds_the_fleet() {
    use std::time::{Duration, Instant};
    let Some(mut rig) = LiveRig::start(
        "live_prometheus_demand_lifts_the_plan_and_missing_data_holds_the_fleet",
        20.0,
    ) else {
        return;
    };
    let period = format!("{PERIOD_S}s");
    let (mut child, rx) = rig.run(&["--target-rps-per-instance", "5", "--period", &period]);
    let mut lines: Vec<String> = Vec::new();
    // 20 rps at 5 per instance: 4, above the plan's 1.
    wait_until(&rx, &mut lines, "4 instances at 20 rps", 60, &|l| {
        replica_counts(l).last().is_some_and(|n| *n >= 4)
    });
    // Past HPA's 15 s scale-up window (at most +100 % or +4 per window), so
    // the step can double the fleet at once.
    std::thread::sleep(Duration::from_secs(16));
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    rig.load.set_rate(60.0);
    let stepped = Instant::now();
    wait_until(
        &rx,
        &mut lines,
        "8+ instances after the step to 60 rps",
        3 * PERIOD_S,
        &|l| replica_counts(l).last().is_some_and(|n| *n >= 8),
    );
    let reaction = stepped.elapsed().as_secs_f64();
    eprintln!(
        "crest run: a step from 20 to 60 rps reached the fleet in {reaction:.1} s (period {PERIOD_S} s)"
    );
    assert!(
        reaction <= 2.0 * PERIOD_S as f64 + 1.0,
        "reaction {reaction:.1} s: more than two periods of {PERIOD_S} s"
    );
    let top = *replica_counts(&lines).last().unwrap();

    // Prometheus and the load gone: held, never scaled in.
    rig.prom.kill();
    rig.load.stop();
    wait_until(&rx, &mut lines, "a hold on missing data", 60, &|l| {
        l.iter().any(|x| x.contains("live demand unknown"))
    });
    let after = lines.len();
    std::thread::sleep(Duration::from_secs(2 * PERIOD_S));
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    assert!(
        replica_counts(&lines[after.min(lines.len())..])
            .iter()
            .all(|n| *n >= top),
        "scaled in on missing data:\n{}",
        lines.join("\n")
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `crest run --track-level`: the policy `crest rehearse` replays, run
/// against live demand. The plan forecasts 10 rps (one instance at 20 per
/// instance); the safety net's target (1000 rps per instance) never acts, so
/// every move is the level tracker's: at 40 rps (level 4) the fleet goes
/// above the plan, a step to 120 rps at least doubles it, and when
/// the load falls back to 20 rps it scales in again, below the step's
/// fleet (level tracking works both ways; the schedule alone would hold 1).
#[test]
#[allow(clippy::disallowed_methods)] // a real Prometheus and a real server run on the wall clock
fn track_level_follows_live_demand_both_ways() {
    let Some(rig) = LiveRig::start("track_level_follows_live_demand_both_ways", 40.0) else {
        return;
    };
    // Plan time runs 15x faster than the wall (a 60 s period every 4 s of
    // wall time), so the run reaches the forecast's window, which opens
    // after the plan's first step, within a minute.
    let (mut child, rx) = rig.run(&[
        "--target-rps-per-instance",
        "1000",
        "--track-level",
        "--speed",
        "15",
        "--period",
        "60s",
    ]);
    let mut lines: Vec<String> = Vec::new();
    wait_until(
        &rx,
        &mut lines,
        "the crest policy's margin line",
        30,
        &|l| {
            l.iter().any(|x| {
                x.contains("crest policy: level tracking with margin")
                    && x.contains("early ramps taken in")
            })
        },
    );
    wait_until(
        &rx,
        &mut lines,
        "2+ instances at 40 rps (level 4)",
        60,
        &|l| replica_counts(l).last().is_some_and(|n| *n >= 2),
    );
    let low = *replica_counts(&lines).last().unwrap();
    rig.load.set_rate(120.0);
    // 120 rps at 16 per instance (20 at the plan's 0.8): 8; at least double.
    wait_until(&rx, &mut lines, "a doubled fleet at 120 rps", 60, &|l| {
        replica_counts(l).last().is_some_and(|n| *n >= 2 * low)
    });
    let high = *replica_counts(&lines).last().unwrap();
    rig.load.set_rate(20.0);
    wait_until(
        &rx,
        &mut lines,
        "scale-in after the load falls to 20 rps",
        90,
        &|l| replica_counts(l).last().is_some_and(|n| *n < high / 2),
    );
    let _ = child.kill();
    let _ = child.wait();
}
