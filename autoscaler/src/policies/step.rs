//! Step scaling from monitoring alerts (AWS-style step adjustments).
//!
//! An alert that fires (Alertmanager, Grafana, a forecast deviation) asks for a
//! step: `+n` instances, `+p %`, or an exact count. The step is applied once
//! per alert episode (alerts are keyed by fingerprint, so a re-sent
//! notification is not a second step), and while any alert fires the result
//! is held as a floor. Steps are spaced by a cooldown so a storm of alerts
//! does not stack a storm of scale-outs. When every alert has resolved the
//! policy has no opinion any more and scale-in is left to the other policies
//! (in a [`CombinedPolicy`](crate::policies::CombinedPolicy)).
//!
//! This is the entry point for the webhook server: turn each alert state
//! change into an [`AlertSignal`] and call [`StepScalingPolicy::signal`].

use std::collections::BTreeMap;

use crest_core::{PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{AutoscalerError, Decision, Observation, Policy};

/// How a firing alert changes the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Adjustment {
    /// Add (or remove, if negative) this many instances.
    Change(i32),
    /// Add this percentage of the fleet (rounded up; at least one instance).
    Percent(i32),
    /// Ask for exactly this many instances.
    Exact(u32),
}

impl Adjustment {
    /// Apply to a fleet of `n`.
    pub fn apply(self, n: u32) -> u32 {
        let v = match self {
            Adjustment::Change(d) => i64::from(n) + i64::from(d),
            Adjustment::Percent(p) => {
                let delta = (f64::from(n) * f64::from(p) / 100.0).abs().ceil().max(1.0) as i64;
                if p >= 0 {
                    i64::from(n) + delta
                } else {
                    i64::from(n) - delta
                }
            }
            Adjustment::Exact(x) => i64::from(x),
        };
        u32::try_from(v.max(0)).unwrap_or(u32::MAX)
    }
}

/// One alert state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSignal {
    /// Identity of the alert episode (e.g. Alertmanager's fingerprint).
    pub key: String,
    /// The alert's name (for reasons).
    pub name: String,
    /// Firing (true) or resolved (false).
    pub firing: bool,
    /// When it changed state.
    pub at: Timestamp,
    /// The step it asks for when firing.
    pub adjustment: Adjustment,
}

#[derive(Debug, Clone, PartialEq)]
struct Active {
    name: String,
    adjustment: Adjustment,
    since: Timestamp,
    applied: bool,
}

/// Alert-driven step scaling with a cooldown and bounds.
#[derive(Debug, Clone)]
pub struct StepScalingPolicy {
    min: Replicas,
    max: Replicas,
    cooldown_s: i64,
    active: BTreeMap<String, Active>,
    floor: Option<u32>,
    last_step: Option<Timestamp>,
    last_name: String,
}

impl StepScalingPolicy {
    /// Bounds and the minimum spacing between two steps.
    ///
    /// # Errors
    /// [`AutoscalerError`] when `min > max` or the cooldown is negative.
    pub fn try_new(min: Replicas, max: Replicas, cooldown_s: i64) -> Result<Self, AutoscalerError> {
        if min > max {
            return Err(AutoscalerError::Bounds {
                min: min.0,
                max: max.0,
            });
        }
        if cooldown_s < 0 {
            return Err(AutoscalerError::setting(
                "step-scaling cooldown",
                "seconds >= 0",
                cooldown_s,
            ));
        }
        Ok(StepScalingPolicy {
            min,
            max,
            cooldown_s,
            active: BTreeMap::new(),
            floor: None,
            last_step: None,
            last_name: String::new(),
        })
    }

    /// Record an alert state change. Duplicates (same key, still firing) are
    /// ignored; a resolve for an unknown key is a no-op. Returns whether the
    /// signal changed anything.
    pub fn signal(&mut self, s: AlertSignal) -> bool {
        if s.firing {
            if self.active.contains_key(&s.key) {
                return false;
            }
            self.active.insert(
                s.key,
                Active {
                    name: s.name,
                    adjustment: s.adjustment,
                    since: s.at,
                    applied: false,
                },
            );
            true
        } else {
            let removed = self.active.remove(&s.key).is_some();
            if self.active.is_empty() {
                self.floor = None;
            }
            removed
        }
    }

