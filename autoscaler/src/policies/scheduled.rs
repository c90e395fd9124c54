//! Scheduled actions: "at least N instances from Friday 18:00 to Sunday 23:00".
//!
//! Operators know things no forecast does (a marketing push, a TV spot). A
//! scheduled action holds a floor over a time window; outside every window the
//! policy has no opinion. It asks to be evaluated again at the next window
//! boundary so the floor starts and ends on time.

use crest_core::{PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Decision, Observation, Policy};

/// A floor over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledAction {
    /// A name for reasons and reports.
    pub name: String,
    /// Start (inclusive).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// At least this many instances inside the window.
    pub replicas: Replicas,
}

/// Holds the floors of the scheduled actions in force.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduledPolicy {
    actions: Vec<ScheduledAction>,
}

impl ScheduledPolicy {
    /// A policy over these actions.
    pub fn new(actions: Vec<ScheduledAction>) -> Self {
        ScheduledPolicy { actions }
    }

    /// Add an action.
    pub fn push(&mut self, a: ScheduledAction) {
        self.actions.push(a);
    }

    fn next_boundary(&self, now: Timestamp) -> Option<Timestamp> {
        self.actions
            .iter()
            .flat_map(|a| [a.from, a.to])
            .filter(|t| *t > now)
            .min()
    }
}

impl Policy for ScheduledPolicy {
    fn name(&self) -> &str {
        "scheduled"
    }

    fn decide(&mut self, obs: &Observation<'_>) -> Decision {
        self.recommend(obs).unwrap_or(Decision {
            desired: obs.fleet.desired,
            reason: PlanReason::Baseline,
            evaluate_next: self.next_boundary(obs.now),
        })
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Option<Decision> {
        let now = obs.now;
        let a = self
            .actions
            .iter()
            .filter(|a| a.from <= now && now < a.to)
            .max_by_key(|a| a.replicas)?;
        Some(Decision {
            desired: a.replicas,
            reason: PlanReason::Manual {
                note: format!("scheduled action {}", a.name),
            },
            evaluate_next: self.next_boundary(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policies::testutil::{fleet, metrics};

    #[test]
    fn floors_inside_windows_only() {
        let act = |name: &str, from, to, n| ScheduledAction {
            name: name.into(),
            from: Timestamp::from_secs(from),
            to: Timestamp::from_secs(to),
            replicas: Replicas(n),
        };
        let mut p = ScheduledPolicy::new(vec![act("tv", 100, 200, 8), act("sale", 150, 300, 12)]);
        let mut at = |t: i64| {
            let f = fleet(t, 3, 3);
            let m = metrics(t, 0.0, 0.5, 3);
            p.recommend(&Observation {
                now: Timestamp::from_secs(t),
                fleet: &f,
                metrics: &m,
                plan: None,
            })
            .map(|d| (d.desired.0, d.evaluate_next.map(Timestamp::secs)))
        };
        assert_eq!(at(50), None);
        assert_eq!(at(100), Some((8, Some(150))));
        assert_eq!(at(160), Some((12, Some(200))));
        assert_eq!(at(250), Some((12, Some(300))));
        assert_eq!(at(300), None);
    }
}
