//! End to end on 127.0.0.1: a real HAProxy 2.6, N test servers of known
//! capacity (`workers / service time`), an open-loop load generator below
//! cluster capacity, and the probe reading p99 from the generator's report
//! endpoint. Skips (with a message) only when the haproxy binary is missing.
//!
//! The tests share the machine's two cores, so they run one at a time (a
//! static lock) to keep the timing honest.

#![allow(clippy::disallowed_methods)] // an end-to-end test runs in real time
#![allow(clippy::unwrap_used, clippy::expect_used)]
// harness helpers: a failed set-up should panic loudly
// Each test has its own runtime on its own thread; the std lock only serialises them.
#![allow(clippy::await_holding_lock)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crest_core::WallClock;
use crest_core::seams::LoadBalancer;
use crest_haproxy::HaproxyClient;
use crest_haproxy::process::{HaproxyConfig, HaproxyProcess, ServerSpec, haproxy_binary};
use crest_headroom::capacity;
use crest_headroom::journal::Journal;
use crest_headroom::{LoadgenLatency, ProbeConfig, ProbeController, StopReason};
use crest_loadlab::loadgen::{self, LoadGenConfig, LoadGenHandle};
use crest_loadlab::server::{self, SERVER_HEADER, TestServerConfig};

static SERIAL: Mutex<()> = Mutex::new(());

const WORKERS: u32 = 4;
const SERVICE_MS: u64 = 20;

struct Lab {
    _dir: tempfile::TempDir,
    hp: HaproxyProcess,
    servers: Vec<tokio::task::JoinHandle<()>>,
    kill: Vec<Option<tokio::sync::oneshot::Sender<()>>>,
    lg: LoadGenHandle,
    report_url: String,
    journal: std::path::PathBuf,
    true_qps: f64,
}

impl Lab {
    async fn start(n: usize, rate: f64) -> Option<Lab> {
        let Some(bin) = haproxy_binary() else {
            crest_core::services::skip_or_fail(
                module_path!(),
                "haproxy binary not found (set CREST_HAPROXY or install haproxy)",
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut specs = Vec::new();
        let mut servers = Vec::new();
        let mut kill = Vec::new();
        let mut true_qps = 0.0;
        for i in 0..n {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let cfg = TestServerConfig {
                name: format!("s{i}"),
                workers: WORKERS,
                service_time: Duration::from_millis(SERVICE_MS),
            };
            true_qps = cfg.capacity_rps();
            specs.push(ServerSpec {
                name: cfg.name.clone(),
                addr: l.local_addr().unwrap().to_string(),
                weight: 10,
            });
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            kill.push(Some(tx));
            servers.push(tokio::spawn(async move {
                let _ = server::run(l, cfg, async move {
                    let _ = rx.await;
                })
                .await;
            }));
        }
        let cfg = HaproxyConfig {
            backend: "app".into(),
            servers: specs,
            check_inter_ms: None,
            timeout_server_ms: 5000,
        };
        let hp = HaproxyProcess::start(&bin, dir.path(), &cfg).unwrap();
        let mut lgc = LoadGenConfig::get(format!("{}/", hp.frontend_url()).parse().unwrap(), rate);
        lgc.group_header = Some(SERVER_HEADER.into());
        lgc.timeout = Duration::from_secs(5);
        let lg = loadgen::spawn(lgc).unwrap();
        let rl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let report_url = format!("http://{}/report", rl.local_addr().unwrap());
        tokio::spawn(loadgen::serve_reports(
            rl,
            lg.clone(),
            std::future::pending(),
        ));
        // Let connections warm up.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let journal = dir.path().join("probe.journal");
        Some(Lab {
            _dir: dir,
            hp,
            servers,
            kill,
            lg,
            report_url,
            journal,
            true_qps,
        })
    }

    /// A failure test must not stop on the SLO before its fault is injected
    /// (the machine may be busy): the SLO is set far away.
    fn fault_cfg(&self) -> ProbeConfig {
        let mut c = self.probe_cfg();
        c.slo_p99_ms = 5000.0;
        c
    }

    fn probe_cfg(&self) -> ProbeConfig {
        let mut c = ProbeConfig::new("app", "s0", &self.journal);
        c.slo_p99_ms = 250.0;
        c.max_error_rate = 0.02;
        c.step = 15;
        c.max_weight = 250;
        c.settle_ms = 500;
        c.dwell_ms = 2000;
        c.samples = 4;
        c.restore_timeout_ms = 10_000;
        c
    }

    fn controller(
        &self,
        cfg: ProbeConfig,
    ) -> ProbeController<HaproxyClient, LoadgenLatency, WallClock> {
        ProbeController::try_new(
            self.hp.client(),
            LoadgenLatency::new(&self.report_url),
            WallClock,
            cfg,
        )
        .unwrap()
    }

    async fn weights(&self) -> BTreeMap<String, u16> {
        self.hp
            .client()
            .servers("app")
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.weight))
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.lg.stop();
        for s in &self.servers {
            s.abort();
        }
    }
}

