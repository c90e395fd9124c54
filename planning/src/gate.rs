//! The verification gate: a plan replayed against demand scenarios before it
//! is trusted.
//!
//! Monte Carlo draws from the forecast's own quantiles
//! ([`crest_autoscaler::verify::scenario_series`]) only test the plan
//! against the forecast's idea of its own uncertainty: they cannot catch a
//! forecast that is wrong. So the gate also replays
//!
//! - **empirical** scenarios: the plan's forecast mean multiplied by the
//!   errors the forecaster actually made on comparable past days
//!   ([`comparable_errors`]: the same holiday's window in earlier years
//!   when the plan falls in a holiday window, else the days just before);
//! - **stated stress cases** ([`StressCases`]): the forecast mean × k (a
//!   surge nobody forecast), and the forecast mean with every provisioning
//!   lead time at its p99.
//!
//! Each sampled kind (quantile, empirical) may breach in at most the gate's
//! `max_breach_probability` of its scenarios, judged on its own so a few
//! empirical days are not diluted by hundreds of draws; a stress case may
//! not breach at all ([`GateReport::from_kinds`]). [`run_gate`] is the one
//! gate `crest plan --verify`, `crest run`'s re-verification and
//! `crest serve`'s `POST /v1/plans?verify=true` call; the backtest calls
//! [`gate`], the same replays on its parts.

use chrono::NaiveDate;
use crest_autoscaler::policies::live_level;
use crest_autoscaler::{
    EmpiricalErrors, FluidModel, GateConfig, GateReport, PlanDocument, Policy, ScenarioRun,
    SchedulePolicy,
};
use crest_core::{Calendar, Forecast, ScalingPlan, Series, Timestamp};
use rayon::prelude::*;

use crate::PlanningError;
use crate::forecast::forecast_window;
use crate::replay::{LeadTimes, SimMode, replay_sim_with};
use crest_forecast::FinalFit;

/// What the gate replays scenarios on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateEngine {
    /// crest-sim (requests, queues, jittered lead times, rate limits).
    Sim(SimMode),
    /// The planner's fluid model (milliseconds per scenario; lead times are
    /// always the planned worst case there).
    Planner,
}

impl GateEngine {
    /// The engine's name in reports.
    pub fn label(self) -> &'static str {
        match self {
            GateEngine::Sim(m) => m.label(),
            GateEngine::Planner => "fluid",
        }
    }
}

/// The stated stress cases of the gate, parsed from `surge=1.2,lead=p99`
/// (or `none`), kept in the plan's [`GateConfig`] so a re-verification runs
/// the same ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StressCases {
    /// Replay the forecast mean × this; 0 = no surge case.
    pub surge: f64,
    /// Replay the forecast mean with every lead time at its p99.
    pub lead_p99: bool,
}

impl StressCases {
    /// What `crest plan --stress` uses unless told otherwise.
    pub const DEFAULT: &'static str = "surge=1.2,lead=p99";

    /// Parse `surge=K,lead=p99`, either part alone, or `none`.
    ///
    /// # Errors
    /// [`PlanningError::Invalid`] naming the bad part.
    pub fn parse(text: &str) -> Result<Self, PlanningError> {
        let mut out = StressCases {
            surge: 0.0,
            lead_p99: false,
        };
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") || text.is_empty() {
            return Ok(out);
        }
        for part in text.split(',') {
            let bad = |why: &str| {
                PlanningError::Invalid(format!(
                    "invalid stress case {part:?} in {text:?}: {why} (expected surge=K,lead=p99 or none)"
                ))
            };
            let (key, value) = part.split_once('=').ok_or_else(|| bad("no '='"))?;
            match key.trim() {
                "surge" => {
                    let k: f64 = value
                        .trim()
                        .parse()
                        .map_err(|_| bad("the surge is not a number"))?;
                    if !(k.is_finite() && k > 0.0 && k <= 100.0) {
                        return Err(bad("the surge factor must be in (0, 100]"));
                    }
                    out.surge = k;
                }
                "lead" => match value.trim() {
                    "p99" => out.lead_p99 = true,
                    "none" => out.lead_p99 = false,
                    _ => return Err(bad("the lead-time case is p99 or none")),
                },
                _ => return Err(bad("unknown case")),
            }
        }
        Ok(out)
    }

    /// Put these cases into gate settings.
    pub fn apply(self, cfg: &mut GateConfig) {
        cfg.stress_surge = self.surge;
        cfg.stress_lead_p99 = self.lead_p99;
    }
}

