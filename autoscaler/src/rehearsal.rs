//! The holiday rehearsal: three ways to meet the same crest.
//!
//! On the same actual demand, compare
//!
//! - **static-peak** — the old VM practice: a week ahead, provision for the
//!   forecast's highest quantile at its peak and hold it ([`FixedPolicy`]);
//! - **reactive** — target tracking alone, HPA semantics and defaults
//!   ([`TargetTrackingPolicy`]), which must wait for load to show up and then
//!   for instances to boot;
//! - **crest** — the verified plan followed by a [`PredictivePolicy`]
//!   (corrected by live deviation from the forecast), with target tracking as
//!   a safety net above it, combined by a [`CombinedPolicy`].
//!
//! This module builds the three policies from one forecast and one set of
//! constraints and replays them on the fluid model; the binary can hand the
//! same policies to the discrete-event simulator instead. Everything is a
//! function of its inputs.

use crest_core::{AppId, Capacity, Forecast, Replicas, ScalingPlan, Series, Timestamp};
use serde::{Deserialize, Serialize};

use crate::planner::{PlanOutcome, PlannerConfig, Window, demand_at, plan};
use crate::policies::{
    CombinedPolicy, FixedPolicy, Guard, PredictiveConfig, PredictivePolicy, TargetMetric,
    TargetTrackingConfig, TargetTrackingPolicy,
};
use crate::replay::{FluidModel, ReplayReport, demand_at_time, replay};
use crate::{AutoscalerError, Policy};

/// Settings of a rehearsal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsalConfig {
    /// The app.
    pub app: AppId,
    /// Per-instance capacity at the SLO.
    pub capacity: Capacity,
    /// The fleet model (lead time, API rate, metrics lag, price).
    pub model: FluidModel,
    /// The planner settings for crest's plan (risk, utilisation, bounds, ...).
    pub planner: PlannerConfig,
    /// Utilisation target of the reactive baseline (of saturation throughput).
    pub reactive_target: f64,
    /// Utilisation target of crest's reactive safety net.
    pub crest_reactive_target: f64,
    /// Utilisation static peak provisioning is sized at (of SLO capacity).
    pub static_utilisation: f64,
    /// The window replayed.
    pub window: Window,
}

/// One strategy, ready to replay.
pub struct Strategy {
    /// "static-peak", "reactive" or "crest".
    pub name: String,
    /// Its policy.
    pub policy: Box<dyn Policy>,
    /// The plan in force, if any.
    pub plan: Option<ScalingPlan>,
    /// Instances serving when the window opens.
    pub initial: u32,
}

impl std::fmt::Debug for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Strategy")
            .field("name", &self.name)
            .field("policy", &self.policy.name())
            .field("initial", &self.initial)
            .finish()
    }
}

/// One strategy's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    /// Its name.
    pub name: String,
    /// SLO-violation minutes.
    pub slo_violation_minutes: f64,
    /// Instance-hours.
    pub instance_hours: f64,
    /// Cost.
    pub cost: f64,
    /// Largest fleet.
    pub peak_instances: u32,
    /// Requests beyond SLO capacity over all requests.
    pub unserved_fraction: f64,
}

impl From<&ReplayReport> for StrategyResult {
    fn from(r: &ReplayReport) -> Self {
        StrategyResult {
            name: r.policy.clone(),
            slo_violation_minutes: r.slo_violation_minutes,
            instance_hours: r.instance_hours,
            cost: r.cost,
            peak_instances: r.peak_instances,
            unserved_fraction: r.unserved_fraction,
        }
    }
}

/// Build the three strategies for a forecast of the window.
///
/// `actual_at_start` is the demand when the window opens (what the reactive
/// fleet has been sized for by then).
///
/// # Errors
/// [`AutoscalerError`] when the forecast or a setting is unusable.
pub fn strategies(
    cfg: &RehearsalConfig,
    forecast: &Forecast,
    actual_at_start: f64,
) -> Result<(Vec<Strategy>, PlanOutcome), AutoscalerError> {
    let cap = &cfg.capacity;
    let min = cfg.planner.min;
    let max = cfg.planner.max;
    // Static peak: the highest quantile's peak, held.
    let top_q = forecast
        .quantiles
        .keys()
        .last()
        .map_or(cfg.planner.risk, |q| q.level().max(cfg.planner.risk));
    let top = demand_at(forecast, top_q)?.into_iter().fold(0.0, f64::max);
    let static_n = cap
        .instances_for(top, cfg.static_utilisation)
        .clamp(min.0, max.0);

    // Reactive: HPA defaults around its target.
    let tt = |target: f64| {
        TargetTrackingPolicy::try_new(
            TargetTrackingConfig::new(TargetMetric::Utilisation, target).with_bounds(min.0, max.0),
        )
    };
    let sat = cfg.model.saturation_factor.max(1.0);
    let reactive_initial = cap
        .instances_for(actual_at_start, cfg.reactive_target * sat)
        .clamp(min.0, max.0);

    // crest: the plan, followed and corrected, with a reactive safety net.
    let mut pcfg = cfg.planner.clone();
    pcfg.current = Replicas(
        cap.instances_for(actual_at_start, cfg.planner.target_utilisation)
            .clamp(min.0, max.0),
    );
    let outcome = plan(forecast, cap, &pcfg)?;
    let mut pred_cfg = PredictiveConfig::new(cap.clone());
    pred_cfg.target_utilisation = cfg.planner.target_utilisation;
    pred_cfg.risk = cfg.planner.risk;
    pred_cfg.lead_time_s = cfg.planner.lead_time_s;
    pred_cfg.max = max;
    let mut predictive = PredictivePolicy::try_new(pred_cfg)?;
    predictive.set_forecast(forecast.clone())?;
    let guard = Guard {
        min,
        max,
        max_step_up: u32::MAX / 2,
        max_step_down: cfg.planner.scale_in_rate.instances.max(1),
        scale_in_cooldown_s: 300,
    };
    let crest = CombinedPolicy::try_new("crest", guard)?
        .with(predictive)
        .with(tt(cfg.crest_reactive_target)?);
    let crest_initial = outcome
        .plan
        .desired_at(cfg.window.from)
        .map_or(pcfg.current.0, |r| r.0);

    let out = vec![
        Strategy {
            name: "static-peak".into(),
            policy: Box::new(FixedPolicy::new(Replicas(static_n))),
            plan: None,
            initial: static_n,
        },
        Strategy {
            name: "reactive".into(),
            policy: Box::new(tt(cfg.reactive_target)?),
            plan: None,
            initial: reactive_initial,
        },
        Strategy {
            name: "crest".into(),
            policy: Box::new(crest),
            plan: Some(outcome.plan.clone()),
            initial: crest_initial,
        },
    ];
    Ok((out, outcome))
}

