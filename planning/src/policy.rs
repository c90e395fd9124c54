//! crest's runtime policy, built in one place so that the policy the
//! backtest rehearses (`crest rehearse`) and the verification gate replay is
//! the policy production runs (`crest run --track-level`).
//!
//! The policy: the predictive policy follows the plan's forecast and, with
//! level tracking, live demand's level both ways (the forecast mean's shape
//! over the next lead time scaled to live demand — where a level below the
//! forecast is expected to climb back to — times a margin, both learned
//! from the forecaster's own errors: [`level_model`]); the plan is a floor
//! that shrinks with live demand below what it was sized for. Target
//! tracking beside it is a [`SafetyNet`]: it only ever adds instances. A
//! [`Guard`] paces both.

use crest_autoscaler::policies::{
    CombinedPolicy, Guard, PredictiveConfig, PredictivePolicy, SafetyNet, TargetTrackingConfig,
    TargetTrackingPolicy, expected_level,
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
    /// With `track_level`: how the level moves within a lead time (the
    /// margin over the expected level, and how a low level climbs back).
    pub level: LevelModel,
    /// Take in the step after the lead time when it rises above the
    /// forecast's band ([`PredictiveConfig::early_ramps`]).
    pub early_ramps: bool,
    /// Target tracking of the safety net (it only ever adds instances).
    pub net: TargetTrackingConfig,
    /// Pacing of the combined decision.
    pub guard: Guard,
}

