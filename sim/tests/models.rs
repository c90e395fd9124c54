//! Behaviour of the models: balancers, provisioner, failures, autoscaler
//! seam, determinism, fluid mode; Little's law on every run (proptest).

use crest_autoscaler::{FixedPolicy, Policy, SchedulePolicy};
use crest_core::{AppId, PlanReason, PlanStep, Replicas, ScalingPlan, Series, Timestamp};
use crest_sim::{
    ApiMode, Burst, Failures, Fleet, LbPolicy, Mode, PolicySpec, Provisioner, RateLimit, Scenario,
    ServiceDist, ZoneOutage, theory,
};
use proptest::prelude::*;

fn mmc(lb: LbPolicy) -> Scenario {
    Scenario::poisson(9.0)
        .with_fleet(Fleet::new(10, 1, ServiceDist::exp(1.0)))
        .with_lb(lb)
        .with_requests(300_000)
}

#[test]
fn same_seed_same_report_different_seed_different_report() {
    let sc = mmc(LbPolicy::SharedQueue);
    let mut a = crest_sim::run(&sc, 5).unwrap();
    let mut b = crest_sim::run(&sc, 5).unwrap();
    a.wall_s = 0.0;
    b.wall_s = 0.0;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let c = crest_sim::run(&sc, 6).unwrap();
    assert_ne!(a.mean_wait_s, c.mean_wait_s);
}

#[test]
fn per_server_balancers_wait_longer_than_a_shared_queue() {
    // Queueing at each server (no work conservation) is worse than one
    // shared queue; join-the-shortest (least-connections) is close to it and
    // far better than random.
    let shared = crest_sim::run(&mmc(LbPolicy::SharedQueue), 1)
        .unwrap()
        .mean_wait_s;
    let lc = crest_sim::run(&mmc(LbPolicy::LeastConnections), 1)
        .unwrap()
        .mean_wait_s;
    let rr = crest_sim::run(&mmc(LbPolicy::RoundRobin), 1)
        .unwrap()
        .mean_wait_s;
    let random = crest_sim::run(&mmc(LbPolicy::Random), 1)
        .unwrap()
        .mean_wait_s;
    assert!(
        shared < lc && lc < rr && rr < random,
        "{shared} {lc} {rr} {random}"
    );
    // Random split = 10 independent M/M/1 at rho 0.9: Wq = 9 s.
    assert!((random - 9.0).abs() / 9.0 < 0.15, "random {random}");
}

#[test]
fn timeouts_and_queue_limits_drop_requests() {
    let mut sc = mmc(LbPolicy::SharedQueue);
    sc.traffic.demand = crest_sim::Demand::Constant { rate_per_s: 12.0 };
    sc.fleet.timeout_s = Some(2.0);
    let r = crest_sim::run(&sc, 1).unwrap();
    assert!(r.dropped_timeout > 0);
    assert!(
        r.mean_wait_s <= 2.0 + 1e-9,
        "served requests waited at most the timeout"
    );
    sc.fleet.timeout_s = None;
    sc.fleet.max_queue = Some(5);
    let r = crest_sim::run(&sc, 1).unwrap();
    assert!(r.dropped_refused > 0);
    assert_eq!(
        r.requests_arrived,
        r.requests_completed + r.requests_dropped
    );
}

fn app() -> AppId {
    AppId::try_new("scenario").expect("a valid app id")
}

#[test]
fn the_real_schedule_policy_drives_the_fleet_through_the_seams() {
    // 2 instances, then a plan asks for 20 at t = 600 s; VMs take 600 s.
    let plan = ScalingPlan::try_new(
        app(),
        "p",
        vec![
            PlanStep {
                at: Timestamp::from_secs(0),
                replicas: Replicas(2),
                reason: PlanReason::Baseline,
            },
            PlanStep {
                at: Timestamp::from_secs(600),
                replicas: Replicas(20),
                reason: PlanReason::LeadTime { lead_s: 600 },
            },
        ],
    )
    .unwrap();
    let mut vm = Provisioner::vm();
    vm.lead_jitter_cv = 0.0;
    let sc = Scenario::poisson(10.0)
        .with_fleet(Fleet::new(2, 4, ServiceDist::exp(0.2)))
        .with_provisioner(vm)
        .with_duration_s(3600.0);
    let r =
        crest_sim::run_with_policy(&sc, Box::new(SchedulePolicy::new()), Some(plan), 1).unwrap();
    assert_eq!(r.policy, "schedule");
    assert!(r.evaluations > 100);
    let at = |t: f64| r.timeline.iter().find(|p| p.t_s >= t).unwrap();
    assert_eq!(at(600.0).desired, 20);
    assert_eq!(at(600.0).instances, 2, "VMs are not ready yet");
    assert_eq!(at(1260.0).instances, 20, "ready after the 600 s lead time");
    // 2 instances for 1200 s + 18 more booting from 600 s: 2 h + 18 * 3000 s.
    let expect_h = (2.0 * 3600.0 + 18.0 * 3000.0) / 3600.0;
    assert!(
        (r.instance_hours - expect_h).abs() < 0.05,
        "{} vs {expect_h}",
        r.instance_hours
    );
}