/// The forecaster's errors on past days, day by day, in the two kinds the
/// gate and the policy need, from one pass over the days:
/// - the **error profiles** the gate's empirical scenarios replay: actual /
///   forecast mean per step, where steps with a near-zero forecast (under
///   5 % of its peak) count as 1, so that a scenario never multiplies a
///   night's ratio onto a day;
/// - the **live levels** the level-tracking policy measures ([`live_level`]:
///   every step, however small its forecast; 1 where the forecast is not
///   positive or the actual is missing): the level model is learned from
///   these ([`crate::policy::level_model`]).
pub fn error_and_level_profiles(
    forecast: &Forecast,
    actual: &Series,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let (errors, levels) = ratios(forecast, actual);
    (per_day(forecast, errors), per_day(forecast, levels))
}

fn per_day(forecast: &Forecast, ratios: Vec<f64>) -> Vec<Vec<f64>> {
    let per_day = usize::try_from(86_400 / forecast.step_s.max(1))
        .unwrap_or(1)
        .max(1);
    ratios
        .chunks(per_day)
        .filter(|c| c.len() == per_day)
        .map(<[f64]>::to_vec)
        .collect()
}

/// At every forecast step the series covers, the error ratio and the live
/// level ([`error_and_level_profiles`]).
fn ratios(forecast: &Forecast, actual: &Series) -> (Vec<f64>, Vec<f64>) {
    let floor = 0.05 * forecast.mean.iter().copied().fold(0.0, f64::max);
    (0..forecast.horizon())
        .filter_map(|i| {
            let j = actual.index_of(forecast.time_at(i))?;
            let (a, m) = (actual.values()[j], forecast.mean[i]);
            let error = if m > floor && a.is_finite() {
                (a / m).max(0.0)
            } else {
                1.0
            };
            Some((error, live_level(a, m).unwrap_or(1.0)))
        })
        .unzip()
}

/// Scenarios: the forecast mean times each error profile, repeated over the
/// forecast.
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

/// Which past days count as comparable for [`comparable_errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComparableDays {
    /// Outside holiday windows (or with no earlier year of the holiday in
    /// the data): this many days before the plan's window.
    pub recent_days: u32,
    /// A past day (or window) counts only with this many days of data
    /// before it to forecast from.
    pub min_history_days: u32,
}

impl Default for ComparableDays {
    fn default() -> Self {
        ComparableDays {
            recent_days: 7,
            min_history_days: 28,
        }
    }
}

fn midnight(d: NaiveDate) -> Timestamp {
    Timestamp::from_naive_utc(&d.and_time(chrono::NaiveTime::MIN))
}

fn date_of(t: Timestamp) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_millis(t.millis()).map(|d| d.date_naive())
}

