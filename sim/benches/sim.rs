//! `cargo bench -p crest-sim`: single-threaded speed of the exact kernel on
//! the M/M/c scenario (10 servers, λ = 9/s, exponential service of
//! 1 s, shared queue), printing requests/s and events/s, plus a 2-day
//! autoscaled crest in fluid mode. Plain `main` (harness = false): the figure
//! that matters is throughput of one long run, not a micro-benchmark.

use crest_sim::{Fleet, LbPolicy, Scenario, ServiceDist, theory};

fn main() {
    let requests: u64 = std::env::var("CREST_SIM_BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let sc = Scenario::poisson(9.0)
        .with_name("mmc-bench")
        .with_fleet(Fleet::new(10, 1, ServiceDist::exp(1.0)))
        .with_lb(LbPolicy::SharedQueue)
        .with_requests(requests);
    // Warm-up (page faults, branch predictors), then the measured runs.
    let _ = crest_sim::run(&sc.clone().with_requests(requests / 10), 99);
    let mut best = f64::INFINITY;
    let mut last = None;
    for seed in 1..=3 {
        let r = crest_sim::run(&sc, seed).expect("the bench scenario is valid");
        best = best.min(r.wall_s);
        last = Some(r);
    }
    let r = last.expect("three runs");
    let erlang = theory::mmc_mean_wait(9.0, 1.0, 10);
    println!(
        "mmc exact: {} requests, {} events; best of 3: {:.3} s wall = {:.2} M requests/s, {:.2} M events/s (single thread)",
        r.requests_arrived,
        r.events_processed,
        best,
        r.requests_arrived as f64 / best / 1e6,
        r.events_processed as f64 / best / 1e6
    );
    println!(
        "mmc exact: mean_wait_s {:.4} vs Erlang C {:.4} ({:+.2} %)",
        r.mean_wait_s,
        erlang,
        100.0 * (r.mean_wait_s - erlang) / erlang
    );
    println!(
        "BENCH requests_per_s={:.0} events_per_s={:.0}",
        r.requests_arrived as f64 / best,
        r.events_processed as f64 / best
    );
}
