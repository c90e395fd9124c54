//! Validation against queueing theory (10 M requests each, within 1 %), and
//! Little's law on every run.

use crest_sim::{Fleet, LbPolicy, Scenario, ServiceDist, SimReport, theory};

fn check_little(r: &SimReport) {
    assert!(
        r.littles_law.relative_error < 1e-6,
        "Little's law off on a drained run: {:?}",
        r.littles_law
    );
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b
}

#[test]
fn mm1_mean_wait_within_1_percent() {
    // rho = 0.7: Wq = rho / (mu - lambda) = 0.7 / 0.3
    let sc = Scenario::poisson(0.7)
        .with_fleet(Fleet::new(1, 1, ServiceDist::exp(1.0)))
        .with_requests(10_000_000);
    let r = crest_sim::run(&sc, 1).unwrap();
    let expect = theory::mmc_mean_wait(0.7, 1.0, 1);
    assert!((expect - 0.7 / 0.3).abs() < 1e-12);
    assert!(
        rel(r.mean_wait_s, expect) < 0.01,
        "M/M/1 Wq {} vs {expect}",
        r.mean_wait_s
    );
    // Sojourn time of M/M/1 is exponential with rate mu - lambda: p99 = ln(100) / 0.3.
    let p99 = 100f64.ln() / 0.3;
    assert!(
        rel(r.p99_latency_s, p99) < 0.02,
        "M/M/1 p99 {} vs {p99}",
        r.p99_latency_s
    );
    check_little(&r);
}

#[test]
fn mmc_erlang_c_within_1_percent() {
    // The scenario: 10 servers, lambda 9, mu 1 -> Wq = 0.6687 s.
    let sc = Scenario::poisson(9.0)
        .with_fleet(Fleet::new(10, 1, ServiceDist::exp(1.0)))
        .with_lb(LbPolicy::SharedQueue)
        .with_requests(10_000_000);
    let r = crest_sim::run(&sc, 1).unwrap();
    let expect = theory::mmc_mean_wait(9.0, 1.0, 10);
    assert!(
        rel(r.mean_wait_s, expect) < 0.01,
        "M/M/c Wq {} vs {expect}",
        r.mean_wait_s
    );
    assert!(rel(r.mean_latency_s, expect + 1.0) < 0.01);
    assert_eq!(r.requests_completed, 10_000_000);
    check_little(&r);
}

#[test]
fn md1_pollaczek_khinchine_within_1_percent() {
    let sc = Scenario::poisson(0.7)
        .with_fleet(Fleet::new(1, 1, ServiceDist::Deterministic { mean_s: 1.0 }))
        .with_requests(10_000_000);
    let r = crest_sim::run(&sc, 1).unwrap();
    let expect = theory::mg1_mean_wait(0.7, 1.0, 0.0);
    assert!(
        rel(r.mean_wait_s, expect) < 0.01,
        "M/D/1 Wq {} vs {expect}",
        r.mean_wait_s
    );
    check_little(&r);
}

#[test]
fn concurrency_slots_equal_servers() {
    // 2 instances of concurrency 5 behind a shared queue = M/M/10.
    let sc = Scenario::poisson(9.0)
        .with_fleet(Fleet::new(2, 5, ServiceDist::exp(1.0)))
        .with_requests(2_000_000);
    let r = crest_sim::run(&sc, 3).unwrap();
    let expect = theory::mmc_mean_wait(9.0, 1.0, 10);
    assert!(
        rel(r.mean_wait_s, expect) < 0.03,
        "{} vs {expect}",
        r.mean_wait_s
    );
}
