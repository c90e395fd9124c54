//! Target tracking with Kubernetes HPA semantics.
//!
//! Reactive scaling is what every cluster already has, so crest's reactive
//! policy behaves exactly like the HorizontalPodAutoscaler (autoscaling/v2)
//! operators know, including its defaults:
//!
//! 1. **Raw recommendation**: `ceil(current × metric / target)`, unless the
//!    ratio is within the tolerance (default 0.1) of 1, in which case nothing
//!    changes. `current` is the number of serving instances the metric was
//!    averaged over.
//! 2. **Stabilisation**: raw recommendations are remembered; scaling up takes
//!    the *minimum* over the scale-up window (default 0 s: react at once),
//!    scaling down the *maximum* over the scale-down window (default 300 s),
//!    so one quiet sample never shrinks the fleet.
//! 3. **Rate limits**: change per period is capped by rules such as "100 % or
//!    4 pods per 15 s" (scale up, the larger wins) and "100 % per 15 s" (scale
//!    down), counted from the fleet size at the start of the period.
//! 4. **Bounds**: `[min_replicas, max_replicas]` always win.
//!
//! The policy keeps the recommendation and change history itself (`&mut self`)
//! and reads time only from the observation, so it runs unchanged in virtual
//! and wall time.

use std::collections::VecDeque;

use crest_core::{PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{AutoscalerError, Decision, Observation, Policy};

/// The metric tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetMetric {
    /// Mean busy fraction of serving instances (`Metrics::utilisation`, 0..1),
    /// like HPA's CPU utilisation target.
    Utilisation,
    /// Arriving requests per second per serving instance
    /// (`Metrics::demand_rps / running`), like an HPA external metric with an
    /// `AverageValue` target.
    RpsPerInstance,
}

impl TargetMetric {
    /// The name used in reasons and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetMetric::Utilisation => "utilisation",
            TargetMetric::RpsPerInstance => "rps_per_instance",
        }
    }
}

/// How a rate rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateRuleKind {
    /// At most `value` instances per period.
    Pods,
    /// At most `value` percent of the fleet at the start of the period.
    Percent,
}

/// One HPA scaling policy: at most `value` pods (or percent) per `period_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRule {
    /// Pods or percent.
    pub kind: RateRuleKind,
    /// The amount.
    pub value: u32,
    /// The period, in seconds (> 0).
    pub period_s: i64,
}

impl RateRule {
    /// At most `value` instances per `period_s`.
    pub fn pods(value: u32, period_s: i64) -> Self {
        RateRule {
            kind: RateRuleKind::Pods,
            value,
            period_s,
        }
    }

    /// At most `value` percent per `period_s`.
    pub fn percent(value: u32, period_s: i64) -> Self {
        RateRule {
            kind: RateRuleKind::Percent,
            value,
            period_s,
        }
    }
}

/// Which rule wins when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectPolicy {
    /// The rule allowing the largest change (HPA default).
    #[default]
    Max,
    /// The rule allowing the smallest change.
    Min,
    /// No change in this direction at all.
    Disabled,
}

/// Scaling behaviour in one direction (HPA `behavior.scaleUp` / `scaleDown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingBehavior {
    /// Stabilisation window in seconds (>= 0).
    pub stabilization_window_s: i64,
    /// Rate rules; empty means unlimited.
    pub policies: Vec<RateRule>,
    /// Which rule wins.
    #[serde(default)]
    pub select: SelectPolicy,
}

impl ScalingBehavior {
    /// HPA's default scale-up: no window, "100 % or 4 pods per 15 s", larger wins.
    pub fn default_scale_up() -> Self {
        ScalingBehavior {
            stabilization_window_s: 0,
            policies: vec![RateRule::percent(100, 15), RateRule::pods(4, 15)],
            select: SelectPolicy::Max,
        }
    }

    /// HPA's default scale-down: 300 s window, "100 % per 15 s".
    pub fn default_scale_down() -> Self {
        ScalingBehavior {
            stabilization_window_s: 300,
            policies: vec![RateRule::percent(100, 15)],
            select: SelectPolicy::Max,
        }
    }

    fn longest_period_s(&self) -> i64 {
        self.policies.iter().map(|r| r.period_s).max().unwrap_or(0)
    }

    fn validate(&self, what: &'static str) -> Result<(), AutoscalerError> {
        if self.stabilization_window_s < 0 {
            return Err(AutoscalerError::setting(
                what,
                "a stabilization window >= 0 s",
                self.stabilization_window_s,
            ));
        }
        if let Some(r) = self.policies.iter().find(|r| r.period_s <= 0) {
            return Err(AutoscalerError::setting(
                what,
                "rate rule periods > 0 s",
                r.period_s,
            ));
        }
        Ok(())
    }
}