/// The forecaster's errors on days comparable to the window `[from, to)`,
/// each forecast the way the plan's is (with the data before it only):
///
/// - when the window lies in a holiday's effect window (of `calendar`) and
///   the data holds the same holiday in earlier years (with
///   `min_history_days` of data before it): the window shifted onto each
///   earlier occurrence (aligned on the holiday's first day), one profile
///   per year spanning the whole window;
/// - otherwise the `recent_days` whole days before `from` that the data
///   covers, each forecast day-ahead (decided at its midnight), one profile
///   per day, rotated to start at `from`'s time of day.
///
/// Profiles are ratios (actual / forecast mean), so they apply to the plan's
/// forecast in any unit. No comparable day: no profiles (the source says so).
///
/// # Errors
/// [`PlanningError::Forecast`] when the forecaster fails on a past day.
pub fn comparable_errors(
    series: &Series,
    calendar: &Calendar,
    from: Timestamp,
    to: Timestamp,
    opts: &ComparableDays,
) -> Result<EmpiricalErrors, PlanningError> {
    let (Some(first), Some(last), Some(data_start), false) = (
        date_of(from),
        date_of(to.add_secs(-1)),
        date_of(series.start()),
        series.is_empty(),
    ) else {
        return Ok(EmpiricalErrors {
            source: "no comparable days (empty data)".into(),
            labels: Vec::new(),
            profiles: Vec::new(),
            levels: Vec::new(),
        });
    };
    let step = series.step_s();
    // Whole days of data end at the last complete day.
    let covered_to = series.time_at(series.len());
    let earliest = data_start + chrono::Days::new(u64::from(opts.min_history_days));

    // Same holiday, earlier years.
    let periods = calendar.holiday_periods();
    let mut windows: Vec<(String, Timestamp, Timestamp)> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for p in periods.iter().filter(|p| !p.event) {
        let (a, b) = p.window_span(calendar.effect_window(&p.name));
        if a > last || b < first {
            continue;
        }
        for q in periods
            .iter()
            .filter(|q| q.name == p.name && !q.event && q.first < p.first)
        {
            let shift = (p.first - q.first).num_seconds();
            let (qa, qb) = (from.add_secs(-shift), to.add_secs(-shift));
            if date_of(qa).is_some_and(|d| d >= earliest) && qb <= covered_to {
                windows.push((q.label(), qa, qb));
            }
        }
        names.push(p.name.clone());
    }
    windows.sort_by_key(|w| w.1);
    windows.dedup_by_key(|w| w.1);
    if !windows.is_empty() {
        let (profiles, levels): (Vec<_>, Vec<_>) = windows
            .par_iter()
            .map(|(_, a, b)| {
                let f = forecast_window(series, *a, *a, *b, calendar, 0, FinalFit::Linfa)?;
                Ok(ratios(&f, series))
            })
            .collect::<Result<Vec<_>, PlanningError>>()?
            .into_iter()
            .unzip();
        let labels: Vec<String> = windows.iter().map(|w| w.0.clone()).collect();
        return Ok(EmpiricalErrors {
            source: format!(
                "the same window around {} in earlier years ({})",
                names.join(", "),
                labels.join(", ")
            ),
            labels,
            profiles,
            levels,
        });
    }

    // Recent days.
    let days: Vec<NaiveDate> = (1..=u64::from(opts.recent_days))
        .filter_map(|k| first.checked_sub_days(chrono::Days::new(k)))
        .filter(|d| *d >= earliest && midnight(*d).add_secs(86_400) <= covered_to.min(from))
        .collect();
    let per_day = usize::try_from(86_400 / step.max(1)).unwrap_or(1).max(1);
    let rotate = usize::try_from((from.millis() - midnight(first).millis()) / (step * 1000))
        .unwrap_or(0)
        % per_day;
    let (profiles, levels): (Vec<_>, Vec<_>) = days
        .par_iter()
        .map(|d| {
            let a = midnight(*d);
            let f = forecast_window(
                series,
                a,
                a,
                a.add_secs(86_400),
                calendar,
                0,
                FinalFit::Linfa,
            )?;
            let (mut r, mut l) = ratios(&f, series);
            for day in [&mut r, &mut l] {
                if day.len() == per_day {
                    day.rotate_left(rotate);
                }
            }
            Ok((r, l))
        })
        .collect::<Result<Vec<_>, PlanningError>>()?
        .into_iter()
        .unzip();
    let labels: Vec<String> = days.iter().map(ToString::to_string).collect();
    let why = if names.is_empty() {
        String::new()
    } else {
        format!("; {} has no earlier year in the data", names.join(", "))
    };
    Ok(EmpiricalErrors {
        source: if labels.is_empty() {
            format!("no comparable days in the data{why}")
        } else {
            format!(
                "day-ahead errors on the {} days before {first}{why}",
                labels.len()
            )
        },
        labels,
        profiles,
        levels,
    })
}