/// When `n` instances first serve, from one, with a VM provisioner (fixed
/// lead time, `lead_time_s` when given) rate limited to 10 per `per_s` in
/// `mode`, under `policy`.
fn first_serving(
    mode: ApiMode,
    per_s: f64,
    lead_time_s: Option<f64>,
    policy: PolicySpec,
    duration_s: f64,
    n: u32,
) -> Option<f64> {
    let mut p = Provisioner::vm();
    p.lead_time_s = lead_time_s.unwrap_or(p.lead_time_s);
    p.lead_jitter_cv = 0.0;
    p.rate_limit = Some(RateLimit {
        instances: 10,
        per_s,
        mode,
    });
    let sc = Scenario::poisson(1.0)
        .with_fleet(Fleet::new(1, 1, ServiceDist::exp(0.1)))
        .with_provisioner(p)
        .with_policy(policy)
        .with_duration_s(duration_s);
    let r = crest_sim::run(&sc, 1).expect("the scenario runs");
    r.timeline.iter().find(|p| p.instances == n).map(|p| p.t_s)
}

/// Lead times come from a random stream of their own: with one seed, the
/// same launches boot at the same times however many draws the requests
/// took before them. The exact and fluid engines (which draw requests very
/// differently) then give a scale-out the same lead time, and so does a
/// replay of a heavier load.
#[test]
fn lead_times_do_not_depend_on_the_requests_drawn() {
    let boots = |rate: f64| {
        let mut p = Provisioner::vm();
        p.lead_time_s = 300.0;
        p.lead_jitter_cv = 0.5;
        let sc = Scenario::poisson(rate)
            .with_fleet(Fleet::new(1, 1, ServiceDist::exp(0.1)))
            .with_provisioner(p)
            .with_policy(PolicySpec::Fixed { replicas: 20 })
            .with_duration_s(1800.0);
        let r = crest_sim::run(&sc, 3).expect("the scenario runs");
        r.timeline.iter().map(|p| p.instances).collect::<Vec<_>>()
    };
    let (light, heavy) = (boots(1.0), boots(5.0));
    assert_eq!(light, heavy);
    // The 19 launches boot at several different times (jittered), and all
    // of them by the end.
    let mut levels = light.clone();
    levels.dedup();
    assert!(levels.len() >= 5, "{levels:?}");
    assert_eq!(light.last(), Some(&20));
}

#[test]
fn sync_rate_limit_batches_wait_for_each_other() {
    let run = |mode| {
        let fixed = PolicySpec::Fixed { replicas: 31 };
        first_serving(mode, 60.0, None, fixed, 3.0 * 3600.0, 31)
    };
    // Async: batches at 15, 75, 135 s, all ready ~600 s later -> ~735 s.
    // Sync: each batch waits for the previous one to boot: 15, 615, 1215 -> ~1815 s.
    let a = run(ApiMode::Async).unwrap();
    let s = run(ApiMode::Sync).unwrap();
    assert!((700.0..=800.0).contains(&a), "async {a}");
    assert!((1800.0..=1900.0).contains(&s), "sync {s}");
}

#[test]
fn a_token_bucket_launches_a_second_ask_at_once_where_batches_wait_a_window() {
    // One instance asked for at 0 s, ten more at 120 s, a limit of 10 per
    // 300 s, 60 s to boot. Batches: the first (one instance) spends the
    // window, so the ten go out when it is over and serve at ~360 s; a
    // bucket has 9 tokens left at 120 s and a tenth 30 s later: all are
    // launched by ~150 s and serve by ~210 s.
    let run = |mode| {
        let steps = PolicySpec::Schedule {
            steps: vec![(0.0, 2), (120.0, 12)],
        };
        first_serving(mode, 300.0, Some(60.0), steps, 3600.0, 12)
    };
    let b = run(ApiMode::Bucket).unwrap();
    let a = run(ApiMode::Async).unwrap();
    assert!((180.0..=300.0).contains(&b), "bucket {b}");
    assert!(a >= 350.0, "async {a}");
}

