//! The holiday backtest behind `crest rehearse`: every crest of a history,
//! three strategies (reactive swept over its target), one configuration.
//!
//! For each crest (a holiday period of the calendar with its effect window
//! around it, or a window given by dates) every strategy sees only data
//! before its own decision time:
//!
//! - **static-peak** is sized a week before the window opens: the forecast
//!   made then, its highest quantile's peak over the window, at
//!   `static_utilisation` of SLO capacity, held for the whole window;
//! - **reactive** is target tracking on live utilisation alone, replayed at
//!   every target of `reactive_targets` (its frontier of violation minutes
//!   against instance-hours), with the same scale-in stabilisation as crest
//!   (at most `scale_in_rate` instances per decision, `scale_in_cooldown_s`
//!   after a scale-out);
//! - **crest** plans each day from a forecast made at `decision_lead_s`
//!   (one hour) before that day's midnight with the data before it; the
//!   day-ahead forecasts are joined into one plan for the window, which a
//!   predictive policy follows. With `track_level` (the default) it tracks
//!   live demand's level both ways: the forecast mean's shape over the next
//!   lead time scaled to live demand (a level below the forecast expected
//!   to climb back), times a margin, both learned from the forecaster's
//!   errors on the seven ordinary days before the window (outside every
//!   holiday's effect window: `learning_days`;
//!   [`crate::policy::level_model`]); with `early_ramps` (the default) the
//!   step after the lead time is taken in too when it rises above the
//!   forecast's band; and the plan as a floor that shrinks with live demand
//!   below what it was sized for. Target tracking at `crest_reactive_target` is a safety net
//!   that only ever adds instances ([`SafetyNet`]). One rule for every crest:
//!   there is no per-crest freeze (the planner's `scale_in_hold_s`, off by
//!   default, is the same for all).
//!
//! Cost: every forecast is made first, in one parallel pass over all crests
//! (each crest's static-peak forecast, and each day's day-ahead forecast
//! once however many windows hold the day), with the regression's final fit
//! solved by Cholesky of its normal equations
//! ([`FinalFit::Gram`](crest_forecast::FinalFit::Gram): the problem
//! `crest forecast` solves by linfa's QR, which was over half of each
//! day-ahead forecast's time); then each crest plans, replays
//! and gates in parallel. With `CREST_TIMING` set in the
//! environment each phase's wall time goes to stderr.
//!
//! Every strategy is replayed in crest-sim on the actual demand of the
//! window (steps the history leaves missing are filled by linear
//! interpolation between their neighbours for the replays, and counted in
//! [`CrestDetail::filled_steps`]: the simulator reads a missing step as no
//! demand, which would scale every adaptive strategy in across a scrape gap
//! and charge it violation minutes when the data resume), and crest's
//! policy (plan, level tracking and net) goes through
//! the verification gate ([`crate::gate`]): scenarios from the plan's
//! forecast quantiles, the forecaster's own errors in the week before the
//! window, and the stated stress cases (`gate_stress`).

use chrono::{Days, NaiveDate};
use crest_autoscaler::planner::{PlannerConfig, RateLimit};
use crest_autoscaler::policies::{
    CombinedPolicy, FixedPolicy, Guard, TargetMetric, TargetTrackingConfig, TargetTrackingPolicy,
};
use crest_autoscaler::scenarios::rho_from_errors;
use crest_autoscaler::{FluidModel, GateConfig, Policy, ReplayReport};
use crest_core::{AppId, Calendar, Capacity, Forecast, Replicas, Series, Timestamp};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::PlanningError;
use crate::forecast::{forecast_window, scale_forecast, scale_series, series_window, stitch};
use crate::gate::{
    GateEngine, StressCases, empirical_scenarios, error_and_level_profiles, verify_with,
};
use crate::policy::{CrestPolicyConfig, auto_err, crest_policy, level_model};
use crate::replay::{SimMode, replay_sim};
use crest_forecast::FinalFit;

/// Every setting of a backtest (all of it goes into the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestSettings {
    /// The history (bundled name or file).
    pub history: String,
    /// The calendar (`none`, `us`, `cn` or a file).
    pub calendar: String,
    /// The crest selection (`auto`, names, or FROM..TO ranges).
    pub crests: String,
    /// Data units -> requests per second; `None` picks it (see [`auto_scale`]).
    pub scale: Option<f64>,
    /// Per-instance requests per second at the SLO.
    pub per_instance_qps: f64,
    /// p99 latency SLO, milliseconds.
    pub slo_p99_ms: f64,
    /// Demand quantile crest plans for.
    pub risk: f64,
    /// crest's planned utilisation of SLO capacity.
    pub utilisation: f64,
    /// Utilisation target (of saturation) of crest's reactive safety net.
    pub crest_reactive_target: f64,
    /// crest tracks live demand's level both ways (the forecast's shape
    /// scaled to live demand, with a margin learned from the forecaster's
    /// errors on the ordinary days before the window, `learning_days`);
    /// off: live demand only ever raises the plan.
    pub track_level: bool,
    /// With `track_level`: the quantile of the forecaster's lead-time level
    /// errors (the ordinary days before the window) crest's margin covers.
    pub level_quantile: f64,
    /// crest's forecast term also takes in the step after the lead time
    /// when that step rises above the forecast's band (a ramp one step
    /// early would break through the plan).
    pub early_ramps: bool,
    /// Utilisation of SLO capacity static peak is sized at.
    pub static_utilisation: f64,
    /// The reactive baseline's targets (of saturation), one replay each.
    pub reactive_targets: Vec<f64>,
    /// Provisioning lead time, seconds.
    pub lead_time_s: i64,
    /// Scale-out API rate limit.
    pub scale_out_rate: RateLimit,
    /// Scale-in pace (also the most instances one decision removes, for
    /// crest and reactive alike).
    pub scale_in_rate: RateLimit,
    /// No scale-in within this many seconds of a scale-out (crest and reactive).
    pub scale_in_cooldown_s: i64,
    /// crest's plan does not scale in when the fleet must be back within
    /// this many seconds (every crest alike).
    pub scale_in_hold_s: i64,
    /// Fewest instances.
    pub min: u32,
    /// Most instances.
    pub max: u32,
    /// Price of an instance-hour.
    pub price: f64,
    /// Seed of the replays and the gate.
    pub seed: u64,
    /// Days of history each forecast sees (0: all before its decision time).
    pub history_days: u32,
    /// A crest needs this many days of data before its window.
    pub min_history_days: u32,
    /// crest decides each day's plan this long before the day starts, seconds.
    pub decision_lead_s: i64,
    /// static-peak is sized this many days before the window opens.
    pub static_ahead_days: u32,
    /// Quantile scenarios of the gate (plus one empirical scenario per day
    /// of the week before the window).
    pub gate_scenarios: usize,
    /// The gate passes when P(breach) <= this.
    pub max_breach: f64,
    /// The gate's stated stress cases (`surge=K,lead=p99` or `none`).
    pub gate_stress: String,
    /// Engine and mode every strategy and the gate are replayed in.
    pub replay: SimMode,
}

