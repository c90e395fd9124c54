//! The verification gate: replay a plan against Monte Carlo demand.
//!
//! A plan is executed only if, across scenarios drawn from the forecast's
//! quantiles ([`crate::scenarios`]), the probability that it breaches the SLO
//! is at most the gate's threshold. This module runs the gate on the fluid
//! model ([`crate::replay`]); the binary can run the same scenarios through
//! the discrete-event simulator when it is available. Seeded: same inputs,
//! same verdict.

use crest_core::{AppId, Forecast, ScalingPlan, Series, Timestamp, WorkEstimate, WorkLimits};
use serde::{Deserialize, Serialize};

use crate::AutoscalerError;
use crate::policies::SchedulePolicy;
use crate::replay::{FluidModel, replay};
use crate::scenarios::ScenarioSampler;

/// Settings of the gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateConfig {
    /// Scenarios drawn.
    pub scenarios: usize,
    /// Seed of the draw.
    pub seed: u64,
    /// Step-to-step correlation of demand surprises (0..1): 0.95 unless
    /// learned from the forecaster's errors
    /// ([`crate::scenarios::rho_from_errors`]).
    pub rho: f64,
    /// A scenario breaches when it has more SLO-violation minutes than this.
    pub allowed_violation_minutes: f64,
    /// The plan passes when P(breach) <= this.
    pub max_breach_probability: f64,
    /// Stated stress case: replay the forecast mean × this (a surge the
    /// forecast did not see); 0 = none. A stress case must not breach.
    #[serde(default)]
    pub stress_surge: f64,
    /// Stated stress case: replay the forecast mean with every instance's
    /// lead time at its p99 (the worst the plan was made for, no jitter).
    #[serde(default)]
    pub stress_lead_p99: bool,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            scenarios: 200,
            seed: 42,
            rho: 0.95,
            allowed_violation_minutes: 0.0,
            max_breach_probability: 0.05,
            stress_surge: 0.0,
            stress_lead_p99: false,
        }
    }
}

/// The gate's verdict and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The model the scenarios ran on ("fluid" or "sim").
    pub engine: String,
    /// Scenarios run.
    pub scenarios: usize,
    /// Fraction of scenarios with an SLO breach.
    pub breach_probability: f64,
    /// Mean SLO-violation minutes per scenario.
    pub mean_violation_minutes: f64,
    /// 95th percentile of SLO-violation minutes.
    pub p95_violation_minutes: f64,
    /// Mean instance-hours.
    pub mean_instance_hours: f64,
    /// Mean cost.
    pub mean_cost: f64,
    /// The threshold applied.
    pub max_breach_probability: f64,
    /// Whether the plan passed.
    pub passed: bool,
    /// Breaches per kind of scenario (quantile draws, empirical errors,
    /// stress cases), when the gate ran more than one kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ScenarioKindReport>,
}

/// How one kind of scenario fared in the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioKindReport {
    /// `quantile`, `empirical`, `surge x1.2`, `lead p99`.
    pub kind: String,
    /// Whether this kind is a stated stress case (must not breach at all)
    /// rather than a sample (may breach in at most `max_breach_probability`
    /// of its scenarios).
    pub stress: bool,
    /// Scenarios of this kind.
    pub scenarios: usize,
    /// Of which breached the SLO.
    pub breaches: usize,
    /// Largest SLO-violation minutes of one scenario.
    pub max_violation_minutes: f64,
    /// Whether this kind passed its rule.
    pub passed: bool,
}

/// One scenario's outcome for [`GateReport::from_kinds`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioRun {
    /// Its kind (see [`ScenarioKindReport::kind`]).
    pub kind: String,
    /// A stated stress case.
    pub stress: bool,
    /// SLO-violation minutes.
    pub violation_minutes: f64,
    /// Instance-hours.
    pub instance_hours: f64,
    /// Cost.
    pub cost: f64,
}

