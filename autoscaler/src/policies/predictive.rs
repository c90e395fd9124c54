//! Predictive scaling: follow the plan, corrected by what is happening now.
//!
//! A plan is made a day or a week ahead. By the time the crest arrives there is
//! a fresher forecast, and live demand may already be running above it. This
//! policy asks for the most of:
//!
//! - the plan's step in force — a floor when a forecast is in force (the
//!   correction then applies to the forecast term only, so a step held high by
//!   a freeze is not compounded), otherwise scaled up by the current
//!   *deviation* when that exceeds the tolerance: live demand over the forecast *at the planned
//!   quantile* (the band the plan was sized for — demand merely above the
//!   mean is already paid for), or a deviation alert's ratio. Corrections only
//!   ever raise the plan, and are held for `deviation_hold_s`; a live
//!   deviation must be seen by two evaluations in a row (one odd sample, such
//!   as a rate measured over a near-empty interval, is not a trend);
//! - the latest forecast at the risk quantile over the next lead time (so a
//!   revised forecast starts provisioning early enough), times the same
//!   correction.
//!
//! It never asks for less than the plan: scale-in below the plan is not its
//! call — unless `track_level` is on. Then it follows live demand's level
//! both ways: the forecast term is the forecast mean's shape over the next
//! lead time scaled to live demand (a rise counts at once, a fall once two
//! evaluations see it; a level below the forecast is expected to climb
//! back at the `level_reversion` rate), times a `level_margin`, both
//! learned by the caller from the forecaster's recent errors; and the
//! plan's floor shrinks in proportion when live demand runs below the
//! quantile the plan was sized for. On a smooth load that is what beats
//! reactive scaling: a one-sided plan pays for every forecast overshoot,
//! reactive scaling for every ramp it lags. With `early_ramps` the forecast
//! term's window also takes in the step after the lead time when it rises
//! above the forecast's band: on hourly data a rush that comes an hour
//! early is otherwise seen only once it has come. Where the forecast's
//! mean blends shapes (`Forecast::shapes`: inside a holiday's window, the
//! models' workday and the analog's day off), the level is tracked against
//! each too and the forecast term sized for the highest: a blend is shaped
//! like neither, and demand following one of them reads against it as a
//! level that falls just before the rise it then misses.

use std::collections::VecDeque;

use crest_core::{Capacity, Forecast, PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::planner::demand_at;
use crate::{AutoscalerError, Decision, Observation, Policy};

/// Settings of a [`PredictivePolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictiveConfig {
    /// Per-instance capacity.
    pub capacity: Capacity,
    /// Highest planned utilisation of an instance (0..1].
    pub target_utilisation: f64,
    /// Quantile of the latest forecast to provision for.
    pub risk: f64,
    /// Seconds from asking for an instance to it serving (look-ahead).
    pub lead_time_s: i64,
    /// Deviations within this fraction are ignored (default 0.05).
    pub deviation_tolerance: f64,
    /// How long a deviation keeps correcting, seconds (default 900).
    pub deviation_hold_s: i64,
    /// Upper bound.
    pub max: Replicas,
    /// Track the live level both ways: the forecast term becomes the
    /// forecast *mean*'s shape scaled to live demand (rises seen at once,
    /// falls after two evaluations), times `level_margin`; and the plan floor
    /// shrinks in proportion when live demand runs below what the plan was
    /// sized for. Off (the default): corrections only ever raise the plan.
    #[serde(default)]
    pub track_level: bool,
    /// With `track_level`: headroom over the level-scaled mean for how far
    /// demand can move, relative to the forecast's shape, within a lead time
    /// (>= 1; learned from the forecaster's recent errors by the caller).
    #[serde(default = "one")]
    pub level_margin: f64,
    /// With `track_level`: how a level below the forecast is expected to
    /// climb back within a lead time — the level in force is
    /// [`expected_level`] of the one measured (1, the default: it stays
    /// where it is; 0: it is back at the forecast). Learned with the margin
    /// from the same past levels by the caller.
    #[serde(default = "one")]
    pub level_reversion: f64,
    /// The forecast term's window also takes the step after the lead time
    /// when that step's mean is above the risk quantile of the window's
    /// last step: a rise steeper than the forecast's own band, so the same
    /// ramp one step early (a holiday morning's rush an hour before the
    /// forecast has it) would break through what the plan covers. A
    /// gentle rise, within the band, is left to it. Off by default.
    #[serde(default)]
    pub early_ramps: bool,
}

