//! crest's runtime policy, built in one place so that the policy the
//! backtest rehearses (`crest rehearse`) and the verification gate replay is
//! the policy production runs (`crest run --track-level`).
//!
//! The policy: the predictive policy follows the plan's forecast and, with
//! level tracking, live demand's level both ways (the forecast mean's shape
//! over the next lead time scaled to live demand, times a margin learned
//! from the forecaster's own errors: [`level_margin`]); the plan is a floor
//! that shrinks with live demand below what it was sized for. Target
//! tracking beside it is a [`SafetyNet`]: it only ever adds instances. A
//! [`Guard`] paces both.

use crest_autoscaler::policies::{
    CombinedPolicy, Guard, PredictiveConfig, PredictivePolicy, SafetyNet, TargetTrackingConfig,
    TargetTrackingPolicy,
};
use crest_autoscaler::{PlanDocument, Policy};
use crest_core::{Capacity, Forecast, Replicas};

use crate::PlanningError;

/// Everything [`crest_policy`] needs besides the forecast.
#[derive(Debug, Clone)]
pub struct CrestPolicyConfig {
    /// Per-instance capacity the plan assumes.
    pub capacity: Capacity,
    /// Planned utilisation of SLO capacity.
    pub utilisation: f64,
    /// Demand quantile the plan covers.
    pub risk: f64,
    /// Provisioning lead time, seconds.
    pub lead_time_s: i64,
    /// Largest fleet.
    pub max: Replicas,
    /// Track live demand's level both ways (off: live demand only raises).
    pub track_level: bool,
    /// With `track_level`: headroom over the level-scaled mean (>= 1).
    pub level_margin: f64,
    /// Target tracking of the safety net (it only ever adds instances).
    pub net: TargetTrackingConfig,
    /// Pacing of the combined decision.
    pub guard: Guard,
}

impl CrestPolicyConfig {
    /// The settings a plan document carries (capacity, utilisation, risk,
    /// lead time, bounds), level tracking on with the margin learned from
    /// the document's empirical errors at `level_quantile` (1 without them),
    /// and `net` as the safety net.
    pub fn from_document(
        doc: &PlanDocument,
        level_quantile: f64,
        net: TargetTrackingConfig,
        guard: Guard,
    ) -> Self {
        // Learned from the live levels the policy will measure; a document
        // from before they were recorded has only the scenario profiles.
        let margin = doc.empirical.as_ref().map_or(1.0, |e| {
            level_margin(
                if e.levels.is_empty() {
                    &e.profiles
                } else {
                    &e.levels
                },
                doc.forecast.step_s,
                doc.planner.lead_time_s,
                level_quantile,
            )
        });
        CrestPolicyConfig {
            capacity: doc.capacity.clone(),
            utilisation: doc.planner.target_utilisation,
            risk: doc.planner.risk,
            lead_time_s: doc.planner.lead_time_s,
            max: doc.planner.max,
            track_level: true,
            level_margin: margin,
            net,
            guard,
        }
    }
}

/// Wraps an autoscaler error with what was being done.
pub(crate) fn auto_err(
    what: &str,
) -> impl FnOnce(crest_autoscaler::AutoscalerError) -> PlanningError + '_ {
    move |source| PlanningError::Autoscaler {
        what: what.into(),
        source: Box::new(source),
    }
}

/// crest's policy following `forecast`: predictive (level tracking per
/// `cfg`) and target tracking as a raise-only safety net, under one guard.
///
/// # Errors
/// [`PlanningError::Autoscaler`] when a setting is out of range (the
/// predictive or target-tracking configuration, the forecast).
pub fn crest_policy(
    cfg: &CrestPolicyConfig,
    forecast: &Forecast,
) -> Result<Box<dyn Policy>, PlanningError> {
    let mut pc = PredictiveConfig::new(cfg.capacity.clone());
    pc.target_utilisation = cfg.utilisation;
    pc.risk = cfg.risk;
    pc.lead_time_s = cfg.lead_time_s;
    pc.max = cfg.max;
    pc.track_level = cfg.track_level;
    pc.level_margin = cfg.level_margin;
    let mut p = PredictivePolicy::try_new(pc).map_err(auto_err("build predictive"))?;
    p.set_forecast(forecast.clone())
        .map_err(auto_err("follow the forecast"))?;
    let net = TargetTrackingPolicy::try_new(cfg.net.clone())
        .map_err(auto_err("build target tracking"))?;
    Ok(Box::new(
        CombinedPolicy::try_new("crest", cfg.guard)
            .map_err(auto_err("build crest"))?
            .with(p)
            .with(SafetyNet::new(net)),
    ))
}

/// How far live demand moves relative to the forecast's shape within one
/// lead time, at the `quantile` of the forecaster's errors in `profiles`
/// (actual / forecast per step, day by day): the ratio a step ahead (at
/// least one step, more when the lead time spans several) over the larger of
/// the last two ratios, as a policy tracking the level sees it. At least 1.
pub fn level_margin(profiles: &[Vec<f64>], step_s: i64, lead_time_s: i64, quantile: f64) -> f64 {
    let r: Vec<f64> = profiles.iter().flatten().copied().collect();
    let ahead = usize::try_from((lead_time_s + step_s - 1) / step_s.max(1))
        .unwrap_or(1)
        .max(1);
    let mut e: Vec<f64> = (1..r.len().saturating_sub(ahead))
        .filter_map(|t| {
            let base = r[t].max(r[t - 1]);
            (base > 0.0 && r[t + ahead].is_finite()).then(|| r[t + ahead] / base)
        })
        .filter(|x| x.is_finite())
        .collect();
    if e.is_empty() {
        return 1.0;
    }
    e.sort_by(f64::total_cmp);
    let i = ((e.len() - 1) as f64 * quantile.clamp(0.0, 1.0)).round() as usize;
    e[i].max(1.0)
}

#[cfg(test)]
mod tests {
    use super::level_margin;

    #[test]
    fn level_margin_is_the_quantile_of_lead_time_level_moves() {
        // A steady forecaster (ratio 1) whose level jumps by 30 % once.
        let mut day = vec![1.0; 96];
        day[50..].iter_mut().for_each(|r| *r = 1.3);
        let flat = vec![vec![1.0; 96]; 6];
        let mut profiles = flat.clone();
        profiles.push(day);
        // 15-min steps, 5-min lead: one step ahead. One jump in ~670 moves:
        // the 0.99 quantile is still 1, the top one is 1.3.
        assert_eq!(level_margin(&profiles, 900, 300, 0.99), 1.0);
        assert!((level_margin(&profiles, 900, 300, 1.0) - 1.3).abs() < 1e-9);
        // Falls never make a margin below 1; no data means no margin.
        let falling = vec![(0..96).map(|i| 2.0 - f64::from(i) / 96.0).collect()];
        assert_eq!(level_margin(&falling, 900, 300, 0.99), 1.0);
        assert_eq!(level_margin(&[], 900, 300, 0.99), 1.0);
        // A noisy forecaster (alternating 0.8 / 1.2) needs 1.2 / 1.2 = 1 from
        // the larger of the last two, but 1.5 one step after a low pair.
        let noisy = vec![
            (0..96)
                .map(|i| if i % 3 == 2 { 1.2 } else { 0.8 })
                .collect(),
        ];
        assert!((level_margin(&noisy, 900, 300, 0.99) - 1.5).abs() < 1e-9);
    }
}
