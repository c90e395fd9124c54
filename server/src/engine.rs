//! From alert events to scaling decisions: the step-scaling ledger.
//!
//! The server never touches a fleet (STYLE.md §7). It turns each new alert
//! state change into a recorded decision that the autoscaler (and the
//! simulator, replaying recorded alerts as timed events) consumes:
//!
//! ```text
//!  AlertEvent ──map_alert──► Target (app, rule: step, on_resolve, bounds)
//!             ──AlertLedger::apply──► DecisionDraft (delta, desired floor)
//! ```
//!
//! The ledger holds, per app, the steps of the alerts now firing. The
//! decision's `desired_replicas` is the floor those alerts hold:
//! `clamp(base + Σ active steps, min, max)`; `delta` is the change this one
//! event asks for. A resolved alert removes its step; with `on_resolve =
//! "undo"` the decision asks for the opposite change, with `"end"` it only
//! releases the floor (delta 0) and leaves scale-in to the other policies.
//!
//! Everything here is pure and deterministic (BTreeMaps), so the same alert
//! sequence gives the same decisions in production and in a replay.

use std::collections::BTreeMap;

use crest_core::{AppId, PlanReason, Replicas, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::{AppBounds, Mapping, OnResolve};
use crate::payload::{AlertEvent, AlertStatus, Source};

/// Where an alert goes: its app and the rule that sets its step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The app the alert is about.
    pub app: AppId,
    /// The step the matching rule sets.
    pub step: i32,
    /// What resolution does.
    pub on_resolve: OnResolve,
    /// The app's bounds.
    pub bounds: AppBounds,
}

/// Map an alert to its app and step rule, or say why it is ignored.
///
/// # Errors
/// A short reason when no app label is present, the app id is invalid or
/// unknown (and no `[defaults]`), or no rule matches.
pub fn map_alert(mapping: &Mapping, ev: &AlertEvent) -> Result<Target, String> {
    let Some((label, raw)) = mapping
        .app_labels
        .iter()
        .find_map(|l| ev.labels.get(l).map(|v| (l, v)))
    else {
        return Err(format!(
            "no app label (looked for {})",
            mapping.app_labels.join(", ")
        ));
    };
    let app = AppId::try_new(raw.clone())
        .map_err(|_| format!("label {label}={raw:?} is not a valid app id"))?;
    let bounds = mapping.bounds(&app).ok_or_else(|| {
        format!("app {app} is not configured (no [apps.{app}] and no [defaults])")
    })?;
    let rule = mapping
        .rules
        .iter()
        .find(|r| r.matches(&ev.labels))
        .ok_or_else(|| format!("no step rule matches alert {:?}", ev.alertname()))?;
    Ok(Target {
        app,
        step: rule.step,
        on_resolve: rule.on_resolve,
        bounds,
    })
}

/// A step an alert holds while it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveStep {
    /// The episode's start (a resolve for an older episode does not end it).
    pub starts_at: Timestamp,
    /// The step held.
    pub step: i32,
    /// What its resolution does (fixed when it fired, so a config reload does
    /// not change how an open alert ends).
    pub on_resolve: OnResolve,
}

/// Key of an alert in the ledger.
pub type AlertKey = (Source, String);

/// What applying an alert did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// A decision was made.
    Decision(DecisionDraft),
    /// A resolve for an alert that holds no step (never seen firing, or already ended).
    NothingToResolve,
    /// An event older than the episode the ledger holds (out-of-order delivery).
    Stale,
}

/// A decision before the store gives it an id and a time.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDraft {
    /// The app.
    pub app: AppId,
    /// The rule's step.
    pub step: i32,
    /// The change this event asks for.
    pub delta: i32,
    /// The floor alerts now hold for the app.
    pub desired: Replicas,
    /// The floor before this event.
    pub previous: Replicas,
    /// The app's bounds when decided.
    pub bounds: AppBounds,
    /// What resolution does.
    pub on_resolve: OnResolve,
    /// Why (an alert, by name).
    pub reason: PlanReason,
}

/// Per-app active alert steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertLedger {
    active: BTreeMap<AppId, BTreeMap<AlertKey, ActiveStep>>,
}

fn clamp(bounds: AppBounds, sum: i64) -> Replicas {
    let v =
        (i64::from(bounds.base.0) + sum).clamp(i64::from(bounds.min.0), i64::from(bounds.max.0));
    Replicas(u32::try_from(v).unwrap_or(bounds.max.0))
}