fn one() -> f64 {
    1.0
}

/// The live level a policy tracking the level measures at one step: actual
/// over the forecast mean, clamped to 0.05..=20 (one odd sample cannot
/// zero or explode the fleet). `None` when the mean is not positive or the
/// actual is not a finite count. The level margin is learned from the same
/// measure on past days, so that it covers the moves the policy will see.
pub fn live_level(actual: f64, mean: f64) -> Option<f64> {
    (mean > 0.0 && actual.is_finite() && actual >= 0.0).then(|| (actual / mean).clamp(0.05, 20.0))
}

/// The level expected a lead time after `level` was measured, when levels
/// below the forecast revert towards it at `reversion` (the exponent of a
/// log-autoregression through the forecast, in 0..=1): `level^reversion`
/// below 1, `level` itself at or above 1 (a level above the forecast is
/// never expected to fall back before it is seen to). The level margin is
/// learned from what this misses, so the two are always used together.
pub fn expected_level(level: f64, reversion: f64) -> f64 {
    if level < 1.0 && level > 0.0 {
        level.powf(reversion.clamp(0.0, 1.0))
    } else {
        level
    }
}

impl PredictiveConfig {
    /// Defaults: 80 % utilisation, p90, 5 min lead, 5 % tolerance, 15 min hold.
    pub fn new(capacity: Capacity) -> Self {
        PredictiveConfig {
            capacity,
            target_utilisation: 0.8,
            risk: 0.9,
            lead_time_s: 300,
            deviation_tolerance: 0.05,
            deviation_hold_s: 900,
            max: Replicas(10_000),
            track_level: false,
            level_margin: 1.0,
            level_reversion: 1.0,
            early_ramps: false,
        }
    }
}

/// A deviation alert: actual demand over forecast demand, at a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// When observed.
    pub at: Timestamp,
    /// Actual over forecast (1.3 = 30 % above forecast).
    pub ratio: f64,
}

/// Follow the plan, corrected by the latest forecast and by deviations.
#[derive(Debug, Clone)]
pub struct PredictivePolicy {
    cfg: PredictiveConfig,
    forecast: Option<(Forecast, Vec<f64>)>,
    deviations: VecDeque<Deviation>,
    /// The previous live ratio: a live deviation counts only when two
    /// evaluations in a row see it (a single odd sample is not a trend).
    last_live: Option<f64>,
    /// With `track_level`: the last two live levels (demand over the
    /// forecast mean), newest last.
    levels: VecDeque<f64>,
    /// With `track_level` and a forecast that blends shapes
    /// ([`Forecast::shapes`]): the last two live levels against each.
    shape_levels: Vec<VecDeque<f64>>,
}

impl PredictivePolicy {
    /// A policy with validated settings.
    ///
    /// # Errors
    /// [`AutoscalerError`] naming an invalid setting.
    pub fn try_new(cfg: PredictiveConfig) -> Result<Self, AutoscalerError> {
        if !(cfg.target_utilisation > 0.0 && cfg.target_utilisation <= 1.0) {
            return Err(AutoscalerError::setting(
                "predictive target utilisation",
                "a fraction in (0, 1]",
                cfg.target_utilisation,
            ));
        }
        if !(cfg.risk > 0.0 && cfg.risk < 1.0) {
            return Err(AutoscalerError::setting(
                "predictive risk",
                "a quantile in (0, 1)",
                cfg.risk,
            ));
        }
        if !(cfg.deviation_tolerance.is_finite() && cfg.deviation_tolerance >= 0.0) {
            return Err(AutoscalerError::setting(
                "predictive deviation tolerance",
                "a fraction >= 0",
                cfg.deviation_tolerance,
            ));
        }
        if !(cfg.level_margin.is_finite() && cfg.level_margin >= 1.0) {
            return Err(AutoscalerError::setting(
                "predictive level margin",
                "a factor >= 1",
                cfg.level_margin,
            ));
        }
        if !(0.0..=1.0).contains(&cfg.level_reversion) {
            return Err(AutoscalerError::setting(
                "predictive level reversion",
                "an exponent in 0..=1",
                cfg.level_reversion,
            ));
        }
        if cfg.lead_time_s < 0 || cfg.deviation_hold_s < 0 {
            return Err(AutoscalerError::setting(
                "predictive lead time / hold",
                "seconds >= 0",
                format!("{} / {}", cfg.lead_time_s, cfg.deviation_hold_s),
            ));
        }
        Ok(PredictivePolicy {
            cfg,
            forecast: None,
            deviations: VecDeque::new(),
            last_live: None,
            levels: VecDeque::new(),
            shape_levels: Vec::new(),
        })
    }