fn default_tolerance() -> f64 {
    0.1
}
fn default_min() -> u32 {
    1
}
fn default_max() -> u32 {
    10_000
}

/// Settings of a [`TargetTrackingPolicy`] (serde: a config-file section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTrackingConfig {
    /// The metric tracked.
    pub metric: TargetMetric,
    /// Its target value (> 0): e.g. 0.6 utilisation, or 80 rps per instance.
    pub target: f64,
    /// No change while `|metric/target - 1| <= tolerance` (default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Lower bound (default 1).
    #[serde(default = "default_min")]
    pub min_replicas: u32,
    /// Upper bound (default 10,000).
    #[serde(default = "default_max")]
    pub max_replicas: u32,
    /// Scale-up behaviour (default: HPA's).
    #[serde(default = "ScalingBehavior::default_scale_up")]
    pub scale_up: ScalingBehavior,
    /// Scale-down behaviour (default: HPA's).
    #[serde(default = "ScalingBehavior::default_scale_down")]
    pub scale_down: ScalingBehavior,
}

impl TargetTrackingConfig {
    /// Track `metric` at `target` with HPA defaults everywhere else.
    pub fn new(metric: TargetMetric, target: f64) -> Self {
        TargetTrackingConfig {
            metric,
            target,
            tolerance: default_tolerance(),
            min_replicas: default_min(),
            max_replicas: default_max(),
            scale_up: ScalingBehavior::default_scale_up(),
            scale_down: ScalingBehavior::default_scale_down(),
        }
    }

    /// Set the replica bounds.
    pub fn with_bounds(mut self, min: u32, max: u32) -> Self {
        self.min_replicas = min;
        self.max_replicas = max;
        self
    }

    /// Set the tolerance.
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Set the scale-up behaviour.
    pub fn with_scale_up(mut self, b: ScalingBehavior) -> Self {
        self.scale_up = b;
        self
    }

    /// Set the scale-down behaviour.
    pub fn with_scale_down(mut self, b: ScalingBehavior) -> Self {
        self.scale_down = b;
        self
    }

    /// Check every setting.
    ///
    /// # Errors
    /// [`AutoscalerError`] naming the first invalid setting.
    pub fn validate(&self) -> Result<(), AutoscalerError> {
        if !(self.target.is_finite() && self.target > 0.0) {
            return Err(AutoscalerError::setting(
                "target-tracking target",
                "a finite number > 0",
                self.target,
            ));
        }
        if !(self.tolerance.is_finite() && (0.0..1.0).contains(&self.tolerance)) {
            return Err(AutoscalerError::setting(
                "target-tracking tolerance",
                "a number in [0, 1)",
                self.tolerance,
            ));
        }
        if self.min_replicas > self.max_replicas {
            return Err(AutoscalerError::Bounds {
                min: self.min_replicas,
                max: self.max_replicas,
            });
        }
        self.scale_up.validate("target-tracking scale_up")?;
        self.scale_down.validate("target-tracking scale_down")
    }
}

/// HPA-style target tracking (see the module docs).
#[derive(Debug, Clone)]
pub struct TargetTrackingPolicy {
    cfg: TargetTrackingConfig,
    /// Raw recommendations with their times, oldest first.
    recommendations: VecDeque<(Timestamp, u32)>,
    /// Changes made (signed) with their times, oldest first.
    changes: VecDeque<(Timestamp, i64)>,
}