impl GateReport {
    /// Summarise per-scenario (violation minutes, instance-hours, cost).
    pub fn from_runs(engine: &str, runs: &[(f64, f64, f64)], gate: &GateConfig) -> Self {
        let n = runs.len().max(1) as f64;
        let breaches = runs
            .iter()
            .filter(|r| r.0 > gate.allowed_violation_minutes)
            .count();
        let mut v: Vec<f64> = runs.iter().map(|r| r.0).collect();
        v.sort_by(f64::total_cmp);
        let p95 = if v.is_empty() {
            0.0
        } else {
            v[((v.len() as f64 * 0.95).ceil() as usize).clamp(1, v.len()) - 1]
        };
        let p = breaches as f64 / n;
        GateReport {
            engine: engine.into(),
            scenarios: runs.len(),
            breach_probability: p,
            mean_violation_minutes: v.iter().sum::<f64>() / n,
            p95_violation_minutes: p95,
            mean_instance_hours: runs.iter().map(|r| r.1).sum::<f64>() / n,
            mean_cost: runs.iter().map(|r| r.2).sum::<f64>() / n,
            max_breach_probability: gate.max_breach_probability,
            passed: !runs.is_empty() && p <= gate.max_breach_probability,
            kinds: Vec::new(),
        }
    }

    /// Summarise scenarios of several kinds. Each sampled kind (quantile
    /// draws, empirical errors) is judged on its own — a handful of
    /// empirical scenarios is not diluted by hundreds of quantile draws —
    /// and `breach_probability` is the worst sampled kind's breach fraction;
    /// a stress case passes only with no breach. The plan passes when every
    /// kind does. With a single kind this is [`GateReport::from_runs`].
    pub fn from_kinds(engine: &str, runs: &[ScenarioRun], gate: &GateConfig) -> Self {
        let all: Vec<(f64, f64, f64)> = runs
            .iter()
            .map(|r| (r.violation_minutes, r.instance_hours, r.cost))
            .collect();
        let mut report = GateReport::from_runs(engine, &all, gate);
        let mut order: Vec<(&str, bool)> = Vec::new();
        for r in runs {
            if !order.iter().any(|(k, _)| *k == r.kind) {
                order.push((&r.kind, r.stress));
            }
        }
        let kinds: Vec<ScenarioKindReport> = order
            .into_iter()
            .map(|(kind, stress)| {
                let of: Vec<&ScenarioRun> = runs.iter().filter(|r| r.kind == kind).collect();
                let breaches = of
                    .iter()
                    .filter(|r| r.violation_minutes > gate.allowed_violation_minutes)
                    .count();
                let passed = if stress {
                    breaches == 0
                } else {
                    breaches as f64 / of.len().max(1) as f64 <= gate.max_breach_probability
                };
                ScenarioKindReport {
                    kind: kind.to_string(),
                    stress,
                    scenarios: of.len(),
                    breaches,
                    max_violation_minutes: of
                        .iter()
                        .map(|r| r.violation_minutes)
                        .fold(0.0, f64::max),
                    passed,
                }
            })
            .collect();
        if kinds.len() > 1 {
            report.breach_probability = kinds
                .iter()
                .filter(|k| !k.stress)
                .map(|k| k.breaches as f64 / k.scenarios.max(1) as f64)
                .fold(0.0, f64::max);
            report.passed = !runs.is_empty() && kinds.iter().all(|k| k.passed);
            report.kinds = kinds;
        }
        report
    }