impl BacktestSettings {
    /// The defaults (chosen on NYC taxi 2014, bike sharing 2011 and Area1's
    /// 2011 crests; see README).
    pub fn new(history: &str, calendar: &str, crests: &str) -> Self {
        BacktestSettings {
            history: history.into(),
            calendar: calendar.into(),
            crests: crests.into(),
            scale: None,
            per_instance_qps: 50.0,
            slo_p99_ms: 200.0,
            risk: 0.9,
            utilisation: 0.95,
            crest_reactive_target: 0.75,
            track_level: true,
            level_quantile: crate::policy::DEFAULT_LEVEL_QUANTILE,
            early_ramps: crate::policy::DEFAULT_EARLY_RAMPS,
            static_utilisation: 0.8,
            reactive_targets: (0..10)
                .map(|i| 0.45 + 0.05 * f64::from(i))
                .map(round2)
                .collect(),
            lead_time_s: 300,
            scale_out_rate: RateLimit::new(150, 300),
            scale_in_rate: RateLimit::new(5, 60),
            scale_in_cooldown_s: 300,
            scale_in_hold_s: 0,
            min: 2,
            max: 10_000,
            price: 0.10,
            seed: 42,
            history_days: 400,
            min_history_days: 56,
            decision_lead_s: 3600,
            static_ahead_days: 7,
            gate_scenarios: 20,
            max_breach: 0.05,
            gate_stress: StressCases::DEFAULT.into(),
            replay: SimMode::Fluid,
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One crest: a name and a window of whole days `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crest {
    /// e.g. `spring-festival-2014`, or `2014-12-31..2015-01-02`.
    pub name: String,
    /// First day.
    pub from: NaiveDate,
    /// Day after the last.
    pub to: NaiveDate,
}

fn midnight(d: NaiveDate) -> Timestamp {
    Timestamp::from_naive_utc(&d.and_time(chrono::NaiveTime::MIN))
}

fn date_of(t: Timestamp) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_millis(t.millis()).map(|d| d.date_naive())
}

/// The crests of a selection: `auto` (every holiday period of the calendar,
/// with its effect window, inside the data and with `min_history_days`
/// before it), names from `auto`'s list (comma-separated), or
/// `FROM..TO` date ranges (TO exclusive).
///
/// # Errors
/// [`PlanningError::Invalid`] naming the unknown crest or the bad range.
pub fn select_crests(
    spec: &str,
    calendar: &Calendar,
    series: &Series,
    min_history_days: u32,
) -> Result<Vec<Crest>, PlanningError> {
    // `end`: the day after the last day the data covers to its midnight.
    let after_last = series.time_at(series.len());
    let (Some(first), Some(end)) = (date_of(series.start()), date_of(after_last)) else {
        return Err(PlanningError::Invalid("the history is empty".into()));
    };
    // The first whole day with data, and the day after the last whole day.
    let first = if midnight(first) < series.start() {
        first.succ_opt().unwrap_or(first)
    } else {
        first
    };
    let earliest = first
        .checked_add_days(Days::new(u64::from(min_history_days)))
        .unwrap_or(first);
    let known: Vec<Crest> = calendar
        .holiday_periods()
        .into_iter()
        .filter(|p| !p.event)
        .map(|p| {
            let (a, b) = p.window_span(calendar.effect_window(&p.name));
            Crest {
                name: p.label(),
                from: a,
                to: b.succ_opt().unwrap_or(b),
            }
        })
        .collect();
    let inside = |c: &Crest| c.from >= earliest && c.to <= end;
    let spec = spec.trim();
    if spec == "auto" {
        return Ok(known.into_iter().filter(inside).collect());
    }
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let c = if let Some((a, b)) = item.split_once("..") {
            let d = |s: &str| {
                NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                    PlanningError::Invalid(format!(
                        "failed to read crest {item:?}: {s:?} is not a date like 2014-12-31"
                    ))
                })
            };
            let c = Crest {
                name: item.to_string(),
                from: d(a)?,
                to: d(b)?,
            };
            if c.to <= c.from {
                return Err(PlanningError::Invalid(format!(
                    "failed to read crest {item:?}: the end must come after the start"
                )));
            }
            c
        } else {
            known.iter().find(|c| c.name == item).cloned().ok_or_else(|| {
                let names: Vec<&str> = known
                    .iter()
                    .filter(|c| inside(c))
                    .map(|c| c.name.as_str())
                    .collect();
                PlanningError::Invalid(format!(
                    "unknown crest {item:?}: expected auto, FROM..TO, or one of the {} calendar's crests in the data: {}",
                    calendar.name,
                    if names.is_empty() { "(none)".into() } else { names.join(", ") }
                ))
            })?
        };
        if !inside(&c) {
            return Err(PlanningError::Invalid(format!(
                "crest {} ({} to {}) needs {min_history_days} days of history before it and data to its end; the data covers {first} to {end}",
                c.name, c.from, c.to
            )));
        }
        out.push(c);
    }
    if out.is_empty() {
        return Err(PlanningError::Invalid(format!("no crest in {spec:?}")));
    }
    Ok(out)
}

/// The scale `None` picks: the highest value of the data before the first
/// crest's earliest decision becomes 40 instances' worth of SLO capacity.
/// A recording glitch is not a peak: a single step more than twice each of
/// its neighbours (one cell tripled) is passed over ([`peak_without_spikes`]),
/// so one bad cell cannot shrink every fleet of the backtest.
pub fn auto_scale(series: &Series, crests: &[Crest], s: &BacktestSettings) -> f64 {
    let cut = crests
        .iter()
        .map(|c| c.from)
        .min()
        .and_then(|d| d.checked_sub_days(Days::new(u64::from(s.static_ahead_days))))
        .map_or(series.start(), midnight);
    let before: Vec<f64> = series
        .iter()
        .take_while(|(t, _)| *t < cut)
        .map(|(_, v)| v)
        .collect();
    let peak = peak_without_spikes(&before);
    if peak > 0.0 {
        40.0 * s.per_instance_qps / peak
    } else {
        1.0
    }
}

/// The largest finite value of `v` that is not an isolated spike: more than
/// twice every finite neighbour it has (the steps just before and after).
/// A real peak is reached by a climb, a glitch in one cell is not. When
/// every value is such a spike (sparse counts), the plain largest value.
pub fn peak_without_spikes(v: &[f64]) -> f64 {
    let finite = |i: usize| v.get(i).copied().filter(|x| x.is_finite());
    let spike = |i: usize, x: f64| {
        let mut around = [i.checked_sub(1).and_then(finite), finite(i + 1)]
            .into_iter()
            .flatten()
            .peekable();
        around.peek().is_some() && around.all(|n| x > 2.0 * n)
    };
    let mut plain = 0.0_f64;
    let mut kept = 0.0_f64;
    for (i, x) in v.iter().copied().enumerate().filter(|(_, x)| x.is_finite()) {
        plain = plain.max(x);
        if !spike(i, x) {
            kept = kept.max(x);
        }
    }
    if kept > 0.0 { kept } else { plain }
}

/// Violation minutes and instance-hours of one replay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Minutes in which the SLO was violated.
    pub slo_violation_minutes: f64,
    /// Instance-hours paid for.
    pub instance_hours: f64,
}

/// One point of reactive's frontier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReactivePoint {
    /// Utilisation target (of saturation).
    pub target: f64,
    /// Minutes in which the SLO was violated.
    pub slo_violation_minutes: f64,
    /// Instance-hours paid for.
    pub instance_hours: f64,
}

/// The gate's verdict on a crest plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Share of scenarios with an SLO breach.
    pub p_breach: f64,
    /// Whether it is at most the threshold.
    pub passed: bool,
}

/// crest's result on a crest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CrestOutcome {
    /// Minutes in which the SLO was violated.
    pub slo_violation_minutes: f64,
    /// Instance-hours paid for.
    pub instance_hours: f64,
    /// The gate's verdict on the plan.
    pub gate: Verdict,
}

/// One crest's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrestReport {
    /// The crest's name.
    pub name: String,
    /// First day.
    pub from: NaiveDate,
    /// Day after the last.
    pub to: NaiveDate,
    /// Static peak provisioning.
    pub static_peak: Outcome,
    /// Reactive at each target.
    pub reactive: Vec<ReactivePoint>,
    /// crest.
    pub crest: CrestOutcome,
}

impl CrestReport {
    /// crest's instance-hours over static peak's.
    pub fn share_of_static(&self) -> f64 {
        self.crest.instance_hours / self.static_peak.instance_hours
    }

    /// Reactive's cost at crest's violation level, read off its frontier:
    /// the fewest instance-hours of a target with at most crest's violation
    /// minutes (`None`: no target gets there).
    pub fn reactive_at_crest_level(&self) -> Option<&ReactivePoint> {
        self.reactive
            .iter()
            .filter(|r| r.slo_violation_minutes <= self.crest.slo_violation_minutes)
            .min_by(|a, b| a.instance_hours.total_cmp(&b.instance_hours))
    }

    /// Whether crest is on or below reactive's frontier: no target has both
    /// fewer-or-equal violation minutes and fewer-or-equal instance-hours.
    pub fn on_or_below_frontier(&self) -> bool {
        self.reactive_at_crest_level()
            .is_none_or(|r| r.instance_hours > self.crest.instance_hours)
    }
}

/// Sums over crests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Static peak.
    pub static_peak: Outcome,
    /// crest.
    pub crest: Outcome,
}

/// The backtest report (`crest rehearse --format json` prints it as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Every setting used (the scale resolved).
    pub settings: BacktestSettings,
    /// One line per crest.
    pub crests: Vec<CrestReport>,
    /// Sums.
    pub total: Totals,
}

/// What the plots need of one crest beyond its report.
#[derive(Debug, Clone)]
pub struct CrestDetail {
    /// Actual demand in the window, requests/s (gaps filled, as replayed).
    pub demand: Series,
    /// Steps of the window the history left missing, filled by linear
    /// interpolation for the replays.
    pub filled_steps: usize,
    /// crest's day-ahead forecast of the window, requests/s.
    pub forecast: Forecast,
    /// Replays: static-peak, crest, and reactive at the target read off the
    /// frontier at crest's level (or the lowest-violation one).
    pub replays: Vec<ReplayReport>,
    /// The least instance-hours a strategy that keeps every step within
    /// capacity could pay on this crest ([`floor_instance_hours`]).
    pub floor_instance_hours: f64,
}

/// The least instance-hours a strategy that keeps every step within
/// capacity could pay for `demand` (requests/s, step by step as the
/// replays read it): each step served at exactly `cap`'s per-instance
/// capacity (the rate one instance serves within the SLO; utilisation 1)
/// by instances that appear the moment the step starts and leave when it
/// ends, never fewer than `min`. None can see the future better, launch
/// faster or fill instances fuller. It bounds what any saving over reactive
/// scaling can be: on a smooth load reactive's cheapest violation-free
/// target may already be within a few percent of it.
pub fn floor_instance_hours(demand: &Series, cap: &Capacity, min: u32) -> f64 {
    let hours = demand.step_s() as f64 / 3600.0;
    demand
        .values()
        .iter()
        .filter(|d| d.is_finite())
        .map(|d| f64::from(cap.instances_for(*d, 1.0).max(min)) * hours)
        .sum()
}

/// A loaded history and calendar.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The demand history (data units).
    pub series: Series,
    /// The calendar.
    pub calendar: Calendar,
}

/// Load a history (bundled name or file: its first series) and a calendar.
///
/// # Errors
/// [`PlanningError::History`], [`PlanningError::Calendar`].
pub fn load(history: &str, calendar: &str) -> Result<Inputs, PlanningError> {
    let d = crest_datasets::resolve(history).map_err(|source| PlanningError::History {
        name: history.into(),
        source: Box::new(source),
    })?;
    let series = d
        .series
        .into_iter()
        .next()
        .ok_or_else(|| PlanningError::Invalid(format!("history {history:?} has no series")))?;
    with_calendar(series, calendar)
}

/// A history already in hand (pulled from Prometheus) and a calendar.
///
/// # Errors
/// [`PlanningError::Calendar`].
pub fn with_calendar(series: Series, calendar: &str) -> Result<Inputs, PlanningError> {
    let calendar = crest_datasets::calendar::resolve_calendar(calendar).map_err(|source| {
        PlanningError::Calendar {
            name: calendar.into(),
            source: Box::new(source),
        }
    })?;
    Ok(Inputs { series, calendar })
}

/// Run the backtest over the selected crests (in parallel).
///
/// # Errors
/// The first crest's failure, or bad settings.
pub fn backtest(
    inputs: &Inputs,
    settings: &BacktestSettings,
) -> Result<(BacktestReport, Vec<CrestDetail>), PlanningError> {
    validate(settings)?;
    let crests = select_crests(
        &settings.crests,
        &inputs.calendar,
        &inputs.series,
        settings.min_history_days,
    )?;
    if crests.is_empty() {
        return Err(PlanningError::Invalid(format!(
            "no crest of the {} calendar lies inside the data with {} days of history before it",
            inputs.calendar.name, settings.min_history_days
        )));
    }
    let mut settings = settings.clone();
    let k = settings
        .scale
        .unwrap_or_else(|| auto_scale(&inputs.series, &crests, &settings));
    settings.scale = Some(k);
    let forecasts = timed("all crests", "forecasts", || {
        crest_forecasts(inputs, &settings, &crests)
    })?;
    let runs = crests
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            run_crest(
                inputs,
                &settings,
                c,
                &forecasts,
                i,
                k,
                settings.seed.wrapping_add(1000 * i as u64),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (reports, details): (Vec<_>, Vec<_>) = runs.into_iter().unzip();
    let sum = |f: &dyn Fn(&CrestReport) -> Outcome| {
        reports.iter().map(f).fold(
            Outcome {
                slo_violation_minutes: 0.0,
                instance_hours: 0.0,
            },
            |a, b| Outcome {
                slo_violation_minutes: a.slo_violation_minutes + b.slo_violation_minutes,
                instance_hours: a.instance_hours + b.instance_hours,
            },
        )
    };
    let total = Totals {
        static_peak: sum(&|r| r.static_peak),
        crest: sum(&|r| Outcome {
            slo_violation_minutes: r.crest.slo_violation_minutes,
            instance_hours: r.crest.instance_hours,
        }),
    };
    Ok((
        BacktestReport {
            settings,
            crests: reports,
            total,
        },
        details,
    ))
}

/// Every forecast the crests need, made once: each crest's static-peak
/// forecast (a week ahead, through its window's end) and the day-ahead
/// forecast of every day of every window. A day inside two crests' windows
/// (Mid-Autumn and National Day, New Year and Spring Festival) is forecast
/// once: each forecast is a function of the data before its decision time
/// and the settings alone, so the crests share it and the report is the one
/// a forecast per crest and day gives. All of them run in one parallel pass,
/// which also keeps both cores busy to the end instead of waiting on the
/// longest crest's forecasts.
struct CrestForecasts {
    /// Static-peak forecasts, one per crest (in the crests' order).
    static_peak: Vec<Forecast>,
    /// Day-ahead forecasts by day (data units, unscaled).
    day_ahead: std::collections::BTreeMap<NaiveDate, Forecast>,
    /// Per crest: where its [`learning_days`] are not the week before the
    /// window (which the static-peak forecast covers), those days and a
    /// forecast made at the first of them through the window's start (data
    /// units, unscaled).
    learning: Vec<Option<Learning>>,
}

/// The days a crest learns from, where the static-peak forecast does not
/// cover them, and the forecast of them.
struct Learning {
    days: Vec<NaiveDate>,
    forecast: Forecast,
}

fn static_decided(s: &BacktestSettings, c: &Crest) -> Timestamp {
    midnight(c.from).add_secs(-i64::from(s.static_ahead_days) * 86_400)
}

fn crest_days(c: &Crest) -> impl Iterator<Item = NaiveDate> + '_ {
    c.from.iter_days().take_while(|d| *d < c.to)
}

/// Every holiday's effect window of `calendar` (first and last day), the
/// days [`learning_days`] skips.
fn holiday_spans(calendar: &Calendar) -> Vec<(NaiveDate, NaiveDate)> {
    calendar
        .holiday_periods()
        .iter()
        .filter(|p| !p.event)
        .map(|p| p.window_span(calendar.effect_window(&p.name)))
        .collect()
}

/// How far back [`learning_days`] looks, in multiples of the days it wants.
const LEARNING_SEARCH_FACTOR: u64 = 4;

/// The days crest learns its level model from, where they are not the
/// week before the window: the `static_ahead_days` latest days before the
/// window that lie outside every holiday's effect window (`spans`,
/// [`holiday_spans`]), newest first, looked for up to
/// [`LEARNING_SEARCH_FACTOR`] times as far back and, beyond the week
/// before, not before `earliest` (the data's start plus the history a crest
/// needs, so the forecast of them has that history too). Another holiday's
/// days off (Mid-Autumn in the week before National Day, Christmas in the
/// week before New Year) are forecast from analogs and move unlike the
/// ordinary days every other crest learns its margin from; one such week
/// made National Day 2010's margin 1.053 against 1.01-1.02 in other years.
/// `None` when the week before holds no holiday, or when no ordinary day
/// is found: the crest learns from the week before as it is, which the
/// static-peak forecast already covers.
fn learning_days(
    spans: &[(NaiveDate, NaiveDate)],
    s: &BacktestSettings,
    crest: &Crest,
    earliest: NaiveDate,
) -> Option<Vec<NaiveDate>> {
    let want = u64::from(s.static_ahead_days.max(1));
    let ordinary = |d: &NaiveDate| !spans.iter().any(|(a, b)| a <= d && d <= b);
    let back = |k: u64| crest.from.checked_sub_days(Days::new(k));
    if (1..=want).map_while(back).all(|d| ordinary(&d)) {
        return None;
    }
    let days: Vec<NaiveDate> = (1..=want * LEARNING_SEARCH_FACTOR)
        .map_while(back)
        .take_while(|d| *d >= earliest)
        .filter(ordinary)
        .take(usize::try_from(want).unwrap_or(usize::MAX))
        .collect();
    (!days.is_empty()).then_some(days)
}

/// The level profiles of `days` (newest first, as [`learning_days`] gives
/// them; returned oldest first, as the week before's are) from `forecast`,
/// which starts at the oldest of them.
fn learning_levels(
    forecast: &Forecast,
    actual: &Series,
    days: &[NaiveDate],
    k: f64,
) -> Result<Vec<Vec<f64>>, PlanningError> {
    let mut f = forecast.clone();
    scale_forecast(&mut f, k);
    let seen = series_window(actual, f.start, f.time_at(f.horizon()))?;
    let (_, levels) = error_and_level_profiles(&f, &seen);
    let first = date_of(f.start).unwrap_or(NaiveDate::MIN);
    Ok(days
        .iter()
        .rev()
        .filter_map(|d| usize::try_from((*d - first).num_days()).ok())
        .filter_map(|i| levels.get(i).cloned())
        .collect())
}

fn crest_forecasts(
    inputs: &Inputs,
    s: &BacktestSettings,
    crests: &[Crest],
) -> Result<CrestForecasts, PlanningError> {
    enum Job {
        Static(usize),
        Learning(usize, NaiveDate),
        Day(NaiveDate),
    }
    let (series, cal) = (&inputs.series, &inputs.calendar);
    let earliest = date_of(series.start())
        .and_then(|d| d.checked_add_days(Days::new(u64::from(s.min_history_days))))
        .unwrap_or(NaiveDate::MAX);
    let spans = holiday_spans(cal);
    let learning_days: Vec<Option<Vec<NaiveDate>>> = crests
        .iter()
        .map(|c| learning_days(&spans, s, c, earliest))
        .collect();
    // Where the learning days are not the week before (which the static-peak
    // forecast covers), one more forecast from the oldest of them.
    let learning_jobs = learning_days.iter().enumerate().filter_map(|(i, d)| {
        d.as_ref()
            .and_then(|d| d.last())
            .map(|oldest| Job::Learning(i, *oldest))
    });
    let n_learning = learning_days.iter().flatten().count();
    let days: std::collections::BTreeSet<NaiveDate> = crests.iter().flat_map(crest_days).collect();
    let jobs: Vec<Job> = (0..crests.len())
        .map(Job::Static)
        .chain(learning_jobs)
        .chain(days.iter().copied().map(Job::Day))
        .collect();
    if std::env::var_os("CREST_TIMING").is_some() {
        eprintln!(
            "timing: {} static-peak and {} day-ahead forecasts for {} crest-days",
            crests.len(),
            days.len(),
            crests.iter().map(|c| crest_days(c).count()).sum::<usize>()
        );
    }
    let mut made = jobs
        .par_iter()
        .map(|job| match job {
            Job::Static(i) => {
                let at = static_decided(s, &crests[*i]);
                forecast_window(
                    series,
                    at,
                    at,
                    midnight(crests[*i].to),
                    cal,
                    s.history_days,
                    FinalFit::Gram,
                )
            }
            Job::Learning(i, oldest) => {
                let at = midnight(*oldest);
                forecast_window(
                    series,
                    at,
                    at,
                    midnight(crests[*i].from),
                    cal,
                    s.history_days,
                    FinalFit::Gram,
                )
            }
            Job::Day(d) => {
                let a = midnight(*d);
                forecast_window(
                    series,
                    a.add_secs(-s.decision_lead_s),
                    a,
                    a.add_secs(86_400),
                    cal,
                    s.history_days,
                    FinalFit::Gram,
                )
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let day_ahead = days
        .into_iter()
        .zip(made.split_off(crests.len() + n_learning))
        .collect();
    let mut learned = made.split_off(crests.len()).into_iter();
    let learning = learning_days
        .into_iter()
        .map(|d| d.and_then(|days| learned.next().map(|forecast| Learning { days, forecast })))
        .collect();
    Ok(CrestForecasts {
        static_peak: made,
        day_ahead,
        learning,
    })
}

fn validate(s: &BacktestSettings) -> Result<(), PlanningError> {
    let bad = |m: String| Err(PlanningError::Invalid(m));
    if let Some(k) = s.scale
        && !(k.is_finite() && k > 0.0)
    {
        return bad(format!("--scale {k}: expected a positive number"));
    }
    if !(s.per_instance_qps.is_finite() && s.per_instance_qps > 0.0) {
        return bad(format!(
            "per-instance qps {}: expected a positive number",
            s.per_instance_qps
        ));
    }
    for (name, v) in [
        ("utilisation", s.utilisation),
        ("crest reactive target", s.crest_reactive_target),
        ("level quantile", s.level_quantile),
        ("static utilisation", s.static_utilisation),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return bad(format!("{name} {v}: expected a share in (0, 1]"));
        }
    }
    if s.reactive_targets.is_empty() || s.reactive_targets.iter().any(|t| !(*t > 0.0 && *t <= 1.0))
    {
        return bad(format!(
            "reactive targets {:?}: expected one or more shares in (0, 1]",
            s.reactive_targets
        ));
    }
    StressCases::parse(&s.gate_stress)?;
    if !(0..=30 * 86_400).contains(&s.decision_lead_s) {
        return bad(format!(
            "plan ahead {} s: expected 0 to 30 days",
            s.decision_lead_s
        ));
    }
    if s.min > s.max || s.max == 0 {
        return bad(format!(
            "bounds {}..{}: expected 0 < max and min <= max",
            s.min, s.max
        ));
    }
    Ok(())
}

/// The capacity and fluid model of the settings.
pub fn capacity_and_model(s: &BacktestSettings) -> Result<(Capacity, FluidModel), PlanningError> {
    let cap = Capacity::given(s.per_instance_qps, s.slo_p99_ms).map_err(|source| {
        PlanningError::Core {
            what: "capacity".into(),
            source: Box::new(source),
        }
    })?;
    let mut model = FluidModel::new(cap.clone());
    model.lead_time_s = s.lead_time_s;
    model.scale_out_rate = s.scale_out_rate;
    model.cost_per_instance_hour = s.price;
    Ok((cap, model))
}

/// Run `f`, and with `CREST_TIMING` set in the environment print how long
/// it took to stderr (`crest rehearse`'s cost breakdown; silent by default).
#[allow(
    clippy::disallowed_methods,
    reason = "a cost breakdown measures the wall clock, not the pipeline's virtual time"
)]
fn timed<T>(crest: &str, what: &str, f: impl FnOnce() -> T) -> T {
    if std::env::var_os("CREST_TIMING").is_none() {
        return f();
    }
    let t = std::time::Instant::now();
    let out = f();
    eprintln!("timing {crest} {what}: {:.3} s", t.elapsed().as_secs_f64());
    out
}

/// The demand a window's replays run on: the window of `actual` with its
/// missing steps filled by linear interpolation between the nearest
/// observations on either side (looked for in the whole series, so a gap at
/// the window's edge is bridged too; a gap running off the data's end keeps
/// the nearest observation). Returns the window and how many steps were
/// filled.
fn replayed_demand(
    actual: &Series,
    from: Timestamp,
    to: Timestamp,
) -> Result<(Series, usize), PlanningError> {
    let window = series_window(actual, from, to)?;
    if window.missing() == 0 {
        return Ok((window, 0));
    }
    let values = actual.values();
    let i0 = actual.index_of(window.start()).ok_or_else(|| {
        PlanningError::Invalid(format!("the window from {from} is off the data's grid"))
    })?;
    let i1 = i0 + window.len();
    // The nearest observations around the window bound the interpolation.
    let lo = values[..i0].iter().rposition(|v| !v.is_nan()).unwrap_or(i0);
    let hi = values[i1..]
        .iter()
        .position(|v| !v.is_nan())
        .map_or(i1, |j| i1 + j + 1);
    let mut span = values[lo..hi].to_vec();
    crest_datasets::fill_missing(&mut span, crest_datasets::FillRule::Linear);
    // Off the data's ends: the nearest observation.
    if let Some(first) = span.iter().position(|v| !v.is_nan()) {
        let v = span[first];
        span[..first].iter_mut().for_each(|x| *x = v);
    }
    if let Some(last) = span.iter().rposition(|v| !v.is_nan()) {
        let v = span[last];
        span[last + 1..].iter_mut().for_each(|x| *x = v);
    }
    let mut out = window.clone();
    out.values_mut().copy_from_slice(&span[i0 - lo..i1 - lo]);
    let filled = window.missing() - out.missing();
    Ok((out, filled))
}

fn run_crest(
    inputs: &Inputs,
    s: &BacktestSettings,
    crest: &Crest,
    forecasts: &CrestForecasts,
    index: usize,
    k: f64,
    seed: u64,
) -> Result<(CrestReport, CrestDetail), PlanningError> {
    let (week, learning) = (&forecasts.static_peak[index], &forecasts.learning[index]);
    let day_ahead = &forecasts.day_ahead;
    let series = &inputs.series;
    let (from, to) = (midnight(crest.from), midnight(crest.to));
    let (cap, model) = capacity_and_model(s)?;
    let (min, max) = (Replicas(s.min), Replicas(s.max));

    // static-peak: a week ahead. The same forecast's errors on the week
    // before the window (known when crest decides its first day) feed the gate.
    let static_at = static_decided(s, crest);
    let mut week = week.clone();
    scale_forecast(&mut week, k);
    let actual = scale_series(series, k)?;
    let in_window = crate::forecast::window(&week, Some(from), Some(to))?;
    let top = in_window
        .quantiles
        .values()
        .last()
        .map_or(&in_window.mean, |v| v)
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let static_n = cap
        .instances_for(top, s.static_utilisation)
        .clamp(s.min, s.max);
    let before = crate::forecast::window(&week, Some(static_at), Some(from))?;
    let seen = series_window(&actual, static_at, from)?;
    let (profiles, week_levels) = error_and_level_profiles(&before, &seen);
    let levels = match learning {
        None => week_levels,
        Some(l) => learning_levels(&l.forecast, &actual, &l.days, k)?,
    };
    let level = level_model(&levels, series.step_s(), s.lead_time_s, s.level_quantile);

    // crest: day-ahead forecasts, each decided `decision_lead_s` before its day.
    let parts = crest_days(crest)
        .map(|d| {
            day_ahead.get(&d).cloned().ok_or_else(|| {
                PlanningError::Invalid(format!("no day-ahead forecast of {d} for {}", crest.name))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut forecast = stitch(&parts)?;
    scale_forecast(&mut forecast, k);

    let (demand, filled_steps) = replayed_demand(&actual, from, to)?;
    let at_start = demand.values().first().copied().unwrap_or(0.0);
    let app = AppId::try_new("crest").map_err(|source| PlanningError::Core {
        what: "app id".into(),
        source: Box::new(source),
    })?;
    let mut planner = PlannerConfig::new(app, crest.name.clone());
    planner.risk = s.risk;
    planner.target_utilisation = s.utilisation;
    planner.lead_time_s = s.lead_time_s;
    planner.scale_out_rate = s.scale_out_rate;
    planner.scale_in_rate = s.scale_in_rate;
    planner.scale_in_hold_s = s.scale_in_hold_s;
    planner.min = min;
    planner.max = max;
    planner.current = Replicas(
        cap.instances_for(at_start, s.utilisation)
            .clamp(s.min, s.max),
    );
    let outcome = crest_autoscaler::plan(&forecast, &cap, &planner).map_err(auto_err("plan"))?;

    let guard = Guard {
        min,
        max,
        max_step_up: u32::MAX / 2,
        max_step_down: s.scale_in_rate.instances.max(1),
        scale_in_cooldown_s: s.scale_in_cooldown_s,
    };
    let tt = |target: f64| {
        TargetTrackingPolicy::try_new(
            TargetTrackingConfig::new(TargetMetric::Utilisation, target).with_bounds(s.min, s.max),
        )
        .map_err(auto_err("build target tracking"))
    };
    let sat = model.saturation_factor.max(1.0);

    // crest's runtime policy (the replay and every gate scenario build it
    // afresh): the one `crest run --track-level` runs.
    let crest_cfg = CrestPolicyConfig {
        capacity: cap.clone(),
        utilisation: s.utilisation,
        risk: s.risk,
        lead_time_s: s.lead_time_s,
        max,
        track_level: s.track_level,
        level,
        early_ramps: s.early_ramps,
        net: TargetTrackingConfig::new(TargetMetric::Utilisation, s.crest_reactive_target)
            .with_bounds(s.min, s.max),
        guard,
    };
    let make_crest = || crest_policy(&crest_cfg, &forecast);

    // The replays: static, crest, and reactive at every target.
    enum Kind {
        Static,
        Crest,
        Reactive(f64),
    }
    let mut kinds = vec![Kind::Static, Kind::Crest];
    kinds.extend(s.reactive_targets.iter().map(|t| Kind::Reactive(*t)));
    let replays = timed(&crest.name, "replays", || {
        kinds
            .par_iter()
            .enumerate()
            .map(|(i, kind)| -> Result<ReplayReport, PlanningError> {
                let (name, policy, plan, initial): (String, Box<dyn Policy>, _, u32) = match kind {
                    Kind::Static => (
                        "static-peak".into(),
                        Box::new(FixedPolicy::new(Replicas(static_n))),
                        None,
                        static_n,
                    ),
                    Kind::Reactive(t) => (
                        format!("reactive {t:.2}"),
                        Box::new(
                            CombinedPolicy::try_new("reactive", guard)
                                .map_err(auto_err("build reactive"))?
                                .with(tt(*t)?),
                        ),
                        None,
                        cap.instances_for(at_start, t * sat).clamp(s.min, s.max),
                    ),
                    Kind::Crest => {
                        let policy = make_crest()?;
                        let initial = outcome
                            .plan
                            .desired_at(from)
                            .map_or(planner.current.0, |r| r.0);
                        ("crest".into(), policy, Some(outcome.plan.clone()), initial)
                    }
                };
                replay_sim(
                    &name,
                    &demand,
                    initial,
                    policy,
                    plan,
                    &model,
                    s.replay,
                    seed.wrapping_add(i as u64),
                )
            })
            .collect::<Result<Vec<_>, _>>()
    })?;

    // The gate on crest's plan, its draws as rough as the week before's errors.
    let mut gate_cfg = GateConfig {
        scenarios: s.gate_scenarios,
        seed,
        max_breach_probability: s.max_breach,
        ..GateConfig::default()
    };
    gate_cfg.rho = rho_from_errors(&profiles).unwrap_or(gate_cfg.rho);
    StressCases::parse(&s.gate_stress)?.apply(&mut gate_cfg);
    let extra = empirical_scenarios(&forecast, &profiles)?;
    let g = timed(&crest.name, "gate", || {
        verify_with(
            &outcome.plan,
            &forecast,
            &model,
            &gate_cfg,
            &extra,
            GateEngine::Sim(s.replay),
            Some(&make_crest),
        )
    })?;

    let outcome_of = |r: &ReplayReport| Outcome {
        slo_violation_minutes: r.slo_violation_minutes,
        instance_hours: r.instance_hours,
    };
    let reactive: Vec<ReactivePoint> = s
        .reactive_targets
        .iter()
        .zip(&replays[2..])
        .map(|(t, r)| ReactivePoint {
            target: *t,
            slo_violation_minutes: r.slo_violation_minutes,
            instance_hours: r.instance_hours,
        })
        .collect();
    let report = CrestReport {
        name: crest.name.clone(),
        from: crest.from,
        to: crest.to,
        static_peak: outcome_of(&replays[0]),
        crest: CrestOutcome {
            slo_violation_minutes: replays[1].slo_violation_minutes,
            instance_hours: replays[1].instance_hours,
            gate: Verdict {
                p_breach: g.breach_probability,
                passed: g.passed,
            },
        },
        reactive,
    };
    let shown = report
        .reactive_at_crest_level()
        .or_else(|| {
            report
                .reactive
                .iter()
                .min_by(|a, b| a.slo_violation_minutes.total_cmp(&b.slo_violation_minutes))
        })
        .map(|p| p.target);
    let mut keep = vec![replays[0].clone(), replays[1].clone()];
    if let Some(i) = shown.and_then(|t| s.reactive_targets.iter().position(|x| *x == t)) {
        keep.push(replays[2 + i].clone());
    }
    Ok((
        report,
        CrestDetail {
            floor_instance_hours: floor_instance_hours(&demand, &cap, s.min),
            demand,
            filled_steps,
            forecast,
            replays: keep,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 70 days of hourly data with a daily cycle and a weekly swell.
    fn inputs() -> Inputs {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let v = (0..70 * 24)
            .map(|i| {
                let h = f64::from(i % 24);
                let d = f64::from(i / 24 % 7);
                100.0 + 50.0 * (h / 24.0 * std::f64::consts::TAU).sin() + 10.0 * d
            })
            .collect();
        Inputs {
            series: Series::try_new("s", midnight(start), 3600, v).unwrap(),
            calendar: Calendar::new("none"),
        }
    }

    #[test]
    fn crest_learns_its_level_from_ordinary_days_before_the_window() {
        let cn = holiday_spans(&crest_datasets::calendar::cn().unwrap());
        let s = BacktestSettings::new("synthetic", "cn", "");
        let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(2010, m, d).unwrap();
        let crest = |m: u32, d: u32| Crest {
            name: "c".into(),
            from: day(m, d),
            to: day(m, d) + Days::new(5),
        };
        let start = day(1, 1);
        // National Day 2010's window opens on 28 September; Mid-Autumn's
        // (22-24 September, with its effect window 20-26) fills the week
        // before but its last day: the six ordinary days before it stand in.
        let nd = crest(9, 28);
        let want: Vec<NaiveDate> = [27, 19, 18, 17, 16, 15, 14]
            .iter()
            .map(|d| day(9, *d))
            .collect();
        assert_eq!(learning_days(&cn, &s, &nd, start), Some(want));
        // No holiday in the week before: that week, which the static-peak
        // forecast already covers (no extra forecast).
        let plain = crest(8, 20);
        assert_eq!(learning_days(&cn, &s, &plain, start), None);
        // Never before the earliest day allowed; with no ordinary day at
        // all, the week before as it is.
        assert_eq!(
            learning_days(&cn, &s, &nd, day(9, 17)),
            Some(vec![day(9, 27), day(9, 19), day(9, 18), day(9, 17)])
        );
        assert_eq!(learning_days(&cn, &s, &nd, day(9, 28)), None);
        // An ordinary week before is used whole even where it starts before
        // that day (the first crest of a history: nothing to replace).
        assert_eq!(learning_days(&cn, &s, &plain, day(8, 17)), None);
        // Without a calendar every crest learns from the week before.
        let none = holiday_spans(&Calendar::new("none"));
        assert_eq!(learning_days(&none, &s, &nd, start), None);
    }

    #[test]
    fn a_single_glitched_step_is_not_the_peak() {
        let nan = f64::NAN;
        // A climb to 30 is a peak; 90 between 30 and 25 is a glitch.
        assert_eq!(peak_without_spikes(&[10.0, 20.0, 30.0, 90.0, 25.0]), 30.0);
        // A sharp real peak (under twice a neighbour) stays.
        assert_eq!(peak_without_spikes(&[10.0, 20.0, 39.0, 15.0]), 39.0);
        // Missing neighbours do not count; a lone value with none is kept.
        assert_eq!(peak_without_spikes(&[10.0, nan, 50.0, 20.0]), 20.0);
        assert_eq!(peak_without_spikes(&[nan, 7.0, nan]), 7.0);
        // Sparse counts, every value a spike: the plain largest.
        assert_eq!(peak_without_spikes(&[0.0, 3.0, 0.0, 5.0, 0.0]), 5.0);
        assert_eq!(peak_without_spikes(&[]), 0.0);
    }

    #[test]
    fn the_floor_serves_each_step_at_capacity_never_below_the_minimum() {
        let start = midnight(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap());
        let v = vec![0.0, 49.0, 50.0, 51.0, 120.0, f64::NAN];
        let s = Series::try_new("s", start, 3600, v).unwrap();
        let cap = Capacity::given(50.0, 200.0).unwrap();
        // At 50 rps an instance: 0, 1, 1, 2, 3 instances (the gap is not
        // demand), each for an hour; the minimum lifts the idle and the
        // one-instance hours.
        assert!((floor_instance_hours(&s, &cap, 1) - 8.0).abs() < 1e-9);
        assert!((floor_instance_hours(&s, &cap, 2) - 11.0).abs() < 1e-9);
        // Quarter-hour steps pay a quarter each.
        let q = Series::try_new("q", start, 900, vec![120.0; 4]).unwrap();
        assert!((floor_instance_hours(&q, &cap, 2) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn replayed_demand_bridges_gaps_from_the_observations_around_them() {
        let start = midnight(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap());
        let nan = f64::NAN;
        // Hours 0..10; the window is hours 3..7.
        let v = vec![0.0, 10.0, nan, nan, 40.0, nan, 60.0, nan, nan, nan];
        let s = Series::try_new("s", start, 3600, v).unwrap();
        let at = |h: i64| Timestamp(start.millis() + h * 3_600_000);
        let (w, filled) = replayed_demand(&s, at(3), at(7)).unwrap();
        // Hour 3 from hours 1 and 4 (outside the window on one side), hour
        // 5 between 4 and 6.
        assert_eq!(w.values(), &[30.0, 40.0, 50.0, 60.0]);
        assert_eq!(filled, 2);
        // A gap running off the data's end keeps the last observation.
        let (w, filled) = replayed_demand(&s, at(6), at(10)).unwrap();
        assert_eq!(w.values(), &[60.0; 4]);
        assert_eq!(filled, 3);
        // Nothing missing: the window as it is.
        let (w, filled) = replayed_demand(&s, at(0), at(2)).unwrap();
        assert_eq!((w.values(), filled), (&[0.0, 10.0][..], 0));
    }

    #[test]
    fn a_gap_in_the_actual_demand_is_not_replayed_as_no_demand() {
        let mut s = BacktestSettings::new("synthetic", "none", "2020-02-25..2020-02-27");
        s.min_history_days = 28;
        s.gate_scenarios = 2;
        s.reactive_targets = vec![0.6, 0.8];
        s.scale = Some(1.0);
        let whole = inputs();
        let (base, _) = backtest(&whole, &s).unwrap();
        // Six hours of the first day's afternoon missing (a scrape gap):
        // read as no demand, every adaptive strategy would scale in across
        // it and violate when the data resume.
        let mut gappy = inputs();
        let i = (55 * 24 + 12) as usize;
        gappy.series.values_mut()[i..i + 6].fill(f64::NAN);
        let (with_gap, details) = backtest(&gappy, &s).unwrap();
        assert_eq!(details[0].filled_steps, 6);
        // The same six hours read as no demand: what replaying the gap as
        // it is would do.
        let mut zeros = inputs();
        zeros.series.values_mut()[i..i + 6].fill(0.0);
        let (as_zero, _) = backtest(&zeros, &s).unwrap();
        let (b, g, z) = (&base.crests[0], &with_gap.crests[0], &as_zero.crests[0]);
        // Bridged steps are a straight line, not the demand that was there,
        // and on a fleet of 2-5 instances each lead-time draw moves crest's
        // minutes, so its replay may land several minutes either way
        // (measured: 9 minutes without the gap, 18 bridged, 11 read as zeros,
        // where its level tracking rides the hole out; over seeds 1-5, 7-14
        // without and 9-17 bridged). Reactive at 0.6 is what the zeros hurt:
        // 0 minutes without the gap and bridged, 4 read as zeros.
        assert!(
            g.crest.slo_violation_minutes <= b.crest.slo_violation_minutes + 10.0,
            "crest: {} minutes with the gap, {} without",
            g.crest.slo_violation_minutes,
            b.crest.slo_violation_minutes
        );
        assert!(
            z.reactive[0].slo_violation_minutes > b.reactive[0].slo_violation_minutes,
            "zeros should hurt reactive at 0.6: {} against {}",
            z.reactive[0].slo_violation_minutes,
            b.reactive[0].slo_violation_minutes
        );
        for (rg, rb) in g.reactive.iter().zip(&b.reactive) {
            assert!(
                rg.slo_violation_minutes <= rb.slo_violation_minutes,
                "reactive {}: {} minutes with the gap, {} without",
                rg.target,
                rg.slo_violation_minutes,
                rb.slo_violation_minutes
            );
        }
        assert!(details[0].demand.values().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn overlapping_crests_share_forecasts_and_report_as_if_alone() {
        let inputs = inputs();
        let mut s = BacktestSettings::new("synthetic", "none", "");
        s.min_history_days = 28;
        s.gate_scenarios = 4;
        s.reactive_targets = vec![0.6, 0.8];
        s.scale = Some(1.0);
        // Two windows sharing their middle day (2020-02-26).
        s.crests = "2020-02-25..2020-02-27,2020-02-26..2020-02-28".into();
        let both = crest_forecasts(
            &inputs,
            &s,
            &select_crests(&s.crests, &inputs.calendar, &inputs.series, 28).unwrap(),
        )
        .unwrap();
        assert_eq!(both.static_peak.len(), 2);
        assert_eq!(both.day_ahead.len(), 3, "the shared day is forecast once");
        let (together, _) = backtest(&inputs, &s).unwrap();
        for (i, c) in ["2020-02-25..2020-02-27", "2020-02-26..2020-02-28"]
            .iter()
            .enumerate()
        {
            let mut one = s.clone();
            one.crests = (*c).into();
            // The seed a crest gets is its place in the list: give it the
            // one it had beside the other.
            one.seed = s.seed.wrapping_add(1000 * i as u64);
            let (alone, _) = backtest(&inputs, &one).unwrap();
            assert_eq!(alone.crests[0], together.crests[i], "{c}");
        }
    }
}