    /// Put the latest forecast in force.
    ///
    /// # Errors
    /// [`AutoscalerError::Forecast`] when it cannot be read at the risk quantile.
    pub fn set_forecast(&mut self, forecast: Forecast) -> Result<(), AutoscalerError> {
        let path = demand_at(&forecast, self.cfg.risk)?;
        self.shape_levels = vec![VecDeque::new(); forecast.shapes.len()];
        self.forecast = Some((forecast, path));
        Ok(())
    }

    /// A deviation alert arrived (e.g. from `crest-forecast`'s deviation detector).
    pub fn on_deviation(&mut self, d: Deviation) {
        if d.ratio.is_finite() && d.ratio > 0.0 {
            self.deviations.push_back(d);
        }
    }

    /// The correction factor in force at `now` (>= 1).
    pub fn correction(&self, now: Timestamp) -> f64 {
        let cut = now.add_secs(-self.cfg.deviation_hold_s);
        self.deviations
            .iter()
            .filter(|d| d.at > cut && d.at <= now)
            .map(|d| d.ratio)
            .filter(|r| *r > 1.0 + self.cfg.deviation_tolerance)
            .fold(1.0, f64::max)
    }

    /// With `track_level`: the live level in force (the larger of the last
    /// two, so a rise counts at once and a fall once it is seen twice; below
    /// the forecast, where it is expected to be a lead time on:
    /// [`expected_level`]).
    pub fn level(&self) -> Option<f64> {
        self.tracked_level(&self.levels)
    }

    /// The level in force from the last two of `levels` (see [`Self::level`]).
    fn tracked_level(&self, levels: &VecDeque<f64>) -> Option<f64> {
        if !self.cfg.track_level {
            return None;
        }
        levels
            .iter()
            .copied()
            .reduce(f64::max)
            .map(|l| expected_level(l, self.cfg.level_reversion))
    }

    fn index(f: &Forecast, t: Timestamp) -> Option<usize> {
        let d = t.millis() - f.start.millis();
        if d < 0 {
            return None;
        }
        let i = usize::try_from(d / (f.step_s * 1000)).ok()?;
        (i < f.horizon()).then_some(i)
    }

    /// Live deviation: observed demand over the forecast at the risk quantile now.
    fn observe_deviation(&mut self, obs: &Observation<'_>) {
        let cut = obs.now.add_secs(-self.cfg.deviation_hold_s);
        while self.deviations.front().is_some_and(|d| d.at <= cut) {
            self.deviations.pop_front();
        }
        let Some((f, path)) = &self.forecast else {
            return;
        };
        let Some(i) = Self::index(f, obs.now) else {
            return;
        };
        let actual = obs.metrics.demand_rps;
        if self.cfg.track_level {
            let track = |levels: &mut VecDeque<f64>, expected: f64| {
                if let Some(level) = live_level(actual, expected) {
                    levels.push_back(level);
                    while levels.len() > 2 {
                        levels.pop_front();
                    }
                } else {
                    levels.clear();
                }
            };
            track(&mut self.levels, f.mean[i]);
            for (levels, shape) in self.shape_levels.iter_mut().zip(&f.shapes) {
                track(levels, shape[i]);
            }
            return;
        }
        let expected = path[i];
        if expected > 0.0 && actual.is_finite() && actual >= 0.0 {
            let ratio = actual / expected;
            if let Some(prev) = self.last_live {
                self.on_deviation(Deviation {
                    at: obs.now,
                    ratio: ratio.min(prev),
                });
            }
            self.last_live = Some(ratio);
        } else {
            self.last_live = None;
        }
    }
}

