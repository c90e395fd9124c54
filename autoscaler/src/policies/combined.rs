//! Combining policies safely: crest's runtime policy.
//!
//! Each member (predictive plan-follower, target tracking, alert steps,
//! scheduled floors) recommends a fleet size or abstains. The combination:
//!
//! 1. takes the **largest** recommendation, so no member can pull the fleet
//!    below what the plan, the forecast, an alert or an operator requires;
//! 2. clips to `[min, max]`;
//! 3. bounds the change per decision (`max_step_up`, `max_step_down`);
//! 4. refuses to scale in within `scale_in_cooldown_s` of the last scale-out
//!    (no flapping), while scale-out is never delayed (safety first);
//! 5. lets the bounds win over the step limits when the fleet is outside them.
//!
//! Every member is asked at every evaluation, so their own memories
//! (stabilisation windows, deviation holds) advance in step.

use crest_core::{PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{AutoscalerError, Decision, Observation, Policy};

/// The guard rails of a [`CombinedPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guard {
    /// Lower bound.
    pub min: Replicas,
    /// Upper bound.
    pub max: Replicas,
    /// Most instances added by one decision.
    pub max_step_up: u32,
    /// Most instances removed by one decision.
    pub max_step_down: u32,
    /// No scale-in within this many seconds of a scale-out.
    pub scale_in_cooldown_s: i64,
}

impl Guard {
    /// Bounds with generous steps (1 000 up, 50 down) and a 5 min cooldown.
    pub fn new(min: Replicas, max: Replicas) -> Self {
        Guard {
            min,
            max,
            max_step_up: 1000,
            max_step_down: 50,
            scale_in_cooldown_s: 300,
        }
    }
}

/// The largest recommendation of its members, within guard rails.
pub struct CombinedPolicy {
    name: String,
    members: Vec<Box<dyn Policy>>,
    guard: Guard,
    last_up: Option<Timestamp>,
    last_winner: Option<usize>,
}

impl std::fmt::Debug for CombinedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombinedPolicy")
            .field("name", &self.name)
            .field(
                "members",
                &self.members.iter().map(|m| m.name()).collect::<Vec<_>>(),
            )
            .field("guard", &self.guard)
            .finish()
    }
}

impl CombinedPolicy {
    /// An empty combination (keeps the fleet until members are added).
    ///
    /// # Errors
    /// [`AutoscalerError`] for `min > max`, zero steps or a negative cooldown.
    pub fn try_new(name: impl Into<String>, guard: Guard) -> Result<Self, AutoscalerError> {
        if guard.min > guard.max {
            return Err(AutoscalerError::Bounds {
                min: guard.min.0,
                max: guard.max.0,
            });
        }
        if guard.max_step_up == 0 || guard.max_step_down == 0 {
            return Err(AutoscalerError::setting(
                "combined max step",
                "at least 1 instance per decision",
                format!("up {} / down {}", guard.max_step_up, guard.max_step_down),
            ));
        }
        if guard.scale_in_cooldown_s < 0 {
            return Err(AutoscalerError::setting(
                "combined scale-in cooldown",
                "seconds >= 0",
                guard.scale_in_cooldown_s,
            ));
        }
        Ok(CombinedPolicy {
            name: name.into(),
            members: Vec::new(),
            guard,
            last_up: None,
            last_winner: None,
        })
    }

    /// Add a member.
    pub fn with(mut self, p: impl Policy + 'static) -> Self {
        self.members.push(Box::new(p));
        self
    }

    /// Add a boxed member.
    pub fn push(&mut self, p: Box<dyn Policy>) {
        self.members.push(p);
    }

    /// The members, for reports and for feeding them signals.
    pub fn members_mut(&mut self) -> &mut [Box<dyn Policy>] {
        &mut self.members
    }

    /// Name of the member whose recommendation won the last decision.
    pub fn last_winner(&self) -> Option<&str> {
        self.last_winner.map(|i| self.members[i].name())
    }

    /// The guard rails.
    pub fn guard(&self) -> Guard {
        self.guard
    }
}