fn all_ten(w: &BTreeMap<String, u16>) -> bool {
    w.values().all(|v| *v == 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_estimates_capacity_within_5_percent() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // 4 servers x 200 req/s = 800 req/s; 280 req/s offered (35 % busy).
    let Some(lab) = Lab::start(4, 280.0).await else {
        return;
    };
    let ctl = lab.controller(lab.probe_cfg());
    let report = ctl.run(std::future::pending()).await.unwrap();
    for s in &report.steps {
        eprintln!(
            "w={:3} offered={:6.1} tp={:6.1} p99={:7.1} err={:.3} sat={} backlog={:+.0}",
            s.weight,
            s.offered_rps,
            s.throughput_rps,
            s.p99_ms,
            s.error_rate,
            s.saturated,
            s.backlog_growth
        );
    }
    let fit = capacity::fit(&report).unwrap();
    let cap = capacity::to_capacity(&report, &fit).unwrap();
    let load = capacity::backend_load(&report);
    let h = capacity::headroom(&cap, report.servers_up, load);
    let est = cap.per_instance.get();
    let err_pct = 100.0 * (est - lab.true_qps) / lab.true_qps;
    let restored = all_ten(&lab.weights().await);
    println!(
        "BENCH {}",
        serde_json::json!({
            "true_qps": lab.true_qps,
            "estimated_qps": (est * 10.0).round() / 10.0,
            "error_pct": (err_pct * 100.0).round() / 100.0,
            "probe_s": report.duration_s,
            "slo_breach_steps": report.slo_breach_steps,
            "weights_restored": restored && report.weights_restored,
            "interval": cap.interval,
            "knee_weight": report.knee_weight,
            "stop": report.stop,
            "headroom": (h.headroom * 1000.0).round() / 1000.0,
            "steps": report.steps.len(),
        })
    );
    assert!(
        matches!(report.stop, StopReason::Knee | StopReason::Slo),
        "{:?}",
        report.stop
    );
    assert!(
        err_pct.abs() <= 5.0,
        "estimate {est} vs true {}",
        lab.true_qps
    );
    assert!(report.slo_breach_steps <= 1);
    assert!(report.duration_s < 180.0);
    assert!(restored && report.weights_restored);
    assert!(Journal::new(&lab.journal).read().unwrap().is_none());
    // 280 req/s on 4 x ~200: about 65 % spare.
    assert!(
        (h.headroom - (1.0 - 280.0 / (4.0 * est))).abs() < 0.05,
        "{h:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_killed_mid_run_is_restored_from_journal_at_next_start() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let ctl = lab.controller(lab.fault_cfg());
    // A crash: the probe's future is dropped mid-step, no restore code runs.
    let r =
        tokio::time::timeout(Duration::from_millis(3500), ctl.run(std::future::pending())).await;
    assert!(r.is_err(), "probe should still have been running");
    let w = lab.weights().await;
    assert!(w["s0"] > 10, "probe had raised the weight: {w:?}");
    assert!(Journal::new(&lab.journal).read().unwrap().is_some());
    // The next start restores before doing anything else.
    let ctl2 = lab.controller(lab.fault_cfg());
    assert!(ctl2.recover().await.unwrap());
    assert!(all_ten(&lab.weights().await));
    assert!(Journal::new(&lab.journal).read().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_probe_restores_weights() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let ctl = lab.controller(lab.fault_cfg());
    let cancel = tokio::time::sleep(Duration::from_millis(3000));
    let report = ctl.run(cancel).await.unwrap();
    assert_eq!(report.stop, StopReason::Cancelled);
    assert!(report.weights_restored && all_ten(&lab.weights().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_gone_mid_probe_restores_when_it_returns() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let ctl = lab.controller(lab.fault_cfg());
    let sock = lab.hp.socket.clone();
    let hidden = sock.with_extension("hidden");
    let mover = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3000)).await;
        std::fs::rename(&sock, &hidden).unwrap();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        std::fs::rename(&hidden, &sock).unwrap();
    });
    let report = ctl.run(std::future::pending()).await.unwrap();
    mover.await.unwrap();
    assert!(
        matches!(report.stop, StopReason::Aborted(ref m) if m.contains("haproxy")),
        "{:?}",
        report.stop
    );
    assert!(report.weights_restored && all_ten(&lab.weights().await));
    assert!(Journal::new(&lab.journal).read().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_gone_for_good_keeps_the_journal_for_the_next_start() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let mut cfg = lab.fault_cfg();
    cfg.restore_timeout_ms = 1000;
    let ctl = lab.controller(cfg);
    let sock = lab.hp.socket.clone();
    let hidden = sock.with_extension("hidden");
    let (s2, h2) = (sock.clone(), hidden.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3000)).await;
        std::fs::rename(&s2, &h2).unwrap();
    });
    let e = ctl.run(std::future::pending()).await.unwrap_err();
    assert!(e.to_string().contains("journal kept"), "{e}");
    std::fs::rename(&hidden, &sock).unwrap();
    assert!(!all_ten(&lab.weights().await));
    assert!(lab.controller(lab.fault_cfg()).recover().await.unwrap());
    assert!(all_ten(&lab.weights().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_dying_mid_probe_stops_and_restores() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let ctl = lab.controller(lab.fault_cfg());
    // The server shuts down: no new connections, keep-alive ones closed.
    let victim = lab.kill[0].take().unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(3200)).await;
        let _ = victim.send(());
    });
    let report = ctl.run(std::future::pending()).await.unwrap();
    assert!(
        matches!(report.stop, StopReason::ErrorRate | StopReason::Aborted(_)),
        "{:?}",
        report.stop
    );
    assert!(report.steps.len() <= 3, "{report:#?}");
    assert!(report.weights_restored && all_ten(&lab.weights().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_reload_mid_probe_is_noticed() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut lab) = Lab::start(3, 150.0).await else {
        return;
    };
    let cfg = lab.fault_cfg();
    let (client, url) = (lab.hp.client(), lab.report_url.clone());
    let ctl = ProbeController::try_new(client, LoadgenLatency::new(url), WallClock, cfg).unwrap();
    let probe = tokio::spawn(async move { ctl.run(std::future::pending()).await });
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let before = lab.hp.client().info().await.unwrap();
    lab.hp.restart().unwrap();
    let after = lab.hp.client().info().await.unwrap();
    assert!(before.reloaded_since(&after));
    let report = probe.await.unwrap().unwrap();
    assert!(
        matches!(report.stop, StopReason::Aborted(ref m) if m.contains("reloaded")),
        "{:?}",
        report.stop
    );
    assert!(report.weights_restored && all_ten(&lab.weights().await));
}