/// Run the gate on a plan document: its forecast's quantile scenarios, its
/// empirical errors ([`PlanDocument::empirical`]) and its stress cases
/// ([`GateConfig::stress_surge`], [`GateConfig::stress_lead_p99`]), each
/// replayed on `engine` with the plan followed by a [`SchedulePolicy`].
/// The one gate of `crest plan --verify`, `crest run` and `crest serve`.
///
/// # Errors
/// [`PlanningError::Autoscaler`] when the document's settings are bad or
/// the forecast cannot be sampled, [`PlanningError::Sim`] when a replay
/// fails.
pub fn run_gate(doc: &PlanDocument, engine: GateEngine) -> Result<GateReport, PlanningError> {
    let empirical = match &doc.empirical {
        Some(e) => {
            e.validate().map_err(|source| PlanningError::Autoscaler {
                what: "read the plan's empirical errors".into(),
                source: Box::new(source),
            })?;
            empirical_scenarios(&doc.forecast, &e.profiles)?
        }
        None => Vec::new(),
    };
    verify(
        &doc.plan,
        &doc.forecast,
        &doc.model,
        &doc.gate,
        &empirical,
        engine,
    )
}

/// Builds the policy a gate replays beside the plan (a fresh one per
/// scenario: policies keep memory).
pub type PolicyFactory<'a> = dyn Fn() -> Result<Box<dyn Policy>, PlanningError> + Sync + 'a;

/// One gate scenario: its kind, demand and lead times.
struct Case {
    kind: String,
    stress: bool,
    demand: Series,
    lead: LeadTimes,
}

/// The gate on its parts: quantile draws, `empirical` scenarios and the
/// stress cases of `cfg`, replayed on `engine`.
///
/// # Errors
/// As [`run_gate`].
pub fn verify(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    cfg: &GateConfig,
    empirical: &[Series],
    engine: GateEngine,
) -> Result<GateReport, PlanningError> {
    verify_with(plan, forecast, model, cfg, empirical, engine, None)
}

/// [`verify`], replaying `policy` (when given, on crest-sim) with the plan
/// in force instead of the plan's schedule alone — the policy that will run,
/// live corrections and safety net included (the backtest's entry).
///
/// # Errors
/// As [`run_gate`].
pub fn verify_with(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    cfg: &GateConfig,
    empirical: &[Series],
    engine: GateEngine,
    policy: Option<&PolicyFactory<'_>>,
) -> Result<GateReport, PlanningError> {
    let auto = |what: &str| {
        let what = what.to_string();
        move |source| PlanningError::Autoscaler {
            what,
            source: Box::new(source),
        }
    };
    cfg.validate().map_err(auto("check the gate settings"))?;
    let mut sized = *cfg;
    sized.scenarios = cfg.scenarios + empirical.len() + 2;
    crest_autoscaler::verify::check_gate_work(plan, forecast, model, &sized)
        .map_err(auto("size the gate"))?;
    let case = |kind: &str, stress: bool, demand: Series, lead: LeadTimes| Case {
        kind: kind.to_string(),
        stress,
        demand,
        lead,
    };
    let mut cases: Vec<Case> = crest_autoscaler::verify::scenario_series(forecast, cfg)
        .map_err(auto("draw demand scenarios"))?
        .into_iter()
        .map(|s| case("quantile", false, s, LeadTimes::Jittered))
        .collect();
    cases.extend(
        empirical
            .iter()
            .map(|s| case("empirical", false, s.clone(), LeadTimes::Jittered)),
    );
    let mean = |k: f64, id: &str| {
        Series::try_new(
            id,
            forecast.start,
            forecast.step_s,
            forecast.mean.iter().map(|m| (m * k).max(0.0)).collect(),
        )
        .map_err(|source| PlanningError::Core {
            what: "stress scenario".into(),
            source: Box::new(source),
        })
    };
    if cfg.stress_surge > 0.0 {
        let kind = format!("surge x{}", cfg.stress_surge);
        cases.push(case(
            &kind,
            true,
            mean(cfg.stress_surge, "surge")?,
            LeadTimes::Jittered,
        ));
    }
    if cfg.stress_lead_p99 {
        cases.push(case(
            "lead p99",
            true,
            mean(1.0, "lead-p99")?,
            LeadTimes::AtP99,
        ));
    }
    let runs = cases
        .par_iter()
        .enumerate()
        .map(|(k, c)| {
            let (v, ih, cost) = replay_case(plan, forecast, model, c, k, cfg.seed, engine, policy)?;
            Ok(ScenarioRun {
                kind: c.kind.clone(),
                stress: c.stress,
                violation_minutes: v,
                instance_hours: ih,
                cost,
            })
        })
        .collect::<Result<Vec<_>, PlanningError>>()?;
    Ok(GateReport::from_kinds(engine.label(), &runs, cfg))
}

