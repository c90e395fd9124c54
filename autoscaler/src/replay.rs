//! Fluid replay: a coarse, fast model of a fleet the planner checks itself against.
//!
//! The discrete-event simulator (`crest-sim`) models requests, queues and
//! faults; it is the verdict that counts. This module is the planner's own
//! quick model — instances, a provisioning lead time, a token-bucket API rate
//! limit, and per-instance capacity at the SLO — fast enough to replay a plan
//! against hundreds of Monte Carlo scenarios in well under a second. It drives
//! any [`Policy`] through the same [`Observation`] the driver builds, so the
//! policies under test are the production code.
//!
//! Model, per tick of `tick_s`:
//! - demand is the series read as steps (default, as the simulator reads it)
//!   or linear between step midpoints;
//! - an instance asked for serves `lead_time_s` later; launches are limited by
//!   a bucket of `scale_out_rate.instances` tokens refilled over its period;
//!   scale-in cancels pending starts first, then stops serving instances;
//! - a tick *violates the SLO* when demand exceeds serving instances ×
//!   per-instance capacity at the SLO;
//! - policies see demand averaged over the trailing `metrics_window_s` (a
//!   metrics pipeline is never instant), and utilisation — what target
//!   tracking sees — is that demand over serving instances × saturation
//!   throughput (`saturation_factor` × SLO capacity), capped at 1;
//! - instance-hours count every instance from the moment it is asked for.

use std::collections::VecDeque;

use crest_core::action::InstanceId;
use crest_core::seams::{FleetState, InstancePhase, InstanceState, Metrics};
use crest_core::{AppId, Capacity, Replicas, ScalingPlan, Series, Timestamp};
use serde::{Deserialize, Serialize};

use crate::planner::RateLimit;
use crate::{Observation, Policy};

/// The fleet model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FluidModel {
    /// Per-instance capacity at the SLO.
    pub capacity: Capacity,
    /// Saturation throughput over SLO capacity (>= 1, default 1.25).
    pub saturation_factor: f64,
    /// Seconds from asking for an instance to it serving.
    pub lead_time_s: i64,
    /// Launch rate limit.
    pub scale_out_rate: RateLimit,
    /// Model tick, seconds (default 15).
    pub tick_s: i64,
    /// Policy evaluation interval, seconds (default 15, HPA's sync period).
    pub evaluate_every_s: i64,
    /// Price of one instance-hour.
    pub cost_per_instance_hour: f64,
    /// Policies see demand averaged over this trailing window, seconds
    /// (a metrics pipeline's scrape interval and rate window; 0 = instant).
    #[serde(default)]
    pub metrics_window_s: i64,
    /// How the demand series is read between its points.
    #[serde(default)]
    pub demand_shape: DemandShape,
}

impl FluidModel {
    /// Defaults around a capacity: 1.25 saturation, 5 min lead, 150 / 5 min,
    /// 15 s ticks and evaluations, 1.0 per instance-hour, 60 s metrics window.
    pub fn new(capacity: Capacity) -> Self {
        FluidModel {
            capacity,
            saturation_factor: 1.25,
            lead_time_s: 300,
            scale_out_rate: RateLimit::new(150, 300),
            tick_s: 15,
            evaluate_every_s: 15,
            cost_per_instance_hour: 1.0,
            metrics_window_s: 60,
            demand_shape: DemandShape::Steps,
        }
    }
}

/// One sampled point of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReplayPoint {
    /// Time.
    pub at: Timestamp,
    /// Demand, rps.
    pub demand_rps: f64,
    /// Serving instances.
    pub serving: u32,
    /// Serving plus starting instances.
    pub provisioned: u32,
    /// What the policy asked for.
    pub desired: u32,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// The policy's name.
    pub policy: String,
    /// Minutes in which demand exceeded serving capacity at the SLO.
    pub slo_violation_minutes: f64,
    /// Instance-hours paid for.
    pub instance_hours: f64,
    /// Instance-hours × price.
    pub cost: f64,
    /// Largest provisioned fleet.
    pub peak_instances: u32,
    /// Requests beyond SLO capacity over all requests.
    pub unserved_fraction: f64,
    /// One point per minute.
    pub timeline: Vec<ReplayPoint>,
}

/// How a demand series is read between its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandShape {
    /// Constant over each step (as the discrete-event simulator reads it):
    /// a 30-minute count jumps at the step boundary. The harsher reading for
    /// sudden crests, and the default.
    #[default]
    Steps,
    /// Linear between step midpoints (smooth).
    Linear,
}