impl AlertLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restore an active step (when loading the store).
    pub fn restore(&mut self, app: AppId, key: AlertKey, step: ActiveStep) {
        self.active.entry(app).or_default().insert(key, step);
    }

    /// The active steps of an app.
    pub fn active(&self, app: &AppId) -> impl Iterator<Item = (&AlertKey, &ActiveStep)> {
        self.active.get(app).into_iter().flat_map(|m| m.iter())
    }

    fn sum(&self, app: &AppId) -> i64 {
        self.active(app).map(|(_, s)| i64::from(s.step)).sum()
    }

    /// The floor alerts hold for an app now.
    pub fn desired(&self, app: &AppId, bounds: AppBounds) -> Replicas {
        clamp(bounds, self.sum(app))
    }

    /// Apply one (deduplicated) alert event.
    pub fn apply(&mut self, ev: &AlertEvent, target: &Target) -> Applied {
        let key: AlertKey = (ev.source, ev.fingerprint.clone());
        let app = &target.app;
        let previous = self.desired(app, target.bounds);
        let existing = self.active.get(app).and_then(|m| m.get(&key)).copied();
        if existing.is_some_and(|a| a.starts_at > ev.starts_at) {
            return Applied::Stale;
        }
        let (step, on_resolve, delta_kind) = match ev.status {
            AlertStatus::Firing => {
                self.active.entry(app.clone()).or_default().insert(
                    key,
                    ActiveStep {
                        starts_at: ev.starts_at,
                        step: target.step,
                        on_resolve: target.on_resolve,
                    },
                );
                (target.step, target.on_resolve, OnResolve::Undo)
            }
            AlertStatus::Resolved => {
                let Some(held) = existing else {
                    return Applied::NothingToResolve;
                };
                if let Some(m) = self.active.get_mut(app) {
                    m.remove(&key);
                    if m.is_empty() {
                        self.active.remove(app);
                    }
                }
                (held.step, held.on_resolve, held.on_resolve)
            }
        };
        let desired = self.desired(app, target.bounds);
        let delta = match delta_kind {
            OnResolve::Undo => {
                i32::try_from(i64::from(desired.0) - i64::from(previous.0)).unwrap_or(0)
            }
            OnResolve::End => 0,
        };
        Applied::Decision(DecisionDraft {
            app: app.clone(),
            step,
            delta,
            desired,
            previous,
            bounds: target.bounds,
            on_resolve,
            reason: PlanReason::Alert {
                name: ev.alertname().to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StepRule;
    use proptest::prelude::*;

    fn bounds() -> AppBounds {
        AppBounds {
            min: Replicas(2),
            max: Replicas(10),
            base: Replicas(3),
        }
    }

    fn mapping() -> Mapping {
        let mut apps = BTreeMap::new();
        apps.insert(AppId::try_new("web").unwrap(), bounds());
        Mapping {
            app_labels: vec!["app".into(), "service".into()],
            rules: vec![
                StepRule {
                    alertname: Some("HighLatency".into()),
                    severity: None,
                    labels: BTreeMap::new(),
                    step: 4,
                    on_resolve: OnResolve::Undo,
                },
                StepRule {
                    alertname: None,
                    severity: Some("warning".into()),
                    labels: BTreeMap::new(),
                    step: 1,
                    on_resolve: OnResolve::End,
                },
            ],
            defaults: None,
            apps,
        }
    }

    fn ev(fp: &str, name: &str, sev: &str, status: AlertStatus, start: i64) -> AlertEvent {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("app".into(), "web".into());
        labels.insert("severity".into(), sev.into());
        AlertEvent {
            source: Source::Alertmanager,
            fingerprint: fp.into(),
            status,
            labels,
            annotations: BTreeMap::new(),
            starts_at: Timestamp(start),
            ends_at: None,
        }
    }

    fn decide(l: &mut AlertLedger, e: &AlertEvent) -> Applied {
        let t = map_alert(&mapping(), e).unwrap();
        l.apply(e, &t)
    }

    #[test]
    fn firing_adds_and_resolve_undoes() {
        let mut l = AlertLedger::new();
        let Applied::Decision(d) = decide(
            &mut l,
            &ev("a", "HighLatency", "page", AlertStatus::Firing, 1),
        ) else {
            panic!()
        };
        assert_eq!(
            (d.delta, d.desired, d.previous),
            (4, Replicas(7), Replicas(3))
        );
        // A second alert is clamped at max.
        let Applied::Decision(d) = decide(
            &mut l,
            &ev("b", "HighLatency", "page", AlertStatus::Firing, 2),
        ) else {
            panic!()
        };
        assert_eq!((d.delta, d.desired), (3, Replicas(10)));
        let Applied::Decision(d) = decide(
            &mut l,
            &ev("a", "HighLatency", "page", AlertStatus::Resolved, 1),
        ) else {
            panic!()
        };
        assert_eq!((d.delta, d.desired), (-3, Replicas(7)));
        assert_eq!(
            decide(
                &mut l,
                &ev("a", "HighLatency", "page", AlertStatus::Resolved, 1)
            ),
            Applied::NothingToResolve
        );
    }

    #[test]
    fn end_releases_without_scale_in() {
        let mut l = AlertLedger::new();
        decide(
            &mut l,
            &ev("w", "Backlog", "warning", AlertStatus::Firing, 5),
        );
        let Applied::Decision(d) = decide(
            &mut l,
            &ev("w", "Backlog", "warning", AlertStatus::Resolved, 5),
        ) else {
            panic!()
        };
        assert_eq!(
            (d.delta, d.desired, d.on_resolve),
            (0, Replicas(3), OnResolve::End)
        );
    }

    #[test]
    fn stale_resolve_does_not_end_a_newer_episode() {
        let mut l = AlertLedger::new();
        decide(
            &mut l,
            &ev("a", "HighLatency", "page", AlertStatus::Firing, 100),
        );
        assert_eq!(
            decide(
                &mut l,
                &ev("a", "HighLatency", "page", AlertStatus::Resolved, 50)
            ),
            Applied::Stale
        );
        assert_eq!(
            l.desired(&AppId::try_new("web").unwrap(), bounds()),
            Replicas(7)
        );
    }

    #[test]
    fn mapping_reasons() {
        let m = mapping();
        let mut e = ev("a", "HighLatency", "page", AlertStatus::Firing, 1);
        e.labels.insert("app".into(), "Not Valid".into());
        assert!(
            map_alert(&m, &e)
                .unwrap_err()
                .contains("not a valid app id")
        );
        e.labels.insert("app".into(), "other".into());
        assert!(map_alert(&m, &e).unwrap_err().contains("not configured"));
        e.labels.remove("app");
        e.labels.insert("service".into(), "web".into());
        assert_eq!(map_alert(&m, &e).unwrap().step, 4);
        e.labels.insert("alertname".into(), "Other".into());
        assert!(map_alert(&m, &e).unwrap_err().contains("no step rule"));
        e.labels.clear();
        assert!(map_alert(&m, &e).unwrap_err().contains("no app label"));
    }

    /// Where the two models overlap (alerts firing, then all resolved), the
    /// server's floor equals what the autoscaler's own `StepScalingPolicy`
    /// recommends when fed the signals the decisions carry.
    #[test]
    fn ledger_agrees_with_the_autoscalers_step_policy() {
        use crate::store::signal_for;
        use crest_autoscaler::{Observation, Policy, StepScalingPolicy};
        use crest_core::seams::{FleetState, Metrics};

        let b = bounds();
        let app = AppId::try_new("web").unwrap();
        let mut policy = StepScalingPolicy::try_new(b.min, b.max, 0).unwrap();
        let mut ledger = AlertLedger::new();
        let fleet = FleetState {
            app: app.clone(),
            at: Timestamp(0),
            desired: b.base,
            instances: vec![],
        };
        let metrics = Metrics {
            at: Timestamp(0),
            demand_rps: 0.0,
            throughput_rps: 0.0,
            p99_ms: f64::NAN,
            error_rate: 0.0,
            utilisation: 0.0,
            running: 0,
        };
        let obs = |t: i64| Observation {
            now: Timestamp(t),
            fleet: &fleet,
            metrics: &metrics,
            plan: None,
        };
        let firing = [
            ev("a", "HighLatency", "page", AlertStatus::Firing, 10),
            ev("b", "Backlog", "warning", AlertStatus::Firing, 20),
            ev("c", "Backlog", "warning", AlertStatus::Firing, 30),
        ];
        for (i, e) in firing.iter().enumerate() {
            let Applied::Decision(d) = decide(&mut ledger, e) else {
                panic!()
            };
            let s = signal_for(
                e.source,
                &e.fingerprint,
                e.alertname(),
                e.status,
                e.starts_at,
                d.step,
            );
            assert!(policy.signal(s));
            let t = 100 * (i as i64 + 1);
            let rec = policy.recommend(&obs(t)).map(|d| d.desired);
            assert_eq!(rec, Some(d.desired), "after {}", e.fingerprint);
        }
        for e in &firing {
            let mut r = e.clone();
            r.status = AlertStatus::Resolved;
            let Applied::Decision(d) = decide(&mut ledger, &r) else {
                panic!()
            };
            policy.signal(signal_for(
                r.source,
                &r.fingerprint,
                r.alertname(),
                r.status,
                Timestamp(500),
                d.step,
            ));
        }
        assert_eq!(ledger.desired(&app, b), b.base);
        assert_eq!(
            policy.recommend(&obs(600)),
            None,
            "no alert, no opinion: back to base"
        );
    }

    proptest! {
        /// Whatever the order of events: the floor stays within bounds, and
        /// once every alert is resolved the floor is back at base.
        #[test]
        fn floor_in_bounds_and_returns_to_base(events in proptest::collection::vec((0u8..6, any::<bool>(), 0i64..4), 0..60)) {
            let mut l = AlertLedger::new();
            let app = AppId::try_new("web").unwrap();
            let mut starts = BTreeMap::new();
            for (fp, firing, start) in events {
                let name = if fp % 2 == 0 { ("HighLatency", "page") } else { ("Backlog", "warning") };
                let status = if firing { AlertStatus::Firing } else { AlertStatus::Resolved };
                let e = ev(&fp.to_string(), name.0, name.1, status, start);
                starts.insert(fp, (name, start));
                if let Applied::Decision(d) = decide(&mut l, &e) {
                    prop_assert!(d.desired >= bounds().min && d.desired <= bounds().max);
                }
            }
            for (fp, (name, _)) in &starts {
                let e = ev(&fp.to_string(), name.0, name.1, AlertStatus::Resolved, i64::MAX);
                decide(&mut l, &e);
            }
            prop_assert_eq!(l.desired(&app, bounds()), bounds().base);
        }
    }
}