#[test]
fn zone_outage_loses_a_third_and_replacements_come_back() {
    let mut p = Provisioner::container();
    p.lead_jitter_cv = 0.0;
    let mut fleet = Fleet::new(30, 2, ServiceDist::exp(0.1));
    fleet.zones = 3;
    let sc = Scenario::poisson(100.0)
        .with_fleet(fleet)
        .with_provisioner(p)
        .with_policy(PolicySpec::Fixed { replicas: 30 })
        .with_failures(Failures {
            crash_rate_per_hour: 0.0,
            zone_outages: vec![ZoneOutage {
                at_s: 600.0,
                zone: 1,
            }],
        })
        .with_duration_s(1800.0);
    let r = crest_sim::run(&sc, 1).unwrap();
    assert_eq!(r.instances_failed, 10);
    let at = |t: f64| r.timeline.iter().find(|p| p.t_s >= t).unwrap();
    assert_eq!(at(480.0).instances, 30);
    assert_eq!(
        at(1200.0).instances,
        30,
        "replaced in the two healthy zones"
    );
    assert!((r.littles_law.relative_error) < 0.01);
}

#[test]
fn flash_crowd_raises_demand_for_its_duration() {
    let mut sc = Scenario::poisson(50.0)
        .with_fleet(Fleet::new(20, 4, ServiceDist::exp(0.1)))
        .with_duration_s(1800.0);
    sc.traffic.bursts = vec![Burst {
        at_s: 600.0,
        duration_s: 300.0,
        multiplier: 3.0,
    }];
    let r = crest_sim::run(&sc, 1).unwrap();
    let d = |t: f64| r.timeline.iter().find(|p| p.t_s >= t).unwrap().demand;
    assert!((d(60.0) - 50.0).abs() < 5.0);
    assert!((d(660.0) - 150.0).abs() < 10.0, "{}", d(660.0));
    assert!((r.requests_arrived as f64 - 50.0 * (1800.0 + 2.0 * 300.0)).abs() < 1000.0);
}

#[test]
fn nhpp_follows_the_series_and_fluid_agrees_with_exact() {
    // Two hours: 200 req/s then 600 req/s, 100 instances of concurrency 1
    // with 0.1 s service.
    let mut values = vec![200.0; 60];
    values.extend(vec![600.0; 60]);
    let s = Series::try_new("d", Timestamp::from_secs(1_700_000_000), 60, values).unwrap();
    let sc = Scenario::from_demand(s).with_fleet(Fleet::new(80, 1, ServiceDist::exp(0.1)));
    let exact = crest_sim::run(&sc.clone().with_mode(Mode::Exact), 1).unwrap();
    let fluid = crest_sim::run(&sc.with_mode(Mode::Fluid), 1).unwrap();
    assert_eq!(exact.mode, Mode::Exact);
    assert_eq!(fluid.mode, Mode::Fluid);
    let expect = 200.0 * 3600.0 + 600.0 * 3600.0;
    for r in [&exact, &fluid] {
        assert!((r.requests_arrived as f64 - expect).abs() / expect < 0.01);
    }
    let w = theory::mmc_mean_wait(600.0, 10.0, 80);
    assert!(w > 0.0);
    let rel = (fluid.mean_latency_s - exact.mean_latency_s).abs() / exact.mean_latency_s;
    assert!(
        rel < 0.05,
        "fluid {} exact {}",
        fluid.mean_latency_s,
        exact.mean_latency_s
    );
    let rel99 = (fluid.p99_latency_s - exact.p99_latency_s).abs() / exact.p99_latency_s;
    assert!(
        rel99 < 0.1,
        "fluid p99 {} exact {}",
        fluid.p99_latency_s,
        exact.p99_latency_s
    );
    assert!(fluid.events_processed * 20 < exact.events_processed);
}

#[test]
fn replications_give_a_confidence_interval_covering_erlang_c() {
    let sc = mmc(LbPolicy::SharedQueue).with_requests(500_000);
    let reps = crest_sim::replicate(&sc, 11, 8).unwrap();
    assert_eq!(reps.replications, 8);
    let i = reps.ci95["mean_wait_s"];
    let w = theory::mmc_mean_wait(9.0, 1.0, 10);
    assert!(i.half_width > 0.0);
    assert!(
        (i.mean - w).abs() < 3.0 * i.half_width.max(0.01),
        "{i:?} vs {w}"
    );
    let seeds: std::collections::BTreeSet<u64> = reps.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds.len(), 8);
}

