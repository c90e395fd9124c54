//! Temporary development harness (to be removed).
#![allow(missing_docs, clippy::unwrap_used)]
use crest_autoscaler::FluidModel;
use crest_autoscaler::planner::{PlannerConfig, RateLimit, Window};
use crest_autoscaler::rehearsal::{RehearsalConfig, StrategyResult, rehearse_fluid, target_met};
use crest_core::{AppId, Capacity, Forecast, Replicas, Series, Timestamp};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let csv = std::fs::read_to_string(&args[1]).unwrap();
    let mut f: Forecast =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).unwrap()).unwrap();
    let k: f64 = args.get(3).map_or(100.0, |s| s.parse().unwrap()) / 1800.0;
    let mut vals = Vec::new();
    let mut start = None;
    for line in csv.lines().skip(1) {
        let (t, v) = line.split_once(',').unwrap();
        let dt = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap();
        start.get_or_insert(Timestamp::from_naive_utc(&dt));
        vals.push(v.parse::<f64>().unwrap() * k);
    }
    let actual = Series::try_new("nyc", start.unwrap(), 1800, vals).unwrap();
    for v in f.mean.iter_mut().chain(f.quantiles.values_mut().flatten()) {
        *v *= k;
    }
    let cap = Capacity::given(50.0, 200.0).unwrap();
    let app = AppId::try_new("taxi").unwrap();
    let mut planner = PlannerConfig::new(app.clone(), "nye");
    planner.lead_time_s = 300;
    planner.scale_out_rate = RateLimit::new(150, 300);
    planner.scale_in_rate = RateLimit::new(5, 60);
    planner.min = Replicas(2);
    planner.max = Replicas(1000);
    planner.risk = 0.9;
    planner.target_utilisation = args.get(4).map_or(0.8, |s| s.parse().unwrap());
    let mut model = FluidModel::new(cap.clone());
    model.lead_time_s = 300;
    let window = Window {
        from: f.start,
        to: f.time_at(f.horizon()),
    };
    let cfg = RehearsalConfig {
        app,
        capacity: cap,
        model,
        planner,
        reactive_target: args.get(5).map_or(0.6, |s| s.parse().unwrap()),
        crest_reactive_target: args.get(6).map_or(0.75, |s| s.parse().unwrap()),
        static_utilisation: 0.8,
        window,
    };
    let (reports, _o) = rehearse_fluid(&cfg, &f, &actual).unwrap();
    let res: Vec<StrategyResult> = reports.iter().map(StrategyResult::from).collect();
    for r in &res {
        println!(
            "{:12} viol {:6.1} min  ih {:8.1}  peak {:4}  unserved {:.4}",
            r.name,
            r.slo_violation_minutes,
            r.instance_hours,
            r.peak_instances,
            r.unserved_fraction
        );
    }
    println!("target met: {:?}  plan ih {:.1}", target_met(&res), _o.instance_hours);
    if std::env::var("TL").is_ok() {
        for i in (0..reports[0].timeline.len()).step_by(30) {
            let p = |k: usize| reports[k].timeline[i];
            println!("{} d {:6.0}  st {:3}  re {:3}/{:3}  cr {:3}/{:3} plan {:?}", p(0).at, p(0).demand_rps, p(0).provisioned, p(1).serving, p(1).provisioned, p(2).serving, p(2).provisioned, _o.plan.desired_at(p(0).at).map(|r| r.0));
        }
    }
}