impl Policy for PredictivePolicy {
    fn name(&self) -> &str {
        "predictive"
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        self.recommend(obs).unwrap_or(Decision {
            desired: obs.fleet.desired,
            reason: PlanReason::Baseline,
            evaluate_next: None,
        })
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        self.observe_deviation(obs);
        let now = obs.now;
        let k = self.correction(now);
        let mut best: Option<(u32, PlanReason)> = None;
        let mut consider = |n: u32, why: PlanReason| {
            if best.as_ref().is_none_or(|(b, _)| n > *b) {
                best = Some((n, why));
            }
        };
        if let Some(step) = obs.plan.and_then(|p| p.step_at(now)) {
            // With a forecast in force the correction applies to the forecast
            // term below, and the plan is a floor: a plan step can be held
            // above the demand of its time (a scale-in freeze, lead-time
            // padding), and scaling such a step by the deviation ratio would
            // compound the two and ratchet the fleet upward.
            let mut k_plan = if self.forecast.is_some() { 1.0 } else { k };
            // Tracking the level, the floor shrinks with live demand below
            // what the plan was sized for (its quantile), never grows.
            if let (Some(l), Some((f, path))) = (self.level(), &self.forecast)
                && let Some(i) = Self::index(f, now)
                && path[i] > 0.0
            {
                k_plan = (f.mean[i] * l * self.cfg.level_margin / path[i]).min(1.0);
            }
            let scaled = (f64::from(step.replicas.0) * k_plan).ceil();
            let n = if scaled >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                scaled as u32
            };
            let why = if k_plan > 1.0 {
                PlanReason::Alert {
                    name: format!("demand {:.0}% above forecast", (k - 1.0) * 100.0),
                }
            } else {
                step.reason.clone()
            };
            consider(n, why);
        }
        if let Some((f, path)) = &self.forecast {
            let from = Self::index(f, now);
            let to = Self::index(f, now.add_secs(self.cfg.lead_time_s))
                .or_else(|| from.map(|_| f.horizon() - 1))
                .map(|b| {
                    // A step rising above the band at the window's end.
                    let steep = b + 1 < f.horizon() && f.mean[b + 1] > path[b];
                    b + usize::from(self.cfg.early_ramps && steep)
                });
            if let (Some(a), Some(b)) = (from.or(to.map(|_| 0)), to) {
                let peak = |v: &[f64]| v[a..=b.max(a)].iter().copied().fold(0.0, f64::max);
                // Tracking the level, the mean's shape at the live level; an
                // alert's correction (k > 1) still raises it.
                // Where the mean blends shapes, each at its own live level:
                // the highest (demand may follow either).
                let shaped = f
                    .shapes
                    .iter()
                    .zip(&self.shape_levels)
                    .filter_map(|(shape, levels)| Some(peak(shape) * self.tracked_level(levels)?))
                    .fold(0.0, f64::max);
                let margin = self.cfg.level_margin;
                let d = match self.level() {
                    Some(l) if k > 1.0 => {
                        (peak(&f.mean) * (l * margin).max(k)).max(shaped * margin)
                    }
                    Some(l) => (peak(&f.mean) * l).max(shaped) * margin,
                    None => peak(path) * k,
                };
                let n = self
                    .cfg
                    .capacity
                    .instances_for(d, self.cfg.target_utilisation);
                consider(
                    n,
                    PlanReason::Forecast {
                        demand_rps: d,
                        quantile: self.cfg.risk,
                    },
                );
            }
        }
        let (n, reason) = best?;
        let desired = n.min(self.cfg.max.0);
        Some(Decision {
            desired: Replicas(desired),
            reason: if desired < n {
                PlanReason::Bound {
                    which: "max".into(),
                }
            } else {
                reason
            },
            evaluate_next: obs.plan.and_then(|p| p.next_change_after(now)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};
    use crest_core::series::Quantile;
    use crest_core::{AppId, PlanStep, ScalingPlan};
    use std::collections::BTreeMap;

    fn plan() -> ScalingPlan {
        ScalingPlan::try_new(
            AppId::try_new("app").unwrap(),
            "p",
            vec![
                PlanStep {
                    at: Timestamp::from_secs(0),
                    replicas: Replicas(10),
                    reason: PlanReason::Baseline,
                },
                PlanStep {
                    at: Timestamp::from_secs(3600),
                    replicas: Replicas(5),
                    reason: PlanReason::Baseline,
                },
            ],
        )
        .unwrap()
    }

    fn policy() -> PredictivePolicy {
        PredictivePolicy::try_new(PredictiveConfig::new(Capacity::given(10.0, 100.0).unwrap()))
            .unwrap()
    }

    fn at(p: &mut PredictivePolicy, plan: Option<&ScalingPlan>, t: i64, demand: f64) -> u32 {
        let f = fleet(t, 10, 10);
        let m = metrics(t, demand, 0.5, 10);
        p.decide(&Observation {
            now: Timestamp::from_secs(t),
            fleet: &f,
            metrics: &m,
            plan,
        })
        .desired
        .0
    }

    #[test]
    fn follows_the_plan_and_deviation_alerts_raise_it() {
        let plan = plan();
        let mut p = policy();
        assert_eq!(at(&mut p, Some(&plan), 10, 50.0), 10);
        p.on_deviation(Deviation {
            at: Timestamp::from_secs(20),
            ratio: 1.5,
        });
        assert_eq!(at(&mut p, Some(&plan), 30, 50.0), 15);
        // Held for 900 s, then released.
        assert_eq!(at(&mut p, Some(&plan), 900, 50.0), 15);
        assert_eq!(at(&mut p, Some(&plan), 921, 50.0), 10);
        // Small deviations are ignored.
        p.on_deviation(Deviation {
            at: Timestamp::from_secs(1000),
            ratio: 1.05,
        });
        assert_eq!(at(&mut p, Some(&plan), 1001, 50.0), 10);
    }

    /// Regression: a plan step held above its time's demand (a scale-in
    /// freeze) was multiplied by the live deviation ratio, and the fleet
    /// ratcheted upward through the freeze (39 -> 119 instances in the New
    /// Year rehearsal). With a forecast in force the plan is a floor and only
    /// the forecast term is corrected.
    #[test]
    fn frozen_plan_step_is_not_scaled_by_the_deviation() {
        let frozen = ScalingPlan::try_new(
            AppId::try_new("app").unwrap(),
            "p",
            vec![PlanStep {
                at: Timestamp::from_secs(0),
                replicas: Replicas(30),
                reason: PlanReason::Freeze,
            }],
        )
        .unwrap();
        let mut p = policy();
        let mut q = BTreeMap::new();
        // The forecast falls to 40 rps at the risk quantile while the plan holds 30.
        q.insert(Quantile::try_new(0.9).unwrap(), vec![40.0; 4]);
        let f = Forecast::try_new("x", Timestamp::from_secs(0), 1800, vec![30.0; 4], q).unwrap();
        p.set_forecast(f).unwrap();
        // Live demand 3x the p90 path (120 rps): 120 / 8 = 15 instances, below the
        // frozen 30; scaling the plan by 3 would have asked for 90.
        assert_eq!(at(&mut p, Some(&frozen), 100, 120.0), 30);
        assert_eq!(at(&mut p, Some(&frozen), 110, 120.0), 30);
        // Demand 9x the path (360 rps): 45 instances, above the frozen floor.
        assert_eq!(at(&mut p, Some(&frozen), 120, 360.0), 30);
        assert_eq!(at(&mut p, Some(&frozen), 130, 360.0), 45);
    }

    /// Level tracking with margin 1.1 and `reversion`, following a forecast
    /// whose p90 path is 80 rps (the plan's 10 instances at 0.8 x 10 rps)
    /// and whose mean is 60.
    fn tracking(reversion: f64) -> (PredictiveConfig, PredictivePolicy) {
        let mut cfg = PredictiveConfig::new(Capacity::given(10.0, 100.0).unwrap());
        cfg.track_level = true;
        cfg.level_margin = 1.1;
        cfg.level_reversion = reversion;
        let mut p = PredictivePolicy::try_new(cfg.clone()).unwrap();
        let mut q = BTreeMap::new();
        q.insert(Quantile::try_new(0.9).unwrap(), vec![80.0; 4]);
        let f = Forecast::try_new("x", Timestamp::from_secs(0), 1800, vec![60.0; 4], q).unwrap();
        p.set_forecast(f).unwrap();
        (cfg, p)
    }

    #[test]
    fn tracking_the_level_follows_live_demand_both_ways() {
        let plan = plan(); // 10 instances, then 5 from 3600 s
        let (_, mut p) = tracking(1.0);
        // Live demand at the mean: level 1, 60 x 1.1 / 8 = 8.25 -> 9 from the
        // forecast term; the floor is the plan x 66 / 80 -> 9.
        assert_eq!(at(&mut p, Some(&plan), 100, 60.0), 9);
        // Demand halves: one evaluation is not enough to fall...
        assert_eq!(at(&mut p, Some(&plan), 115, 30.0), 9);
        // ...two are: 30 x 1.1 / 8 = 4.1 -> 5; floor 10 x 33 / 80 -> 5.
        assert_eq!(at(&mut p, Some(&plan), 130, 30.0), 5);
        // A rise counts at once: 120 rps -> 120 x 1.1 / 8 = 16.5 -> 17.
        assert_eq!(at(&mut p, Some(&plan), 145, 120.0), 17);
        assert!(
            PredictivePolicy::try_new(PredictiveConfig {
                level_margin: 0.9,
                ..PredictiveConfig::new(Capacity::given(10.0, 100.0).unwrap())
            })
            .is_err()
        );
    }

    #[test]
    fn early_ramps_take_in_a_step_that_rises_above_the_band() {
        let plan = plan(); // 10 instances, then 5 from 3600 s
        // 30-minute steps, 5-minute lead: at 1600 s the window ends in step
        // 1. Step 2's mean (100) is above step 1's p90 (80): a steep rise.
        let ramp = |early: bool, next: f64| {
            let mut cfg = PredictiveConfig::new(Capacity::given(10.0, 100.0).unwrap());
            cfg.track_level = true;
            cfg.level_margin = 1.1;
            cfg.early_ramps = early;
            let mut p = PredictivePolicy::try_new(cfg).unwrap();
            let mut q = BTreeMap::new();
            q.insert(
                Quantile::try_new(0.9).unwrap(),
                vec![80.0, 80.0, 120.0, 80.0],
            );
            let mean = vec![60.0, 60.0, next, 60.0];
            let f = Forecast::try_new("x", Timestamp::from_secs(0), 1800, mean, q).unwrap();
            p.set_forecast(f).unwrap();
            // Early in step 0 the window ends in it: 60 x 1.1 / 8 -> 9.
            let early_on = at(&mut p, Some(&plan), 100, 60.0);
            (early_on, at(&mut p, Some(&plan), 1600, 60.0))
        };
        // Taken in: 100 x 1.1 / 8 = 13.75 -> 14; without: 60 x 1.1 / 8 -> 9.
        assert_eq!(ramp(true, 100.0), (9, 14));
        assert_eq!(ramp(false, 100.0), (9, 9));
        // A rise within the band (75 <= 80) is left to the lead time.
        assert_eq!(ramp(true, 75.0), (9, 9));
    }

    #[test]
    fn a_level_below_the_forecast_is_expected_to_climb_back_at_the_learned_rate() {
        let plan = plan(); // 10 instances, then 5 from 3600 s
        let (cfg, mut p) = tracking(0.5);
        // Demand at a quarter of the mean (15 rps), seen twice: the level in
        // force is 0.25^0.5 = 0.5, so 60 x 0.5 x 1.1 / 8 = 4.1 -> 5, where
        // the level as measured would give 60 x 0.25 x 1.1 / 8 -> 3.
        at(&mut p, Some(&plan), 100, 15.0);
        assert_eq!(at(&mut p, Some(&plan), 115, 15.0), 5);
        assert!((p.level().unwrap() - 0.5).abs() < 1e-12);
        let (_, mut stay) = tracking(1.0);
        at(&mut stay, Some(&plan), 100, 15.0);
        assert_eq!(at(&mut stay, Some(&plan), 115, 15.0), 3);
        // Above the forecast the level is never expected to fall back.
        assert_eq!(at(&mut p, Some(&plan), 130, 120.0), 17);
        assert!((p.level().unwrap() - 2.0).abs() < 1e-12);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(
                PredictivePolicy::try_new(PredictiveConfig {
                    level_reversion: bad,
                    ..cfg.clone()
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    /// Bike sharing's Independence Day 2012 in miniature: hourly steps, the
    /// mean a blend of a workday's shape (08:00 peak, then a fall) and a day
    /// off's (rising through the morning). Live demand at 08:00 follows the
    /// day off. Against the mean its level is 0.56 and the look-ahead
    /// covers 153 rps; against the day off's shape it is 1.38, and the rise
    /// it expects to 09:00 is what came (293 rps).
    #[test]
    fn tracking_the_level_against_each_shape_covers_the_one_demand_follows() {
        let policy = |shapes: Vec<Vec<f64>>| {
            let mut cfg = PredictiveConfig::new(Capacity::given(10.0, 100.0).unwrap());
            cfg.track_level = true;
            let mut p = PredictivePolicy::try_new(cfg).unwrap();
            let mean = vec![274.0, 236.0, 253.0];
            let mut q = BTreeMap::new();
            q.insert(
                Quantile::try_new(0.9).unwrap(),
                mean.iter().map(|m| m * 1.2).collect(),
            );
            let mut f = Forecast::try_new("x", Timestamp::from_secs(0), 3600, mean, q).unwrap();
            f.shapes = shapes;
            p.set_forecast(f).unwrap();
            p
        };
        let workday = vec![657.0, 310.0, 182.0];
        let day_off = vec![111.0, 178.0, 353.0];
        // Two evaluations at 153 rps late in the 08:00 step; the look-ahead
        // (300 s) reaches 09:00. 8 rps per instance at 0.8 utilisation.
        let decide = |p: &mut PredictivePolicy| {
            at(p, None, 3000, 153.0);
            at(p, None, 3300, 153.0)
        };
        // The mean alone: 274 x 153 / 274 = 153 rps -> 20 instances.
        assert_eq!(decide(&mut policy(Vec::new())), 20);
        // Each shape at its own level: the day off's 178 x 153 / 111 =
        // 245 rps -> 31 instances (the workday's gives 153 again).
        assert_eq!(decide(&mut policy(vec![workday, day_off])), 31);
    }

    #[test]
    fn latest_forecast_and_live_deviation_correct_the_plan() {
        let plan = plan();
        let mut p = policy();
        let mut q = BTreeMap::new();
        // p90 path: 40 rps, then 400 rps from 3600 s.
        q.insert(
            Quantile::try_new(0.9).unwrap(),
            vec![40.0, 40.0, 400.0, 400.0],
        );
        let f = Forecast::try_new(
            "x",
            Timestamp::from_secs(0),
            1800,
            vec![30.0, 30.0, 300.0, 300.0],
            q,
        )
        .unwrap();
        p.set_forecast(f).unwrap();
        // At 3400 s the 300 s look-ahead sees 400 rps: 400 / 8 = 50 instances.
        assert_eq!(at(&mut p, Some(&plan), 3400, 30.0), 50);
        // Live demand 1.5× the p90 path raises the look-ahead by 1.5 once two
        // evaluations in a row have seen it.
        assert_eq!(at(&mut p, Some(&plan), 3990, 600.0), 50);
        assert_eq!(at(&mut p, Some(&plan), 4000, 600.0), 75);
        // Demand above the mean but inside the p90 band corrects nothing.
        assert_eq!(at(&mut p, Some(&plan), 5800, 390.0), 50);
        // No plan, no forecast: no opinion.
        let mut idle = policy();
        let f = fleet(0, 3, 3);
        let m = metrics(0, 1.0, 0.5, 3);
        let obs = Observation {
            now: Timestamp::from_secs(0),
            fleet: &f,
            metrics: &m,
            plan: None,
        };
        assert!(idle.recommend(&obs).is_none());
        assert_eq!(idle.decide(&obs).desired, Replicas(3));
    }
}