impl CrestPolicyConfig {
    /// The settings a plan document carries (capacity, utilisation, risk,
    /// lead time, bounds), level tracking on with the [`LevelModel`] learned
    /// from the document's empirical errors at `level_quantile`
    /// ([`LevelModel::NONE`] without them), `early_ramps`, and `net` as the
    /// safety net.
    pub fn from_document(
        doc: &PlanDocument,
        level_quantile: f64,
        early_ramps: bool,
        net: TargetTrackingConfig,
        guard: Guard,
    ) -> Self {
        // Learned from the live levels the policy will measure; a document
        // from before they were recorded has only the scenario profiles.
        let level = doc.empirical.as_ref().map_or(LevelModel::NONE, |e| {
            level_model(
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
            level,
            early_ramps,
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
    pc.level_margin = cfg.level.margin;
    pc.level_reversion = cfg.level.reversion;
    pc.early_ramps = cfg.early_ramps;
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

/// How live demand's level moves relative to the forecast's shape within
/// one lead time, learned from the forecaster's errors in `levels` (actual /
/// forecast per step, day by day) as a policy tracking the level sees them:
/// each move is the level a step ahead (at least one step, more when the
/// lead time spans several) against the larger of the last two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LevelModel {
    /// At the quantile asked for, how far the level a step ahead exceeds
    /// the one expected from the last two ([`expected_level`]); at least 1.
    pub margin: f64,
    /// How a level below the forecast climbs back: the exponent `r` of
    /// `next = level^r` fitted by least squares on the logarithms of the
    /// moves that start below 1 (clamped to 0..=1; 1 when none did: a
    /// level stays where it is).
    pub reversion: f64,
}

impl LevelModel {
    /// No margin, no reversion: the level as measured.
    pub const NONE: LevelModel = LevelModel {
        margin: 1.0,
        reversion: 1.0,
    };
}

/// The quantile of lead-time level moves crest's margin covers, the same
/// in `crest rehearse` and `crest run --track-level`. A week of moves is a
/// few hundred (about 166 hourly, 334 half-hourly, 670 at 15 minutes), so
/// this is an order statistic: about the week's third largest move on hourly
/// data, its fourth largest at 30 minutes, its eighth at 15. A higher
/// quantile removes violation minutes on hourly bike rentals only where it
/// reaches the week's largest move, and there it costs a 15-minute load a
/// little rougher than Area1 its place on reactive's frontier (README,
/// "The level margin's quantile").
pub const DEFAULT_LEVEL_QUANTILE: f64 = 0.99;

/// Whether crest's policy takes in the step after the lead time when that
/// step rises above the forecast's band
/// ([`PredictiveConfig::early_ramps`]), the same in `crest rehearse` and
/// `crest run --track-level`. On: hourly bike rentals' holiday-morning rushes
/// an hour before the forecast has them are what their violation minutes
/// came from, and a 15-minute load's steps rarely rise above its band, so
/// there it costs little (README, "Ramps that come a step early").
pub const DEFAULT_EARLY_RAMPS: bool = true;

/// [`LevelModel`] from `levels` at the `quantile` of misses.
pub fn level_model(
    levels: &[Vec<f64>],
    step_s: i64,
    lead_time_s: i64,
    quantile: f64,
) -> LevelModel {
    let r: Vec<f64> = levels.iter().flatten().copied().collect();
    let ahead = usize::try_from((lead_time_s + step_s - 1) / step_s.max(1))
        .unwrap_or(1)
        .max(1);
    // (level in force, level a lead time on) wherever both are positive.
    let moves: Vec<(f64, f64)> = (1..r.len().saturating_sub(ahead))
        .map(|t| (r[t].max(r[t - 1]), r[t + ahead]))
        .filter(|(b, n)| *b > 0.0 && *n > 0.0 && b.is_finite() && n.is_finite())
        .collect();
    let (sxy, sxx) = moves
        .iter()
        .filter(|(b, _)| *b < 1.0)
        .map(|(b, n)| (b.ln(), n.ln()))
        .fold((0.0, 0.0), |(sxy, sxx), (x, y)| (sxy + x * y, sxx + x * x));
    let reversion = if sxx > 0.0 {
        (sxy / sxx).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let mut e: Vec<f64> = moves
        .iter()
        .map(|(b, n)| n / expected_level(*b, reversion))
        .filter(|x| x.is_finite())
        .collect();
    if e.is_empty() {
        return LevelModel {
            margin: 1.0,
            reversion,
        };
    }
    e.sort_by(f64::total_cmp);
    let i = ((e.len() - 1) as f64 * quantile.clamp(0.0, 1.0)).round() as usize;
    LevelModel {
        margin: e[i].max(1.0),
        reversion,
    }
}

#[cfg(test)]
mod tests {
    use super::{LevelModel, expected_level, level_model};

    fn margin(levels: &[Vec<f64>], q: f64) -> f64 {
        level_model(levels, 900, 300, q).margin
    }

    #[test]
    fn level_margin_is_the_quantile_of_lead_time_level_moves() {
        // A steady forecaster (ratio 1) whose level jumps by 30 % once.
        let mut day = vec![1.0; 96];
        day[50..].iter_mut().for_each(|r| *r = 1.3);
        let flat = vec![vec![1.0; 96]; 6];
        let mut profiles = flat.clone();
        profiles.push(day);
        // 15-min steps, 5-min lead: one step ahead. One jump in ~670 moves:
        // the 0.99 quantile is still 1, the top one is 1.3; no level below
        // the forecast, so nothing to revert.
        assert_eq!(margin(&profiles, 0.99), 1.0);
        assert!((margin(&profiles, 1.0) - 1.3).abs() < 1e-9);
        assert_eq!(level_model(&profiles, 900, 300, 1.0).reversion, 1.0);
        // Falls never make a margin below 1; no data means no margin.
        let falling = vec![(0..96).map(|i| 2.0 - f64::from(i) / 96.0).collect()];
        assert_eq!(margin(&falling, 0.99), 1.0);
        assert_eq!(level_model(&[], 900, 300, 0.99), LevelModel::NONE);
        // A level that stays below the forecast stays: reversion 1.
        let low = vec![vec![0.5; 96]];
        assert_eq!(level_model(&low, 900, 300, 0.99), LevelModel::NONE);
    }

    #[test]
    fn a_level_below_the_forecast_that_climbs_back_is_expected_to() {
        // A noisy forecaster (0.8, 0.8, 1.2, ...): from a low pair the level
        // always climbs to 1.2. Without reversion that is a margin of 1.5;
        // fitted, the low pair is expected back at the forecast (reversion 0)
        // and only the 1.2 over it is margin.
        let noisy = vec![
            (0..96)
                .map(|i| if i % 3 == 2 { 1.2 } else { 0.8 })
                .collect(),
        ];
        let m = level_model(&noisy, 900, 300, 0.99);
        assert_eq!(m.reversion, 0.0);
        assert!((m.margin - 1.2).abs() < 1e-9, "{m:?}");
        // Nights far below the forecast that come back to 0.9 of it in the
        // morning (an hourly count series): a partial reversion, and at the
        // top quantile every move seen is covered by expected level x margin.
        let day: Vec<f64> = (0..24)
            .map(|h| match h {
                0..=5 => 0.3,
                6..=8 => 0.9,
                _ => 1.0 + 0.05 * f64::from(h % 3),
            })
            .collect();
        let days = vec![day; 7];
        let m = level_model(&days, 3600, 300, 1.0);
        assert!(m.reversion > 0.0 && m.reversion < 1.0, "{m:?}");
        assert!(m.margin < 3.0, "{m:?}");
        let r: Vec<f64> = days.concat();
        for t in 1..r.len() - 1 {
            let b = r[t].max(r[t - 1]);
            assert!(expected_level(b, m.reversion) * m.margin >= r[t + 1] - 1e-9);
        }
    }
}