/// The three strategies replayed on the fluid model against `actual`.
///
/// # Errors
/// [`AutoscalerError`] when the forecast or a setting is unusable.
pub fn rehearse_fluid(
    cfg: &RehearsalConfig,
    forecast: &Forecast,
    actual: &Series,
) -> Result<(Vec<ReplayReport>, PlanOutcome), AutoscalerError> {
    let at_start = demand_at_time(actual, cfg.window.from, cfg.model.demand_shape);
    let (strategies, outcome) = strategies(cfg, forecast, at_start)?;
    let reports = strategies
        .into_iter()
        .map(|mut s| {
            let mut r = replay(
                &cfg.app,
                s.policy.as_mut(),
                s.plan.as_ref(),
                actual,
                cfg.window.from,
                cfg.window.to,
                s.initial,
                &cfg.model,
            );
            r.policy = s.name;
            r
        })
        .collect();
    Ok((reports, outcome))
}

/// Whether the README's target holds: crest has zero violation minutes, at
/// most 60 % of static peak's instance-hours, and fewer violation minutes
/// than reactive at equal or lower cost.
pub fn target_met(results: &[StrategyResult]) -> Option<bool> {
    let get = |n: &str| results.iter().find(|r| r.name == n);
    let (s, r, c) = (get("static-peak")?, get("reactive")?, get("crest")?);
    Some(
        c.slo_violation_minutes == 0.0
            && c.instance_hours <= 0.6 * s.instance_hours
            && c.slo_violation_minutes < r.slo_violation_minutes
            && c.cost <= r.cost,
    )
}

/// A timestamp helper for callers: `from` plus `days`.
pub fn days_after(from: Timestamp, days: i64) -> Timestamp {
    from.add_secs(days * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::RateLimit;
    use crest_core::series::Quantile;
    use std::collections::BTreeMap;

    /// A day of diurnal demand with a sudden evening crest the forecast knows.
    fn demand() -> Vec<f64> {
        (0..48)
            .map(|i| {
                let base =
                    400.0 + 300.0 * ((f64::from(i) - 12.0) / 48.0 * std::f64::consts::TAU).sin();
                if (38..42).contains(&i) {
                    base * 2.5
                } else {
                    base
                }
            })
            .collect()
    }

    #[test]
    fn crest_beats_reactive_on_a_known_crest_and_static_on_cost() {
        let start = Timestamp::from_secs(1_000 * 86_400);
        let actual = Series::try_new("d", start, 1800, demand()).unwrap();
        let mean = demand();
        let mut q = BTreeMap::new();
        for (l, f) in [(0.1, 0.9), (0.9, 1.1), (0.975, 1.2)] {
            q.insert(
                Quantile::try_new(l).unwrap(),
                mean.iter().map(|m| m * f).collect(),
            );
        }
        let forecast = Forecast::try_new("d", start, 1800, mean, q).unwrap();
        let cap = Capacity::given(50.0, 200.0).unwrap();
        let app = AppId::try_new("app").unwrap();
        let mut planner = PlannerConfig::new(app.clone(), "r");
        planner.target_utilisation = 0.9;
        planner.min = Replicas(2);
        planner.scale_in_rate = RateLimit::new(5, 60);
        let cfg = RehearsalConfig {
            app,
            capacity: cap.clone(),
            model: FluidModel::new(cap),
            planner,
            reactive_target: 0.6,
            crest_reactive_target: 0.75,
            static_utilisation: 0.8,
            window: Window {
                from: start,
                to: start.add_secs(86_400),
            },
        };
        let (reports, _) = rehearse_fluid(&cfg, &forecast, &actual).unwrap();
        let results: Vec<StrategyResult> = reports.iter().map(StrategyResult::from).collect();
        let get = |n: &str| results.iter().find(|r| r.name == n).unwrap();
        let (s, r, c) = (get("static-peak"), get("reactive"), get("crest"));
        assert_eq!(c.slo_violation_minutes, 0.0, "{results:?}");
        assert!(r.slo_violation_minutes > 0.0, "{results:?}");
        assert!(c.instance_hours < 0.6 * s.instance_hours, "{results:?}");
        assert_eq!(s.slo_violation_minutes, 0.0);
        // Same inputs, same results.
        let (again, _) = rehearse_fluid(&cfg, &forecast, &actual).unwrap();
        assert_eq!(reports, again);
    }
}