    /// The kinds that failed their rule, for messages ("empirical 3/7, surge x1.2 1/1").
    pub fn failed_kinds(&self) -> String {
        self.kinds
            .iter()
            .filter(|k| !k.passed)
            .map(|k| format!("{} {}/{}", k.kind, k.breaches, k.scenarios))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The most scenarios a gate draws.
pub const MAX_SCENARIOS: usize = 100_000;

impl GateConfig {
    /// Check the settings.
    ///
    /// # Errors
    /// [`AutoscalerError::InvalidSetting`] naming the first bad one.
    pub fn validate(&self) -> Result<(), AutoscalerError> {
        if !(1..=MAX_SCENARIOS).contains(&self.scenarios) {
            return Err(AutoscalerError::setting(
                "gate.scenarios",
                "1 to 100000 scenarios",
                self.scenarios,
            ));
        }
        if !(self.rho.is_finite() && (0.0..1.0).contains(&self.rho)) {
            return Err(AutoscalerError::setting(
                "gate.rho",
                "a correlation in [0, 1)",
                self.rho,
            ));
        }
        if !(self.allowed_violation_minutes.is_finite() && self.allowed_violation_minutes >= 0.0) {
            return Err(AutoscalerError::setting(
                "gate.allowed_violation_minutes",
                "minutes >= 0",
                self.allowed_violation_minutes,
            ));
        }
        if !(0.0..=1.0).contains(&self.max_breach_probability) {
            return Err(AutoscalerError::setting(
                "gate.max_breach_probability",
                "a probability in [0, 1]",
                self.max_breach_probability,
            ));
        }
        if !(self.stress_surge == 0.0
            || (self.stress_surge.is_finite()
                && self.stress_surge > 0.0
                && self.stress_surge <= 100.0))
        {
            return Err(AutoscalerError::setting(
                "gate.stress_surge",
                "0 (none) or a factor in (0, 100]",
                self.stress_surge,
            ));
        }
        Ok(())
    }
}

/// The gate's replay work: one fluid tick per scenario per `model.tick_s`
/// from the plan's first step to the forecast's end.
pub fn gate_work(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    gate: &GateConfig,
) -> WorkEstimate {
    let from = plan_start(plan, forecast.start).min(forecast.start);
    let to = forecast.time_at(forecast.horizon());
    let span_s = (to.millis() as f64 - from.millis() as f64) / 1000.0;
    let ticks = span_s.max(0.0) / model.tick_s.max(1) as f64;
    WorkEstimate::new(
        gate.scenarios as f64 * ticks,
        gate.scenarios as f64 * forecast.horizon() as f64 * 16.0,
    )
}

/// Refuse a gate whose replays exceed [`WorkLimits::DEFAULT`].
///
/// # Errors
/// [`AutoscalerError::Forecast`] with the estimate.
pub fn check_gate_work(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    gate: &GateConfig,
) -> Result<(), AutoscalerError> {
    WorkLimits::DEFAULT
        .check(
            "the verification gate",
            gate_work(plan, forecast, model, gate),
        )
        .map_err(|e| AutoscalerError::Forecast {
            reason: e.to_string(),
        })
}

/// Demand scenarios as series aligned with the forecast.
///
/// # Errors
/// [`AutoscalerError::Forecast`] when the forecast cannot be sampled.
pub fn scenario_series(
    forecast: &Forecast,
    gate: &GateConfig,
) -> Result<Vec<Series>, AutoscalerError> {
    gate.validate()?;
    // Every scenario holds a path as long as the forecast (and its draw one more).
    let bytes = gate.scenarios as f64 * forecast.horizon() as f64 * 16.0;
    WorkLimits::DEFAULT
        .check(
            "the gate's demand scenarios",
            WorkEstimate::new(bytes / 16.0, bytes),
        )
        .map_err(|e| AutoscalerError::Forecast {
            reason: e.to_string(),
        })?;
    let sampler = ScenarioSampler::try_new(forecast, gate.rho)?;
    sampler
        .draw_n(gate.scenarios, gate.seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Series::try_new(format!("scenario-{i}"), forecast.start, forecast.step_s, v).map_err(
                |e| AutoscalerError::Forecast {
                    reason: e.to_string(),
                },
            )
        })
        .collect()
}

/// Run the gate on the fluid model: the plan (followed by a
/// [`SchedulePolicy`]) against each scenario, from the plan's first step to
/// the forecast's end.
///
/// # Errors
/// [`AutoscalerError::Forecast`] when the forecast cannot be sampled.
pub fn verify_plan(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    gate: &GateConfig,
) -> Result<GateReport, AutoscalerError> {
    check_gate_work(plan, forecast, model, gate)?;
    let scenarios = scenario_series(forecast, gate)?;
    let from = plan
        .steps()
        .first()
        .map_or(forecast.start, |s| s.at.min(forecast.start));
    let to = forecast.time_at(forecast.horizon());
    let initial = plan.desired_at(from).map_or(0, |r| r.0);
    let app: &AppId = &plan.app;
    let runs: Vec<(f64, f64, f64)> = scenarios
        .iter()
        .map(|s| {
            let mut p = SchedulePolicy::new();
            let r = replay(app, &mut p, Some(plan), s, from, to, initial, model);
            (r.slo_violation_minutes, r.instance_hours, r.cost)
        })
        .collect();
    Ok(GateReport::from_runs("fluid", &runs, gate))
}

/// When the plan starts: its first step (or `fallback`).
pub fn plan_start(plan: &ScalingPlan, fallback: Timestamp) -> Timestamp {
    plan.steps().first().map_or(fallback, |s| s.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::{PlannerConfig, RateLimit, plan};
    use crest_core::Capacity;
    use crest_core::series::Quantile;
    use std::collections::BTreeMap;

    fn forecast() -> Forecast {
        let mean: Vec<f64> = (0..48)
            .map(|i| if (20..26).contains(&i) { 1000.0 } else { 200.0 })
            .collect();
        let mut q = BTreeMap::new();
        for (l, f) in [(0.1, 0.85), (0.9, 1.15), (0.99, 1.3)] {
            q.insert(
                Quantile::try_new(l).unwrap(),
                mean.iter().map(|m| m * f).collect(),
            );
        }
        Forecast::try_new("x", Timestamp::from_secs(1_000_000 * 3600), 1800, mean, q).unwrap()
    }

    #[test]
    fn p90_plan_passes_and_a_short_plan_fails() {
        let f = forecast();
        let cap = Capacity::given(10.0, 200.0).unwrap();
        let mut cfg = PlannerConfig::new(AppId::try_new("app").unwrap(), "p");
        cfg.scale_out_rate = RateLimit::new(20, 60);
        cfg.current = Replicas(25);
        let o = plan(&f, &cap, &cfg).unwrap();
        let mut model = FluidModel::new(cap.clone());
        model.scale_out_rate = cfg.scale_out_rate;
        model.evaluate_every_s = 60;
        model.tick_s = 60;
        let gate = GateConfig {
            scenarios: 100,
            ..GateConfig::default()
        };
        let ok = verify_plan(&o.plan, &f, &model, &gate).unwrap();
        assert!(ok.passed, "{ok:?}");
        assert_eq!(ok, verify_plan(&o.plan, &f, &model, &gate).unwrap());
        // Planning for the median with no headroom breaches about half the time.
        cfg.risk = 0.5;
        cfg.target_utilisation = 1.0;
        let short = plan(&f, &cap, &cfg).unwrap();
        let bad = verify_plan(&short.plan, &f, &model, &gate).unwrap();
        assert!(!bad.passed);
        assert!(bad.breach_probability > 0.3, "{bad:?}");
    }

    use crest_core::Replicas;

    fn run(kind: &str, stress: bool, v: f64) -> ScenarioRun {
        ScenarioRun {
            kind: kind.into(),
            stress,
            violation_minutes: v,
            instance_hours: 1.0,
            cost: 1.0,
        }
    }

    #[test]
    fn kinds_are_judged_on_their_own() {
        let gate = GateConfig::default();
        // 100 draws with 2 breaches and 5 empirical days with 1: pooled,
        // 3/105 = 0.029 would pass a 0.05 gate; the empirical kind breaches
        // in 0.2 of its scenarios and fails it.
        let mut runs: Vec<ScenarioRun> = (0..100)
            .map(|i| run("quantile", false, if i < 2 { 5.0 } else { 0.0 }))
            .collect();
        runs.extend((0..5).map(|i| run("empirical", false, if i == 0 { 30.0 } else { 0.0 })));
        let pooled: Vec<(f64, f64, f64)> = runs
            .iter()
            .map(|r| (r.violation_minutes, 1.0, 1.0))
            .collect();
        assert!(GateReport::from_runs("sim", &pooled, &gate).passed);
        let r = GateReport::from_kinds("sim", &runs, &gate);
        assert!(!r.passed);
        assert!((r.breach_probability - 0.2).abs() < 1e-12);
        assert_eq!(r.scenarios, 105);
        assert_eq!(r.failed_kinds(), "empirical 1/5");
        assert_eq!(r.kinds[0].breaches, 2);
        assert!(r.kinds[0].passed);
        assert_eq!(r.kinds[1].max_violation_minutes, 30.0);
        // A stress case may not breach at all, even with every sample clean.
        let mut clean: Vec<ScenarioRun> = (0..100).map(|_| run("quantile", false, 0.0)).collect();
        clean.push(run("surge x1.2", true, 0.5));
        let s = GateReport::from_kinds("sim", &clean, &gate);
        assert!(!s.passed);
        assert_eq!(s.breach_probability, 0.0);
        assert_eq!(s.failed_kinds(), "surge x1.2 1/1");
        // One kind: exactly the pooled report, no breakdown.
        let one = GateReport::from_kinds("sim", &runs[..100], &gate);
        assert_eq!(one, GateReport::from_runs("sim", &pooled[..100], &gate));
        assert!(one.kinds.is_empty());
    }
}