/// Demand at `t`, read with `shape`; missing values count as 0.
pub fn demand_at_time(demand: &Series, t: Timestamp, shape: DemandShape) -> f64 {
    match shape {
        DemandShape::Steps => step_value(demand.values(), demand.start(), demand.step_s(), t),
        DemandShape::Linear => interpolate_mid(demand.values(), demand.start(), demand.step_s(), t),
    }
}

/// The value of the step containing `t` (clamped to the ends).
pub fn step_value(v: &[f64], start: Timestamp, step_s: i64, t: Timestamp) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = (t.millis() - start.millis()).div_euclid(step_s.max(1) * 1000);
    let i = usize::try_from(i.max(0)).unwrap_or(0).min(v.len() - 1);
    let y = v[i];
    if y.is_finite() { y.max(0.0) } else { 0.0 }
}

/// Linear between step midpoints over a bare path, flat beyond the first
/// and last midpoints.
pub fn interpolate_mid(v: &[f64], start: Timestamp, step_s: i64, t: Timestamp) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let x = (t.millis() - start.millis()) as f64 / (step_s.max(1) as f64 * 1000.0) - 0.5;
    let clean = |i: usize| {
        let y = v[i.min(v.len() - 1)];
        if y.is_finite() { y.max(0.0) } else { 0.0 }
    };
    if x <= 0.0 {
        return clean(0);
    }
    let i = x.floor() as usize;
    if i + 1 >= v.len() {
        return clean(v.len() - 1);
    }
    let w = x - i as f64;
    clean(i) * (1.0 - w) + clean(i + 1) * w
}

/// Replay `policy` (with `plan` in force) over `[from, to)` against `demand`,
/// starting from `initial` serving instances.
#[allow(clippy::too_many_arguments)]
pub fn replay(
    app: &AppId,
    policy: &mut dyn Policy,
    plan: Option<&ScalingPlan>,
    demand: &Series,
    from: Timestamp,
    to: Timestamp,
    initial: u32,
    model: &FluidModel,
) -> ReplayReport {
    let tick = model.tick_s.max(1);
    let per = model.capacity.per_instance.get();
    let sat = per * model.saturation_factor.max(1.0);
    let rate = model.scale_out_rate;
    let bucket_max = f64::from(rate.instances.max(1));
    let refill = f64::from(rate.instances) * tick as f64 / rate.period_s.max(1) as f64;
    let mut tokens = bucket_max;
    let mut serving: u32 = initial;
    let mut pending: VecDeque<(Timestamp, u32)> = VecDeque::new();
    let mut starting: u32 = 0;
    let mut desired: u32 = initial;
    let mut fleet = FleetState {
        app: app.clone(),
        at: from,
        desired: Replicas(initial),
        instances: Vec::new(),
    };
    let mut next_eval = from;
    let mut violation_ticks = 0u64;
    let mut inst_ticks = 0u64;
    let (mut demanded, mut unserved) = (0.0, 0.0);
    let mut peak = initial;
    let mut timeline = Vec::new();
    let window_ticks = usize::try_from(model.metrics_window_s.max(0) / tick)
        .unwrap_or(0)
        .max(1);
    let mut recent: VecDeque<f64> = VecDeque::with_capacity(window_ticks + 1);
    let mut t = from;
    let mut k: i64 = 0;
    while t < to {
        while pending.front().is_some_and(|(r, _)| *r <= t) {
            if let Some((_, m)) = pending.pop_front() {
                starting -= m;
                serving += m;
            }
        }
        let d = demand_at_time(demand, t, model.demand_shape);
        recent.push_back(d);
        while recent.len() > window_ticks {
            recent.pop_front();
        }
        if t >= next_eval {
            let seen = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
            sync_instances(&mut fleet.instances, serving, starting);
            fleet.at = t;
            fleet.desired = Replicas(desired);
            let metrics = Metrics {
                at: t,
                demand_rps: seen,
                throughput_rps: seen.min(f64::from(serving) * sat),
                p99_ms: f64::NAN,
                error_rate: 0.0,
                utilisation: if serving > 0 {
                    (seen / (f64::from(serving) * sat)).min(1.0)
                } else {
                    1.0
                },
                running: serving,
            };
            let obs = Observation {
                now: t,
                fleet: &fleet,
                metrics: &metrics,
                plan,
            };
            let dec = policy.decide(&obs);
            desired = dec.desired.0;
            next_eval = t.add_secs(model.evaluate_every_s.max(1));
            if let Some(n) = dec.evaluate_next
                && n > t
                && n < next_eval
            {
                next_eval = n;
            }
        }
        // Reconcile towards `desired` (level-triggered, every tick).
        tokens = (tokens + refill).min(bucket_max);
        let total = serving + starting;
        if desired > total {
            let add = (desired - total).min(tokens.floor() as u32);
            if add > 0 {
                tokens -= f64::from(add);
                if model.lead_time_s <= 0 {
                    serving += add;
                } else {
                    starting += add;
                    pending.push_back((t.add_secs(model.lead_time_s), add));
                }
            }
        } else if desired < total {
            let mut cut = total - desired;
            while cut > 0 {
                let Some(back) = pending.back_mut() else {
                    break;
                };
                let c = cut.min(back.1);
                back.1 -= c;
                starting -= c;
                cut -= c;
                if back.1 == 0 {
                    pending.pop_back();
                }
            }
            serving -= cut.min(serving);
        }
        let cap = f64::from(serving) * per;
        if d > cap + 1e-9 {
            violation_ticks += 1;
            unserved += d - cap;
        }
        demanded += d;
        inst_ticks += u64::from(serving + starting);
        peak = peak.max(serving + starting);
        if (k * tick) % 60 == 0 {
            timeline.push(ReplayPoint {
                at: t,
                demand_rps: d,
                serving,
                provisioned: serving + starting,
                desired,
            });
        }
        k += 1;
        t = t.add_secs(tick);
    }
    let instance_hours = inst_ticks as f64 * tick as f64 / 3600.0;
    ReplayReport {
        policy: policy.name().to_string(),
        slo_violation_minutes: violation_ticks as f64 * tick as f64 / 60.0,
        instance_hours,
        cost: instance_hours * model.cost_per_instance_hour,
        peak_instances: peak,
        unserved_fraction: if demanded > 0.0 {
            unserved / demanded
        } else {
            0.0
        },
        timeline,
    }
}