/// Replay one case: (violation minutes, instance-hours, cost).
#[allow(clippy::too_many_arguments)]
fn replay_case(
    plan: &ScalingPlan,
    forecast: &Forecast,
    model: &FluidModel,
    c: &Case,
    k: usize,
    seed: u64,
    engine: GateEngine,
    policy: Option<&PolicyFactory<'_>>,
) -> Result<(f64, f64, f64), PlanningError> {
    match engine {
        GateEngine::Sim(mode) => {
            let initial = plan.desired_at(forecast.start).map_or(0, |r| r.0);
            let policy: Box<dyn Policy> = match policy {
                Some(make) => make()?,
                None => Box::new(SchedulePolicy::new()),
            };
            let r = replay_sim_with(
                &format!("gate-{k}"),
                &c.demand,
                initial,
                policy,
                Some(plan.clone()),
                model,
                mode,
                c.lead,
                seed.wrapping_add(k as u64),
            )?;
            Ok((r.slo_violation_minutes, r.instance_hours, r.cost))
        }
        GateEngine::Planner => {
            // The fluid model's lead time is always the planned (p99) one.
            let from = plan
                .steps()
                .first()
                .map_or(forecast.start, |s| s.at.min(forecast.start));
            let to = forecast.time_at(forecast.horizon());
            let initial = plan.desired_at(from).map_or(0, |r| r.0);
            let mut p = SchedulePolicy::new();
            let r = crest_autoscaler::replay(
                &plan.app,
                &mut p,
                Some(plan),
                &c.demand,
                from,
                to,
                initial,
                model,
            );
            Ok((r.slo_violation_minutes, r.instance_hours, r.cost))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::CrestPolicyConfig;
    use crest_autoscaler::planner::{PlannerConfig, RateLimit, plan};
    use crest_core::series::Quantile;
    use crest_core::{AppId, Capacity, DayKind, Replicas};
    use std::collections::BTreeMap;

    const DAY: i64 = 86_400;

    /// One day at 30-minute steps, flat 1000 rps with a tight band.
    fn flat_forecast() -> Forecast {
        let mean = vec![1000.0; 48];
        let mut q = BTreeMap::new();
        for (l, f) in [(0.1, 0.95), (0.5, 1.0), (0.9, 1.05), (0.975, 1.08)] {
            q.insert(
                Quantile::try_new(l).unwrap(),
                mean.iter().map(|m| m * f).collect(),
            );
        }
        Forecast::try_new("x", Timestamp::from_secs(20_000 * DAY), 1800, mean, q).unwrap()
    }

    fn planned(f: &Forecast) -> (ScalingPlan, FluidModel) {
        // 50 rps per instance at the SLO (60 at saturation in crest-sim).
        let cap = Capacity::given(50.0, 200.0).unwrap();
        let mut cfg = PlannerConfig::new(AppId::try_new("app").unwrap(), "p");
        cfg.scale_out_rate = RateLimit::new(20, 60);
        cfg.lead_time_s = 300;
        cfg.current = Replicas(27);
        let o = plan(f, &cap, &cfg).unwrap();
        let mut model = FluidModel::new(cap);
        model.scale_out_rate = cfg.scale_out_rate;
        model.lead_time_s = cfg.lead_time_s;
        model.evaluate_every_s = 60;
        model.tick_s = 60;
        (o.plan, model)
    }

    fn cfg(scenarios: usize) -> GateConfig {
        GateConfig {
            scenarios,
            ..GateConfig::default()
        }
    }

    const SIM: GateEngine = GateEngine::Sim(SimMode::Fluid);

    #[test]
    fn stress_cases_parse_and_refuse_bad_text() {
        let d = StressCases::parse(StressCases::DEFAULT).unwrap();
        assert_eq!(
            d,
            StressCases {
                surge: 1.2,
                lead_p99: true
            }
        );
        let none = StressCases::parse("none").unwrap();
        assert_eq!(none.surge, 0.0);
        assert!(!none.lead_p99);
        assert_eq!(StressCases::parse("surge=2").unwrap().surge, 2.0);
        for bad in [
            "surge=x",
            "surge=-1",
            "surge=1e9",
            "lead=p50",
            "spike=2",
            "surge",
        ] {
            let e = StressCases::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn level_profiles_see_the_small_steps_scenario_profiles_count_as_one() {
        // A day of half-hours: the forecast is 1000 except two night steps
        // at 10 (1 % of the peak); demand runs at 0.5 of it all day and at
        // 30 (3×) in those two steps.
        let mut f = flat_forecast();
        f.mean[4] = 10.0;
        f.mean[5] = 10.0;
        let mut v = vec![500.0; 48];
        v[4] = 30.0;
        v[5] = 30.0;
        let actual = Series::try_new("a", f.start, 1800, v).unwrap();
        let (scen, lev) = error_and_level_profiles(&f, &actual);
        assert_eq!((scen.len(), lev.len()), (1, 1));
        // A scenario never multiplies a near-zero forecast's ratio onto
        // another day's steps; the policy's level there is 3, and so is
        // what its margin is learned from.
        assert_eq!((scen[0][4], scen[0][5], scen[0][6]), (1.0, 1.0, 0.5));
        assert_eq!((lev[0][4], lev[0][5], lev[0][6]), (3.0, 3.0, 0.5));
        assert_eq!(lev[0][3], live_level(500.0, 1000.0).unwrap());
    }

    #[test]
    fn an_empirical_surge_the_forecast_missed_fails_the_gate() {
        let f = flat_forecast();
        let (plan, model) = planned(&f);
        // The forecast's own quantiles: the plan (p90 at 0.8) is safe.
        let q = verify(&plan, &f, &model, &cfg(20), &[], SIM).unwrap();
        assert!(q.passed, "{q:?}");
        assert!(q.kinds.is_empty());
        // The forecaster's past errors: one calm day, and one day when
        // demand ran at 2.5× the forecast for three hours after midnight.
        let mut surge = vec![1.0; 48];
        surge[..6].fill(2.5);
        let profiles = vec![vec![1.0; 48], surge];
        let empirical = empirical_scenarios(&f, &profiles).unwrap();
        let r = verify(&plan, &f, &model, &cfg(20), &empirical, SIM).unwrap();
        assert!(!r.passed, "{r:?}");
        assert_eq!(r.breach_probability, 0.5);
        let e = r.kinds.iter().find(|k| k.kind == "empirical").unwrap();
        assert_eq!((e.scenarios, e.breaches), (2, 1));
        assert!(!e.passed);
        let qk = r.kinds.iter().find(|k| k.kind == "quantile").unwrap();
        assert_eq!(qk.breaches, 0);
        // Pooled with the 20 draws, 1 breach in 22 (0.045) would have passed.
        assert_eq!(r.scenarios, 22);
    }

    #[test]
    fn stress_cases_run_as_their_own_kinds_and_may_not_breach() {
        let f = flat_forecast();
        let (plan, model) = planned(&f);
        let mut c = cfg(10);
        StressCases::parse("surge=1.2,lead=p99")
            .unwrap()
            .apply(&mut c);
        let ok = verify(&plan, &f, &model, &c, &[], SIM).unwrap();
        assert!(ok.passed, "{ok:?}");
        let kinds: Vec<(&str, bool, usize)> = ok
            .kinds
            .iter()
            .map(|k| (k.kind.as_str(), k.stress, k.breaches))
            .collect();
        assert_eq!(
            kinds,
            [
                ("quantile", false, 0),
                ("surge x1.2", true, 0),
                ("lead p99", true, 0)
            ]
        );
        assert_eq!(ok.scenarios, 12);
        // 27 instances saturate at 1620 rps, 1.62 × the mean: a 2× surge breaks it.
        c.stress_surge = 2.0;
        let bad = verify(&plan, &f, &model, &c, &[], SIM).unwrap();
        assert!(!bad.passed);
        assert_eq!(bad.breach_probability, 0.0, "no sampled kind breached");
        assert_eq!(bad.failed_kinds(), "surge x2 1/1");
        // Same seed, same verdict; and the planner's fluid model runs the same cases.
        assert_eq!(bad, verify(&plan, &f, &model, &c, &[], SIM).unwrap());
        let fluid = verify(&plan, &f, &model, &c, &[], GateEngine::Planner).unwrap();
        assert_eq!(fluid.engine, "fluid");
        assert_eq!(fluid.failed_kinds(), "surge x2 1/1");
    }

    #[test]
    fn run_gate_replays_the_documents_empirical_errors_and_stress_cases() {
        let f = flat_forecast();
        let (plan, model) = planned(&f);
        let mut c = cfg(10);
        c.stress_lead_p99 = true;
        let mut doc = PlanDocument {
            version: 1,
            plan,
            forecast: f.clone(),
            capacity: model.capacity.clone(),
            planner: PlannerConfig::new(AppId::try_new("app").unwrap(), "p"),
            model,
            gate: c,
            verification: None,
            empirical: None,
            forced: false,
            instance_hours: 0.0,
        };
        assert!(run_gate(&doc, SIM).unwrap().passed);
        let mut surge = vec![1.0; 48];
        surge[10..16].fill(3.0);
        doc.empirical = Some(EmpiricalErrors {
            source: "test".into(),
            labels: vec!["d".into()],
            profiles: vec![surge],
            levels: Vec::new(),
        });
        let r = run_gate(&doc, SIM).unwrap();
        assert!(!r.passed, "{r:?}");
        assert_eq!(r.failed_kinds(), "empirical 1/1");
        // The runtime policy's level margin: from the live levels when the
        // document has them (a 2× move one step ahead), else from the
        // scenario profiles (the 3× surge).
        let net = crest_autoscaler::policies::TargetTrackingConfig::new(
            crest_autoscaler::policies::TargetMetric::Utilisation,
            0.75,
        );
        let guard = crest_autoscaler::policies::Guard::new(Replicas(1), Replicas(100));
        let margin = |d: &PlanDocument| {
            CrestPolicyConfig::from_document(d, 1.0, true, net.clone(), guard)
                .level
                .margin
        };
        assert!((margin(&doc) - 3.0).abs() < 1e-9, "{}", margin(&doc));
        let mut moved = vec![1.0; 48];
        moved[20..].fill(2.0);
        if let Some(e) = doc.empirical.as_mut() {
            e.levels = vec![moved];
        }
        assert!((margin(&doc) - 2.0).abs() < 1e-9, "{}", margin(&doc));
        // A hostile document's profiles are refused, not replayed.
        doc.empirical = Some(EmpiricalErrors {
            source: "test".into(),
            labels: Vec::new(),
            profiles: vec![vec![f64::NAN]],
            levels: Vec::new(),
        });
        let chain = |e: PlanningError| crest_core::error_chain(&e);
        let e = chain(run_gate(&doc, SIM).unwrap_err());
        assert!(e.contains("empirical.profiles"), "{e}");
        doc.empirical = Some(EmpiricalErrors {
            source: "test".into(),
            labels: Vec::new(),
            profiles: vec![vec![1.0]],
            levels: vec![vec![-1.0]],
        });
        let e = chain(run_gate(&doc, SIM).unwrap_err());
        assert!(e.contains("empirical.levels"), "{e}");
    }

    /// 70 days of hourly data: a daily cycle, and on each "Fest" day (days
    /// 40 and 60) three times the usual demand.
    fn history() -> (Series, Calendar) {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let fest = [40u64, 60];
        let mut cal = Calendar::new("t");
        for d in fest {
            cal.insert(
                start + chrono::Days::new(d),
                DayKind::Holiday {
                    name: "Fest".into(),
                },
            );
        }
        let v = (0..70 * 24)
            .map(|i| {
                let day = (i / 24) as u64;
                let h = (i % 24) as f64;
                let base = 100.0 + 50.0 * (h / 24.0 * std::f64::consts::TAU).sin();
                if fest.contains(&day) {
                    3.0 * base
                } else {
                    base
                }
            })
            .collect();
        (Series::try_new("s", midnight(start), 3600, v).unwrap(), cal)
    }

    #[test]
    fn comparable_days_are_the_same_holiday_earlier_else_the_recent_days() {
        let (s, cal) = history();
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let day = |d: u64| midnight(start + chrono::Days::new(d));
        let opts = ComparableDays::default();
        // The second Fest: its comparable window is the first Fest's, and
        // the forecaster (knowing no Fest effect from one... or none) erred there.
        let e = comparable_errors(&s, &cal, day(60), day(61), &opts).unwrap();
        assert_eq!(e.labels, ["fest-2020"], "{e:?}");
        assert!(e.source.contains("Fest"), "{}", e.source);
        assert_eq!(e.profiles.len(), 1);
        assert_eq!(e.profiles[0].len(), 24);
        // The live levels of the same days, for the level margin.
        assert_eq!(e.levels.len(), e.profiles.len());
        assert_eq!(e.levels[0].len(), 24);
        let mean = e.profiles[0].iter().sum::<f64>() / 24.0;
        assert!(
            mean > 1.5,
            "the first Fest ran far above its forecast: {mean}"
        );
        // An ordinary day: the 7 days before it, one day-ahead profile each.
        let r = comparable_errors(&s, &cal, day(50), day(51), &opts).unwrap();
        assert_eq!(r.profiles.len(), 7, "{}", r.source);
        assert!(r.profiles.iter().all(|p| p.len() == 24));
        assert_eq!(r.levels.len(), 7);
        assert!(r.levels.iter().all(|p| p.len() == 24));
        assert_eq!(r.labels[0], "2020-02-19");
        assert!(
            r.source.contains("7 days before 2020-02-20"),
            "{}",
            r.source
        );
        // The first Fest has no earlier one: recent days, and the source says why.
        let first = comparable_errors(&s, &cal, day(40), day(41), &opts).unwrap();
        assert_eq!(first.profiles.len(), 7);
        assert!(
            first.source.contains("Fest has no earlier year"),
            "{}",
            first.source
        );
    }
}
