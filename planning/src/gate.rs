//! The verification gate: a plan replayed against demand scenarios before it
//! is trusted.
//!
//! Scenarios come from two places: Monte Carlo draws from the forecast's own
//! quantiles ([`crest_autoscaler::verify::scenario_series`]), which cannot
//! catch a forecast that is wrong, and **empirical** scenarios: the plan's
//! forecast mean multiplied by the error profiles the forecaster actually
//! made on past days ([`empirical_scenarios`]).

use crest_autoscaler::{GateConfig, GateReport, PlanDocument, SchedulePolicy};
use crest_core::{Forecast, ScalingPlan, Series};
use rayon::prelude::*;

use crate::PlanningError;
use crate::replay::{SimMode, replay_sim};

/// Error profiles of a forecaster on past days: for each past day, the ratio
/// actual / forecast mean per step of the day. Steps where the forecast was
/// near zero count as 1.
pub fn error_profiles(forecast: &Forecast, actual: &Series) -> Vec<Vec<f64>> {
    let per_day = usize::try_from(86_400 / forecast.step_s.max(1))
        .unwrap_or(1)
        .max(1);
    let mut ratios = Vec::with_capacity(forecast.horizon());
    for i in 0..forecast.horizon() {
        let t = forecast.time_at(i);
        let Some(j) = actual.index_of(t) else {
            continue;
        };
        let (a, m) = (actual.values()[j], forecast.mean[i]);
        let floor = 0.05 * forecast.mean.iter().copied().fold(0.0, f64::max);
        ratios.push(if m > floor && a.is_finite() {
            a / m
        } else {
            1.0
        });
    }
    ratios
        .chunks(per_day)
        .filter(|c| c.len() == per_day)
        .map(<[f64]>::to_vec)
        .collect()
}

/// Scenarios: the forecast mean times each error profile, repeated day by
/// day over the forecast.
///
/// # Errors
/// [`PlanningError::Core`] should a scenario be malformed.
pub fn empirical_scenarios(
    forecast: &Forecast,
    profiles: &[Vec<f64>],
) -> Result<Vec<Series>, PlanningError> {
    profiles
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(k, p)| {
            let v = forecast
                .mean
                .iter()
                .enumerate()
                .map(|(i, m)| (m * p[i % p.len()]).max(0.0))
                .collect();
            Series::try_new(format!("empirical-{k}"), forecast.start, forecast.step_s, v).map_err(
                |source| PlanningError::Core {
                    what: "empirical scenario".into(),
                    source: Box::new(source),
                },
            )
        })
        .collect()
}

/// Run the gate on a plan document: its forecast's quantile scenarios plus
/// `extra` scenarios, each replayed in crest-sim (`mode`) with the plan
/// followed by a [`SchedulePolicy`].
///
/// # Errors
/// [`PlanningError::Autoscaler`] when the forecast cannot be sampled,
/// [`PlanningError::Sim`] when a replay fails.
pub fn run_gate(
    doc: &PlanDocument,
    extra: &[Series],
    mode: SimMode,
) -> Result<GateReport, PlanningError> {
    gate(&doc.plan, &doc.forecast, &doc.model, &doc.gate, extra, mode)
}

/// [`run_gate`] on its parts.
///
/// # Errors
/// As [`run_gate`].
pub fn gate(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &crest_autoscaler::FluidModel,
    cfg: &GateConfig,
    extra: &[Series],
    mode: SimMode,
) -> Result<GateReport, PlanningError> {
    crest_autoscaler::verify::check_gate_work(plan, forecast, model, cfg).map_err(|source| {
        PlanningError::Autoscaler {
            what: "size the gate".into(),
            source: Box::new(source),
        }
    })?;
    let mut scenarios =
        crest_autoscaler::verify::scenario_series(forecast, cfg).map_err(|source| {
            PlanningError::Autoscaler {
                what: "draw demand scenarios".into(),
                source: Box::new(source),
            }
        })?;
    scenarios.extend(extra.iter().cloned());
    let initial = plan.desired_at(forecast.start).map_or(0, |r| r.0);
    let runs = scenarios
        .par_iter()
        .enumerate()
        .map(|(k, demand)| {
            let r = replay_sim(
                &format!("gate-{k}"),
                demand,
                initial,
                Box::new(SchedulePolicy::new()),
                Some(plan.clone()),
                model,
                mode,
                cfg.seed.wrapping_add(k as u64),
            )?;
            Ok((r.slo_violation_minutes, r.instance_hours, r.cost))
        })
        .collect::<Result<Vec<_>, PlanningError>>()?;
    Ok(GateReport::from_runs(mode.label(), &runs, cfg))
}