/// Keep the observed instance list in step with the counts (reusing entries).
fn sync_instances(list: &mut Vec<InstanceState>, serving: u32, starting: u32) {
    let want = (serving + starting) as usize;
    while list.len() < want {
        let i = list.len();
        list.push(InstanceState {
            id: InstanceId(crest_core::action::format_compact!("fluid-{i}")),
            phase: InstancePhase::Running,
            addr: None,
        });
    }
    list.truncate(want);
    for (i, inst) in list.iter_mut().enumerate() {
        inst.phase = if i < serving as usize {
            InstancePhase::Running
        } else {
            InstancePhase::Starting
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::{FixedPolicy, TargetMetric, TargetTrackingConfig, TargetTrackingPolicy};

    fn app() -> AppId {
        AppId::try_new("app").unwrap()
    }

    fn step_demand() -> Series {
        // 100 rps for an hour, then 1000 rps (a step) for an hour.
        let mut v = vec![100.0; 60];
        v.extend(vec![1000.0; 61]);
        Series::try_new("d", Timestamp(0), 60, v).unwrap()
    }

    #[test]
    fn fixed_fleet_accounting() {
        let model = FluidModel::new(Capacity::given(10.0, 100.0).unwrap());
        let mut p = FixedPolicy::new(Replicas(100));
        let r = replay(
            &app(),
            &mut p,
            None,
            &step_demand(),
            Timestamp(0),
            Timestamp::from_secs(7200),
            100,
            &model,
        );
        assert_eq!(r.slo_violation_minutes, 0.0);
        assert!((r.instance_hours - 200.0).abs() < 1e-9);
        assert_eq!(r.timeline.len(), 120);
        let mut small = FixedPolicy::new(Replicas(50));
        let r = replay(
            &app(),
            &mut small,
            None,
            &step_demand(),
            Timestamp(0),
            Timestamp::from_secs(7200),
            50,
            &model,
        );
        // Over capacity from ~59 min (interpolated ramp) to the end.
        assert!(
            (r.slo_violation_minutes - 60.5).abs() < 1.0,
            "{}",
            r.slo_violation_minutes
        );
    }

    #[test]
    fn reactive_lags_a_step_by_the_lead_time() {
        let mut model = FluidModel::new(Capacity::given(10.0, 100.0).unwrap());
        model.lead_time_s = 300;
        let mut p = TargetTrackingPolicy::try_new(
            TargetTrackingConfig::new(TargetMetric::Utilisation, 0.6).with_bounds(1, 1000),
        )
        .unwrap();
        let r = replay(
            &app(),
            &mut p,
            None,
            &step_demand(),
            Timestamp(0),
            Timestamp::from_secs(7200),
            17,
            &model,
        );
        // At least the 5 min lead time is lost at the step; it recovers later.
        assert!(
            r.slo_violation_minutes >= 5.0,
            "{}",
            r.slo_violation_minutes
        );
        assert!(
            r.slo_violation_minutes < 40.0,
            "{}",
            r.slo_violation_minutes
        );
        let last = r.timeline.last().unwrap();
        assert!(f64::from(last.serving) * 10.0 >= 1000.0);
    }
}