#[test]
fn a_boxed_policy_runs_unchanged() {
    let sc = mmc(LbPolicy::SharedQueue).with_requests(50_000);
    let p: Box<dyn Policy> = Box::new(FixedPolicy::new(Replicas(12)));
    let r = crest_sim::run_with_policy(&sc, p, None, 1).unwrap();
    assert_eq!(r.peak_instances, 12);
    assert_eq!(r.scale_changes, 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Little's law holds on every run, whatever the balancer, service
    /// distribution, timeouts or failures: exactly when the run drains,
    /// up to the boundary term otherwise.
    #[test]
    fn littles_law_on_every_run(
        rate in 1.0f64..40.0,
        instances in 1u32..8,
        conc in 1u32..4,
        mean in 0.05f64..0.5,
        lb in prop_oneof![Just(LbPolicy::SharedQueue), Just(LbPolicy::RoundRobin), Just(LbPolicy::LeastConnections), Just(LbPolicy::Random)],
        dist in 0u8..3,
        timeout in proptest::option::of(0.2f64..3.0),
        crash in prop_oneof![Just(0.0), Just(5.0)],
        seed in 0u64..1000,
    ) {
        let service = match dist {
            0 => ServiceDist::exp(mean),
            1 => ServiceDist::Deterministic { mean_s: mean },
            _ => ServiceDist::Lognormal { mean_s: mean, cv: 1.5 },
        };
        let mut fleet = Fleet::new(instances, conc, service);
        fleet.timeout_s = timeout;
        let sc = Scenario::poisson(rate)
            .with_fleet(fleet)
            .with_lb(lb)
            .with_failures(Failures { crash_rate_per_hour: crash, zone_outages: vec![] })
            .with_requests(20_000);
        let r = crest_sim::run(&sc, seed).unwrap();
        prop_assert_eq!(r.requests_arrived, r.requests_completed + r.requests_dropped + r.requests_in_flight_at_end);
        if r.requests_in_flight_at_end == 0 {
            prop_assert!(r.littles_law.relative_error < 1e-6, "{:?}", r.littles_law);
        }
        // A fixed-length run of a stable system: the standard estimator is
        // off only by the boundary term of requests still inside at the end.
        let cap = f64::from(instances * conc) / mean;
        let mut d = sc.clone().with_duration_s(3600.0);
        d.run.requests = None;
        d.traffic.demand = crest_sim::Demand::Constant { rate_per_s: rate.min(0.7 * cap) };
        let r = crest_sim::run(&d, seed).unwrap();
        prop_assert!(r.littles_law.relative_error < 0.05, "{:?} in flight {}", r.littles_law, r.requests_in_flight_at_end);
    }
}

#[test]
fn fluid_at_risk_latency_keeps_the_violation_minutes() {
    // A fixed fleet of 40 x 2 slots (2,400 requests/s at saturation) under a
    // day whose demand climbs from 50 % to 99 % of saturation and back, so
    // that the afternoon's minutes sit on both sides of the 200 ms SLO.
    let values: Vec<f64> = (0..96)
        .map(|i| {
            let x = f64::from(i) / 96.0;
            2400.0 * (0.5 + 0.49 * (std::f64::consts::PI * x).sin())
        })
        .collect();
    let s = Series::try_new("d", Timestamp::from_secs(1_700_000_000), 900, values).unwrap();
    let fleet = Fleet::new(
        40,
        2,
        ServiceDist::Lognormal {
            mean_s: 1.0 / 30.0,
            cv: 0.5,
        },
    );
    let sc = Scenario::from_demand(s)
        .with_fleet(fleet)
        .with_mode(Mode::Fluid)
        .with_slo(200.0, 0.001);
    let at_risk = sc
        .clone()
        .with_fluid_latency(crest_sim::FluidLatency::AtRisk);
    let (mut sampled, mut skipping) = (Vec::new(), Vec::new());
    for seed in 1..=8 {
        let a = crest_sim::run(&sc, seed).unwrap();
        let b = crest_sim::run(&at_risk, seed).unwrap();
        // One random stream: skipping samples shifts the arrival draws too.
        let arrived = a.requests_arrived.abs_diff(b.requests_arrived) as f64;
        assert!(arrived < 1e-3 * a.requests_arrived as f64);
        assert_eq!(a.instance_hours, b.instance_hours);
        let rel = (a.mean_latency_s - b.mean_latency_s).abs() / a.mean_latency_s;
        eprintln!(
            "seed {seed}: mean latency {} vs {}",
            a.mean_latency_s, b.mean_latency_s
        );
        assert!(
            rel < 0.01,
            "mean latency {} vs {}",
            a.mean_latency_s,
            b.mean_latency_s
        );
        sampled.push(a.slo_violation_minutes);
        skipping.push(b.slo_violation_minutes);
    }
    eprintln!("violation minutes, sampled {sampled:?}, at-risk {skipping:?}");
    let (a, b): (u64, u64) = (sampled.iter().sum(), skipping.iter().sum());
    assert!(a > 40, "the day must have violation minutes: {a}");
    assert!(a.abs_diff(b) * 20 <= a, "sampled {a} vs at-risk {b}");
}