impl TargetTrackingPolicy {
    /// A policy with validated settings.
    ///
    /// # Errors
    /// [`AutoscalerError`] when a setting is invalid.
    pub fn try_new(cfg: TargetTrackingConfig) -> Result<Self, AutoscalerError> {
        cfg.validate()?;
        Ok(TargetTrackingPolicy {
            cfg,
            recommendations: VecDeque::new(),
            changes: VecDeque::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &TargetTrackingConfig {
        &self.cfg
    }

    /// The metric's value in this observation, and the instance count it is
    /// averaged over. `None` when the metric is unknown.
    fn metric_value(&self, obs: &Observation<'_>) -> Option<(f64, u32)> {
        let running = if obs.metrics.running > 0 {
            obs.metrics.running
        } else {
            obs.fleet.running().0
        };
        match self.cfg.metric {
            TargetMetric::Utilisation => {
                let u = obs.metrics.utilisation;
                (u.is_finite() && u >= 0.0 && running > 0).then_some((u, running))
            }
            TargetMetric::RpsPerInstance => {
                let d = obs.metrics.demand_rps;
                if !(d.is_finite() && d >= 0.0) {
                    None
                } else if running == 0 {
                    // Nothing serves: the whole demand needs instances.
                    (d > 0.0).then_some((d, 1))
                } else {
                    Some((d / f64::from(running), running))
                }
            }
        }
    }

    /// Step 1: the raw recommendation (HPA `computeReplicasForMetrics`).
    fn raw_recommendation(&self, obs: &Observation<'_>, current: u32) -> (u32, Option<f64>) {
        let Some((value, base)) = self.metric_value(obs) else {
            return (current, None);
        };
        let ratio = value / self.cfg.target;
        if (ratio - 1.0).abs() <= self.cfg.tolerance {
            // Close enough: keep the count asked for (HPA's tolerance).
            return (current, Some(value));
        }
        let want = (f64::from(base) * ratio - 1e-9).ceil();
        let want = if want <= 0.0 {
            0
        } else if want >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            want as u32
        };
        (want, Some(value))
    }

    /// Step 2: stabilisation over the remembered recommendations.
    fn stabilise(&mut self, now: Timestamp, raw: u32, current: u32) -> u32 {
        let up_cut = now.add_secs(-self.cfg.scale_up.stabilization_window_s);
        let down_cut = now.add_secs(-self.cfg.scale_down.stabilization_window_s);
        let (mut up, mut down) = (raw, raw);
        for &(t, r) in &self.recommendations {
            if t > up_cut {
                up = up.min(r);
            }
            if t > down_cut {
                down = down.max(r);
            }
        }
        let keep = self
            .cfg
            .scale_up
            .stabilization_window_s
            .max(self.cfg.scale_down.stabilization_window_s);
        let cut = now.add_secs(-keep);
        while self.recommendations.front().is_some_and(|&(t, _)| t <= cut) {
            self.recommendations.pop_front();
        }
        self.recommendations.push_back((now, raw));
        let mut s = current;
        if s < up {
            s = up;
        }
        if s > down {
            s = down;
        }
        s
    }

    fn changed_within(&self, now: Timestamp, period_s: i64, up: bool) -> i64 {
        let cut = now.add_secs(-period_s);
        self.changes
            .iter()
            .filter(|(t, _)| *t > cut)
            .map(|&(_, c)| if up { c.max(0) } else { (-c).max(0) })
            .sum()
    }

    /// Step 3: the most the fleet may grow to now.
    fn scale_up_limit(&self, now: Timestamp, current: u32) -> u32 {
        let b = &self.cfg.scale_up;
        if b.select == SelectPolicy::Disabled {
            return current;
        }
        if b.policies.is_empty() {
            return u32::MAX;
        }
        let limits = b.policies.iter().map(|r| {
            let start = (i64::from(current) - self.changed_within(now, r.period_s, true)).max(0);
            let lim = match r.kind {
                RateRuleKind::Pods => start + i64::from(r.value),
                RateRuleKind::Percent => {
                    (start as f64 * (1.0 + f64::from(r.value) / 100.0)).ceil() as i64
                }
            };
            u32::try_from(lim.max(0)).unwrap_or(u32::MAX)
        });
        let lim = match b.select {
            SelectPolicy::Min => limits.min(),
            _ => limits.max(),
        };
        lim.unwrap_or(u32::MAX).max(current)
    }

    /// Step 3: the least the fleet may shrink to now.
    fn scale_down_limit(&self, now: Timestamp, current: u32) -> u32 {
        let b = &self.cfg.scale_down;
        if b.select == SelectPolicy::Disabled {
            return current;
        }
        if b.policies.is_empty() {
            return 0;
        }
        let limits = b.policies.iter().map(|r| {
            let start = i64::from(current) + self.changed_within(now, r.period_s, false);
            let lim = match r.kind {
                RateRuleKind::Pods => start - i64::from(r.value),
                RateRuleKind::Percent => {
                    (start as f64 * (1.0 - f64::from(r.value) / 100.0)).floor() as i64
                }
            };
            u32::try_from(lim.max(0)).unwrap_or(u32::MAX)
        });
        let lim = match b.select {
            SelectPolicy::Min => limits.max(),
            _ => limits.min(),
        };
        lim.unwrap_or(0).min(current)
    }
}

impl Policy for TargetTrackingPolicy {
    fn name(&self) -> &str {
        "target-tracking"
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        let now = obs.now;
        let current = obs.fleet.desired.0;
        let (raw, value) = self.raw_recommendation(obs, current);
        let stabilised = self.stabilise(now, raw, current);
        let limited = if stabilised > current {
            stabilised.min(self.scale_up_limit(now, current))
        } else if stabilised < current {
            stabilised.max(self.scale_down_limit(now, current))
        } else {
            current
        };
        let desired = limited
            .max(self.cfg.min_replicas)
            .min(self.cfg.max_replicas);
        let keep = self
            .cfg
            .scale_up
            .longest_period_s()
            .max(self.cfg.scale_down.longest_period_s());
        let cut = now.add_secs(-keep);
        while self.changes.front().is_some_and(|&(t, _)| t <= cut) {
            self.changes.pop_front();
        }
        if desired != current {
            self.changes
                .push_back((now, i64::from(desired) - i64::from(current)));
        }
        let reason = if desired != limited {
            PlanReason::Bound {
                which: if desired > limited { "min" } else { "max" }.into(),
            }
        } else {
            PlanReason::Reactive {
                metric: self.cfg.metric.as_str().into(),
                value: value.unwrap_or(f64::NAN),
                target: self.cfg.target,
            }
        };
        Decision {
            desired: Replicas(desired),
            reason,
            evaluate_next: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};

    /// One decision at `t` seconds for a fleet of `cur` (all serving) at `util`.
    fn util_step(p: &mut TargetTrackingPolicy, t: i64, cur: u32, util: f64) -> u32 {
        let f = fleet(t, cur, cur);
        let m = metrics(t, 0.0, util, cur);
        p.decide(&Observation {
            now: Timestamp::from_secs(t),
            fleet: &f,
            metrics: &m,
            plan: None,
        })
        .desired
        .0
    }

    fn util_policy() -> TargetTrackingPolicy {
        TargetTrackingPolicy::try_new(
            TargetTrackingConfig::new(TargetMetric::Utilisation, 0.5).with_bounds(1, 100),
        )
        .unwrap()
    }

    #[test]
    fn hpa_formula_and_tolerance() {
        let mut p = util_policy();
        // 10 pods at 0.9 vs 0.5 → ceil(10 × 1.8) = 18 (within the 100 %/15 s rule).
        assert_eq!(util_step(&mut p, 0, 10, 0.9), 18);
        let mut p = util_policy();
        // 0.54 / 0.5 = 1.08: inside the 0.1 tolerance → no change.
        assert_eq!(util_step(&mut p, 0, 10, 0.54), 10);
        // 0.56 / 0.5 = 1.12: outside → ceil(11.2) = 12.
        assert_eq!(util_step(&mut p, 15, 10, 0.56), 12);
    }

    #[test]
    fn scale_up_rate_is_100_percent_or_4_pods_per_15s() {
        let mut p = util_policy();
        // From 2 pods at full load, the recommendation is 4, 2 + 4 pods = 6 allowed.
        assert_eq!(util_step(&mut p, 0, 2, 5.0), 6);
        // Within the same 15 s period no further growth beyond 6.
        assert_eq!(util_step(&mut p, 5, 6, 5.0), 6);
        // Next period: start 6, 100 % → 12 (beats 6 + 4 = 10).
        assert_eq!(util_step(&mut p, 20, 6, 5.0), 12);
        assert_eq!(util_step(&mut p, 40, 12, 5.0), 24);
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let mut p = util_policy();
        assert_eq!(util_step(&mut p, 0, 20, 0.5), 20);
        // Load falls to a tenth: raw recommendation 2, but the 300 s window
        // still remembers 20.
        for t in (15..300).step_by(15) {
            assert_eq!(util_step(&mut p, t, 20, 0.05), 20, "at {t}s");
        }
        // After 300 s the old recommendation has left the window.
        assert_eq!(util_step(&mut p, 300, 20, 0.05), 2);
    }

    #[test]
    fn scale_down_rate_limited_by_pods_rule() {
        let cfg = TargetTrackingConfig::new(TargetMetric::Utilisation, 0.5)
            .with_bounds(1, 100)
            .with_scale_down(ScalingBehavior {
                stabilization_window_s: 0,
                policies: vec![RateRule::pods(3, 60)],
                select: SelectPolicy::Max,
            });
        let mut p = TargetTrackingPolicy::try_new(cfg).unwrap();
        assert_eq!(util_step(&mut p, 0, 20, 0.05), 17);
        // Same minute: 3 already removed, no more.
        assert_eq!(util_step(&mut p, 30, 17, 0.05), 17);
        assert_eq!(util_step(&mut p, 61, 17, 0.05), 14);
    }

    #[test]
    fn bounds_win_and_disabled_direction_holds() {
        let cfg = TargetTrackingConfig::new(TargetMetric::Utilisation, 0.5)
            .with_bounds(3, 8)
            .with_scale_down(ScalingBehavior {
                stabilization_window_s: 0,
                policies: vec![],
                select: SelectPolicy::Disabled,
            });
        let mut p = TargetTrackingPolicy::try_new(cfg).unwrap();
        assert_eq!(util_step(&mut p, 0, 6, 1.0), 8);
        assert_eq!(util_step(&mut p, 15, 8, 0.01), 8, "scale-down disabled");
        assert_eq!(util_step(&mut p, 30, 1, 0.5), 3, "min bound");
    }

    #[test]
    fn rps_per_instance_from_zero_running() {
        let cfg = TargetTrackingConfig::new(TargetMetric::RpsPerInstance, 100.0)
            .with_bounds(0, 100)
            .with_scale_up(ScalingBehavior {
                stabilization_window_s: 0,
                policies: vec![],
                select: SelectPolicy::Max,
            });
        let mut p = TargetTrackingPolicy::try_new(cfg).unwrap();
        let f = fleet(0, 0, 0);
        let m = metrics(0, 950.0, f64::NAN, 0);
        let d = p.decide(&Observation {
            now: Timestamp::from_secs(0),
            fleet: &f,
            metrics: &m,
            plan: None,
        });
        assert_eq!(d.desired, Replicas(10));
    }

    #[test]
    fn unknown_metric_keeps_the_fleet() {
        let mut p = util_policy();
        assert_eq!(util_step(&mut p, 0, 7, f64::NAN), 7);
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let bad = |c: TargetTrackingConfig| TargetTrackingPolicy::try_new(c).is_err();
        assert!(bad(TargetTrackingConfig::new(
            TargetMetric::Utilisation,
            0.0
        )));
        assert!(bad(TargetTrackingConfig::new(
            TargetMetric::Utilisation,
            0.5
        )
        .with_bounds(5, 2)));
        assert!(bad(TargetTrackingConfig::new(
            TargetMetric::Utilisation,
            0.5
        )
        .with_tolerance(f64::NAN)));
        let cfg: TargetTrackingConfig =
            serde_json::from_str(r#"{"metric":"utilisation","target":0.6}"#).unwrap();
        assert_eq!(cfg.scale_down.stabilization_window_s, 300);
        assert_eq!(cfg.tolerance, 0.1);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Bounds hold, growth per 15 s period is within HPA's default rules,
        /// and no scale-in happens within 300 s of a higher recommendation.
        #[test]
        fn hpa_invariants(
            utils in proptest::collection::vec(0.0..3.0_f64, 1..80),
            start in 1u32..60,
            min in 1u32..5,
            span in 0u32..100,
        ) {
            let max = min + span;
            let mut p = TargetTrackingPolicy::try_new(
                TargetTrackingConfig::new(TargetMetric::Utilisation, 0.6).with_bounds(min, max),
            ).unwrap();
            let mut cur = start;
            let mut history: Vec<(i64, u32)> = Vec::new();
            for (k, u) in utils.iter().enumerate() {
                let t = k as i64 * 15;
                let d = util_step(&mut p, t, cur, *u);
                proptest::prop_assert!(min <= d && d <= max);
                if d > cur && cur >= min {
                    proptest::prop_assert!(d <= (2 * cur).max(cur + 4).max(min), "{} -> {}", cur, d);
                }
                if d < cur && cur <= max {
                    // Something in the last 300 s recommended this few or fewer.
                    let raw_now = ((f64::from(cur) * u / 0.6) - 1e-9).ceil().max(0.0) as u32;
                    proptest::prop_assert!(history.iter().filter(|(h, _)| *h > t - 300).all(|(_, r)| *r <= d.max(raw_now)) || d == min);
                }
                let raw = if ((u / 0.6) - 1.0).abs() <= 0.1 { cur } else { ((f64::from(cur) * u / 0.6) - 1e-9).ceil().max(0.0) as u32 };
                history.push((t, raw));
                cur = d;
            }
        }

        /// More load never gives fewer replicas (fresh policy, one decision).
        #[test]
        fn monotone_in_load(cur in 1u32..100, a in 0.0..3.0_f64, extra in 0.0..3.0_f64) {
            let fresh = || TargetTrackingPolicy::try_new(
                TargetTrackingConfig::new(TargetMetric::Utilisation, 0.6).with_bounds(1, 1000),
            ).unwrap();
            let lo = util_step(&mut fresh(), 0, cur, a);
            let hi = util_step(&mut fresh(), 0, cur, a + extra);
            proptest::prop_assert!(hi >= lo);
        }
    }
}