    /// Alerts firing now, by key.
    pub fn firing(&self) -> impl Iterator<Item = (&str, &str)> {
        self.active
            .iter()
            .map(|(k, a)| (k.as_str(), a.name.as_str()))
    }

    /// The floor the firing alerts hold, if any.
    pub fn floor(&self) -> Option<Replicas> {
        self.floor.map(Replicas)
    }
}

impl Policy for StepScalingPolicy {
    fn name(&self) -> &str {
        "step-scaling"
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        self.recommend(obs).unwrap_or(Decision {
            desired: obs.fleet.desired,
            reason: PlanReason::Baseline,
            evaluate_next: None,
        })
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        if self.active.is_empty() {
            self.floor = None;
            return None;
        }
        let now = obs.now;
        let cooled = self
            .last_step
            .is_none_or(|t| now >= t.add_secs(self.cooldown_s));
        let mut next = None;
        let pending: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| !a.applied && a.since <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if !pending.is_empty() {
            if cooled {
                let mut n = obs.fleet.desired.0.max(self.floor.unwrap_or(0));
                for k in &pending {
                    if let Some(a) = self.active.get_mut(k) {
                        n = a.adjustment.apply(n);
                        a.applied = true;
                        self.last_name.clone_from(&a.name);
                    }
                }
                self.floor = Some(n.clamp(self.min.0, self.max.0));
                self.last_step = Some(now);
            } else {
                next = self.last_step.map(|t| t.add_secs(self.cooldown_s));
            }
        }
        let floor = self.floor?;
        Some(Decision {
            desired: Replicas(floor),
            reason: PlanReason::Alert {
                name: self.last_name.clone(),
            },
            evaluate_next: next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::recommend_at;

    fn sig(key: &str, firing: bool, at: i64, adj: Adjustment) -> AlertSignal {
        AlertSignal {
            key: key.into(),
            name: format!("Alert{key}"),
            firing,
            at: Timestamp::from_secs(at),
            adjustment: adj,
        }
    }

    fn rec(p: &mut StepScalingPolicy, t: i64, cur: u32) -> Option<u32> {
        recommend_at(p, t, cur, 0.0, 0.5)
    }

    #[test]
    fn steps_once_per_episode_with_cooldown_and_release() {
        let mut p = StepScalingPolicy::try_new(Replicas(1), Replicas(30), 60).unwrap();
        assert_eq!(rec(&mut p, 0, 10), None, "no alert, no opinion");
        assert!(p.signal(sig("a", true, 0, Adjustment::Change(4))));
        assert!(!p.signal(sig("a", true, 5, Adjustment::Change(4))), "dedup");
        assert_eq!(rec(&mut p, 10, 10), Some(14));
        assert_eq!(rec(&mut p, 20, 14), Some(14), "applied once");
        // A second alert inside the cooldown waits.
        p.signal(sig("b", true, 30, Adjustment::Percent(50)));
        assert_eq!(rec(&mut p, 40, 14), Some(14));
        assert_eq!(rec(&mut p, 70, 14), Some(21));
        // Bounds.
        p.signal(sig("c", true, 80, Adjustment::Exact(100)));
        assert_eq!(rec(&mut p, 140, 21), Some(30));
        // Resolving everything releases the floor.
        for k in ["a", "b", "c"] {
            assert!(p.signal(sig(k, false, 200, Adjustment::Change(0))));
        }
        assert!(!p.signal(sig("zz", false, 200, Adjustment::Change(0))));
        assert_eq!(rec(&mut p, 210, 30), None);
    }

    #[test]
    fn adjustments() {
        assert_eq!(Adjustment::Change(-3).apply(2), 0);
        assert_eq!(Adjustment::Percent(10).apply(5), 6);
        assert_eq!(Adjustment::Percent(-50).apply(5), 2);
        assert_eq!(Adjustment::Exact(7).apply(50), 7);
        let a: Adjustment = serde_json::from_str(r#"{"kind":"change","value":3}"#).unwrap();
        assert_eq!(a, Adjustment::Change(3));
    }
}
