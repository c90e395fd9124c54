//! crest-sim's fluid mode against its exact mode on scaled-down overload
//! transients: the backtest replays in fluid mode only because this holds
//! (within 1 SLO-violation minute and 2 % of instance-hours, on three seeds).

#![allow(clippy::unwrap_used)]

use crest_autoscaler::policies::{
    CombinedPolicy, Guard, TargetMetric, TargetTrackingConfig, TargetTrackingPolicy,
};
use crest_autoscaler::{FluidModel, Policy};
use crest_core::{Capacity, Replicas, Series, Timestamp};
use crest_planning::SimMode;
use crest_planning::replay::replay_sim;

fn reactive(target: f64) -> Box<dyn Policy> {
    let guard = Guard {
        min: Replicas(1),
        max: Replicas(1000),
        max_step_up: 1000,
        max_step_down: 5,
        scale_in_cooldown_s: 300,
    };
    Box::new(
        CombinedPolicy::try_new("reactive", guard).unwrap().with(
            TargetTrackingPolicy::try_new(
                TargetTrackingConfig::new(TargetMetric::Utilisation, target).with_bounds(1, 1000),
            )
            .unwrap(),
        ),
    )
}

/// Compare the two modes on `values` (requests/s per 5-minute step), seeds
/// 7, 8 and 9.
fn agree(name: &str, values: Vec<f64>, target: f64, max_ih_gap: f64) {
    for seed in 7..=9 {
        agree_on(name, values.clone(), target, max_ih_gap, seed);
    }
}

fn agree_on(name: &str, values: Vec<f64>, target: f64, max_ih_gap: f64, seed: u64) {
    let cap = Capacity::given(10.0, 200.0).unwrap();
    let model = FluidModel::new(cap.clone());
    let demand = Series::try_new(name, Timestamp::from_secs(1_700_000_000), 300, values).unwrap();
    let initial = cap.instances_for(demand.values()[0], target * 1.25);
    let run = |mode| {
        replay_sim(
            name,
            &demand,
            initial,
            reactive(target),
            None,
            &model,
            mode,
            seed,
        )
        .unwrap()
    };
    let (e, f) = (run(SimMode::Exact), run(SimMode::Fluid));
    let dv = (e.slo_violation_minutes - f.slo_violation_minutes).abs();
    let dih = (e.instance_hours - f.instance_hours).abs() / e.instance_hours;
    eprintln!(
        "{name} seed {seed}: exact {:.0} min {:.2} ih, fluid {:.0} min {:.2} ih",
        e.slo_violation_minutes, e.instance_hours, f.slo_violation_minutes, f.instance_hours
    );
    assert!(
        dv <= 1.0,
        "{name} seed {seed}: violation minutes differ by {dv}"
    );
    assert!(
        dih <= max_ih_gap,
        "{name} seed {seed}: instance-hours differ by {:.1} %",
        100.0 * dih
    );
}

#[test]
fn a_ramp_faster_than_the_lead_time() {
    // 20 rps for an hour, then x5 within one 5-minute step, held for 2 hours.
    let v = (0..48).map(|i| if i < 12 { 20.0 } else { 100.0 }).collect();
    agree("ramp", v, 0.6, 0.02);
}

#[test]
fn the_dip_and_surge_of_new_years_eve() {
    // Evening plateau, a lull at the ball drop, a surge twice the plateau.
    let v = (0..48)
        .map(|i| match i {
            0..18 => 50.0,
            18..22 => 25.0,
            22..34 => 100.0,
            _ => 60.0,
        })
        .collect();
    // Measured (seed 7): exact 8 min / 16.38 ih, fluid 9 min / 16.30 ih.
    // Until fluid mode integrated busy slots unrounded, fluid read 0.50
    // utilisation where exact read 0.42 at the 50 rps plateau and kept 4
    // instances where exact kept 3: 17.89 ih, 9.2 % more.
    agree("dip-and-surge", v, 0.6, 0.02);
}