impl Policy for CombinedPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        let now = obs.now;
        let current = obs.fleet.desired.0;
        let mut best: Option<(usize, Decision)> = None;
        let mut next: Option<Timestamp> = None;
        for (i, m) in self.members.iter_mut().enumerate() {
            if let Some(d) = m.recommend(obs) {
                if let Some(t) = d.evaluate_next {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
                if best.as_ref().is_none_or(|(_, b)| d.desired > b.desired) {
                    best = Some((i, d));
                }
            }
        }
        self.last_winner = best.as_ref().map(|(i, _)| *i);
        let (target, mut reason) = match best {
            Some((_, d)) => (d.desired.0, d.reason),
            None => (current, PlanReason::Baseline),
        };
        let g = self.guard;
        let clipped = target.clamp(g.min.0, g.max.0);
        if clipped != target {
            reason = PlanReason::Bound {
                which: if clipped > target { "min" } else { "max" }.into(),
            };
        }
        let desired = if clipped > current {
            let d = clipped.min(current.saturating_add(g.max_step_up));
            if d < clipped {
                reason = PlanReason::Bound {
                    which: "max step up".into(),
                };
            }
            d
        } else if clipped < current {
            let cooling = self
                .last_up
                .is_some_and(|t| now < t.add_secs(g.scale_in_cooldown_s));
            if cooling {
                if let Some(t) = self.last_up {
                    let end = t.add_secs(g.scale_in_cooldown_s);
                    next = Some(next.map_or(end, |n| n.min(end)));
                }
                reason = PlanReason::Bound {
                    which: "scale-in cooldown".into(),
                };
                current
            } else {
                let d = clipped.max(current.saturating_sub(g.max_step_down));
                if d > clipped {
                    reason = PlanReason::Bound {
                        which: "max step down".into(),
                    };
                }
                d
            }
        } else {
            current
        };
        // Bounds win over step limits (an operator lowering `max` means it).
        let bounded = desired.clamp(g.min.0, g.max.0);
        if bounded != desired {
            reason = PlanReason::Bound {
                which: if bounded > desired { "min" } else { "max" }.into(),
            };
        }
        let desired = bounded;
        if desired > current {
            self.last_up = Some(now);
        }
        Decision {
            desired: Replicas(desired),
            reason,
            evaluate_next: next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};
    use crate::policies::{
        FixedPolicy, ScheduledAction, ScheduledPolicy, TargetMetric, TargetTrackingConfig,
        TargetTrackingPolicy,
    };
    use proptest::prelude::*;

    /// A member that recommends whatever it is told (or abstains).
    struct Script(Vec<Option<u32>>, usize);
    impl Policy for Script {
        fn name(&self) -> &str {
            "script"
        }
        fn decide(&mut self, obs: &Observation<'_>) -> Decision {
            self.recommend(obs).unwrap_or(Decision {
                desired: obs.fleet.desired,
                reason: PlanReason::Baseline,
                evaluate_next: None,
            })
        }
        fn recommend(&mut self, _obs: &Observation<'_>) -> Option<Decision> {
            let v = self.0.get(self.1).copied().flatten();
            self.1 += 1;
            v.map(|n| Decision {
                desired: Replicas(n),
                reason: PlanReason::Baseline,
                evaluate_next: None,
            })
        }
    }

    fn run(p: &mut CombinedPolicy, start: u32, steps: usize, dt: i64) -> Vec<u32> {
        let mut cur = start;
        let mut out = Vec::new();
        for k in 0..steps {
            let t = k as i64 * dt;
            let f = fleet(t, cur, cur);
            let m = metrics(t, 0.0, 0.5, cur);
            let d = p.decide(&Observation {
                now: Timestamp::from_secs(t),
                fleet: &f,
                metrics: &m,
                plan: None,
            });
            cur = d.desired.0;
            out.push(cur);
        }
        out
    }

    #[test]
    fn largest_member_wins_and_abstainers_do_not_pin() {
        let guard = Guard {
            scale_in_cooldown_s: 0,
            ..Guard::new(Replicas(1), Replicas(100))
        };
        let mut p = CombinedPolicy::try_new("crest", guard)
            .unwrap()
            .with(FixedPolicy::new(Replicas(5)))
            .with(ScheduledPolicy::new(vec![ScheduledAction {
                name: "tv".into(),
                from: Timestamp::from_secs(15),
                to: Timestamp::from_secs(30),
                replicas: Replicas(20),
            }]));
        assert_eq!(run(&mut p, 5, 4, 15), vec![5, 20, 5, 5]);
    }

    #[test]
    fn cooldown_and_step_bounds() {
        let guard = Guard {
            min: Replicas(1),
            max: Replicas(100),
            max_step_up: 10,
            max_step_down: 3,
            scale_in_cooldown_s: 60,
        };
        let script = Script(
            vec![
                Some(30),
                Some(30),
                Some(2),
                Some(2),
                Some(2),
                Some(2),
                Some(2),
                Some(2),
            ],
            0,
        );
        let mut p = CombinedPolicy::try_new("crest", guard)
            .unwrap()
            .with(script);
        // Up 10 per step; after the last scale-out at 15 s, no scale-in before 75 s.
        assert_eq!(run(&mut p, 5, 8, 15), vec![15, 25, 25, 25, 25, 22, 19, 16]);
    }

    #[test]
    fn reactive_above_plan_floor() {
        let tt = TargetTrackingPolicy::try_new(
            TargetTrackingConfig::new(TargetMetric::Utilisation, 0.5).with_bounds(1, 100),
        )
        .unwrap();
        let mut p = CombinedPolicy::try_new("crest", Guard::new(Replicas(1), Replicas(100)))
            .unwrap()
            .with(FixedPolicy::new(Replicas(10)))
            .with(tt);
        // Utilisation is 0.5 in the helper metrics: target tracking keeps the
        // fleet; the plan floor of 10 holds the fleet up from 4.
        assert_eq!(run(&mut p, 4, 2, 15), vec![10, 10]);
        assert_eq!(p.last_winner(), Some("fixed"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Never below the largest floor on a scale-in, bounded change per step,
        /// bounds always hold, and no scale-in within the cooldown of a scale-out.
        #[test]
        fn combined_is_safe(
            floors in prop::collection::vec(prop::option::of(0u32..200), 1..60),
            reactive in prop::collection::vec(prop::option::of(0u32..200), 60),
            start in 0u32..200,
            up in 1u32..50,
            down in 1u32..20,
            cool in 0i64..120,
            min in 0u32..10,
            span in 1u32..150,
        ) {
            let guard = Guard { min: Replicas(min), max: Replicas(min + span), max_step_up: up, max_step_down: down, scale_in_cooldown_s: cool };
            let n = floors.len();
            let mut p = CombinedPolicy::try_new("crest", guard).unwrap()
                .with(Script(floors.clone(), 0))
                .with(Script(reactive.clone(), 0));
            let mut cur = start;
            let mut last_up: Option<i64> = None;
            for k in 0..n {
                let t = k as i64 * 15;
                let f = fleet(t, cur, cur);
                let m = metrics(t, 0.0, 0.5, cur);
                let d = p.decide(&Observation { now: Timestamp::from_secs(t), fleet: &f, metrics: &m, plan: None }).desired.0;
                let need = floors[k].into_iter().chain(reactive[k]).max();
                if d < cur {
                    // Scale-in never below any member's recommendation (clipped to max).
                    if let Some(need) = need {
                        prop_assert!(d >= need.min(min + span), "k={} d={} need={}", k, d, need);
                    }
                    prop_assert!(cur - d <= down || cur > min + span);
                    prop_assert!(last_up.is_none_or(|u| t >= u + cool), "flap at {}", t);
                }
                if d > cur {
                    prop_assert!(d - cur <= up || cur < min);
                    last_up = Some(t);
                }
                prop_assert!(d <= min + span);
                prop_assert!(d >= min || d >= cur.min(min));
                cur = d;
            }
        }
    }
}
