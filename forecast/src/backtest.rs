//! Rolling-origin backtests: refit at each origin on the history before it,
//! forecast `horizon` steps, score against what happened.
//!
//! Every model (and the automatic choice, `auto`) is scored at the same
//! origins from the same fits, so the comparison is like for like. Origins
//! run in parallel; their scores are merged in origin order, so the report
//! is the same bytes whatever the thread count.

use std::collections::BTreeMap;

use crest_core::series::Quantile;
use crest_core::{Series, Timestamp};
use rayon::prelude::*;
use serde::Serialize;

use crate::ForecastError;
use crate::metrics::{Accumulator, Metrics};
use crate::pipeline::{ForecastConfig, ModelChoice, forecast_models};

/// Name under which the automatic choice is reported.
pub const AUTO: &str = "auto";

/// The automatic choice scored on the steps inside the calendar's named
/// holidays' effect windows only (present when a scored step is in one).
pub const AUTO_HOLIDAY_WINDOWS: &str = "auto:holidays";

/// The automatic choice scored on the steps outside every window (present
/// beside [`AUTO_HOLIDAY_WINDOWS`]).
pub const AUTO_ORDINARY_DAYS: &str = "auto:ordinary";

/// Name of the daily-naive baseline in rolling backtests (series whose step
/// divides a day): each step repeats the same time of the last observed day.
pub const DAILY_NAIVE: &str = "daily_naive";

/// The last `k` origins, `step` apart, the latest leaving exactly `horizon`
/// steps to score. Ascending.
pub fn rolling_origins(len: usize, horizon: usize, k: usize, step: usize) -> Vec<usize> {
    let step = step.max(1);
    // Stop at the first origin that does not fit: later ones are earlier
    // still, so the loop is bounded by the series, not by `k` (which may be
    // 10^18).
    let mut out: Vec<usize> = (0..k)
        .map_while(|j| {
            j.checked_mul(step)
                .and_then(|d| d.checked_add(horizon))
                .and_then(|d| len.checked_sub(d))
                .filter(|o| *o > 0)
        })
        .collect();
    out.reverse();
    out
}

/// The last `days` origins that fall on midnight (in the series' own
/// timestamps) and leave `horizon` steps to score. Ascending.
pub fn midnight_origins(series: &Series, horizon: usize, days: usize) -> Vec<usize> {
    let day_ms = 86_400_000;
    let mut out: Vec<usize> = (1..=series.len().saturating_sub(horizon))
        .rev()
        .filter(|&o| series.time_at(o).millis().rem_euclid(day_ms) == 0)
        .take(days)
        .collect();
    out.reverse();
    out
}

/// Scores of one series.
#[derive(Debug, Clone, Default)]
pub struct SeriesBacktest {
    /// Series id.
    pub series_id: String,
    /// Origins scored.
    pub origins: usize,
    /// Accumulated scores per model name (including [`AUTO`]).
    pub per_model: BTreeMap<String, Accumulator>,
    /// How often auto-selection picked each model.
    pub chosen: BTreeMap<String, usize>,
}

/// A whole backtest report.
#[derive(Debug, Clone, Serialize)]
pub struct BacktestReport {
    /// Horizon in steps.
    pub horizon: usize,
    /// Metrics per series, then per model.
    pub per_series: BTreeMap<String, BTreeMap<String, Metrics>>,
    /// Metrics over all series, per model.
    pub overall: BTreeMap<String, Metrics>,
    /// How often auto-selection picked each model.
    pub chosen: BTreeMap<String, usize>,
}

impl BacktestReport {
    /// Combine per-series results.
    pub fn new(horizon: usize, results: &[SeriesBacktest]) -> BacktestReport {
        let mut per_series = BTreeMap::new();
        let mut overall: BTreeMap<String, Accumulator> = BTreeMap::new();
        let mut chosen = BTreeMap::new();
        for r in results {
            let mut m = BTreeMap::new();
            for (name, acc) in &r.per_model {
                m.insert(name.clone(), acc.metrics());
                overall.entry(name.clone()).or_default().merge(acc);
            }
            per_series.insert(r.series_id.clone(), m);
            for (k, v) in &r.chosen {
                *chosen.entry(k.clone()).or_insert(0) += v;
            }
        }
        BacktestReport {
            horizon,
            per_series,
            overall: overall.into_iter().map(|(k, a)| (k, a.metrics())).collect(),
            chosen,
        }
    }
}

/// Backtest one series at `origins` with every model and the automatic choice.
///
/// `exclude(t)` drops forecast points at time `t` from the scores (e.g.
/// labelled anomaly windows); `tick` is called once per finished origin
/// (for a progress bar).
///
/// # Errors
/// [`ForecastError::BacktestTooShort`] when an origin leaves no history or
/// no step to score; errors of [`forecast_models`].
pub fn backtest_series(
    series: &Series,
    cfg: &ForecastConfig,
    origins: &[usize],
    exclude: &(dyn Fn(Timestamp) -> bool + Sync),
    tick: &(dyn Fn() + Sync),
) -> Result<SeriesBacktest, ForecastError> {
    let h = cfg.horizon;
    if origins.is_empty() || origins.iter().any(|&o| o < 3 || o >= series.len()) {
        return Err(ForecastError::BacktestTooShort {
            series: series.id().to_string(),
            origins: origins.len(),
            horizon: h,
            len: series.len(),
        });
    }
    let auto_cfg = ForecastConfig {
        model: ModelChoice::Auto,
        ..cfg.clone()
    };
    // Holiday-window days are harder than ordinary ones and their bands
    // are widened for it: the automatic choice is also scored on each kind
    // of day alone, so that its coverage can be read on both.
    let windows = crate::context::holiday_windows(series, &cfg.calendar, series.len());
    let split = origins
        .iter()
        .any(|&o| (o..(o + h).min(series.len())).any(|i| windows.covers(i)));
    type OriginScores = (BTreeMap<String, Accumulator>, String);
    let per_origin: Vec<Result<OriginScores, ForecastError>> = origins
        .par_iter()
        .map(|&o| {
            let hist = series.slice(0, o);
            let all = forecast_models(&hist, &auto_cfg)?;
            let scale = mase_scale(&hist);
            let mut accs: BTreeMap<String, Accumulator> = BTreeMap::new();
            for out in &all.outcomes {
                let mut names = vec![out.model.name().to_string()];
                if out.model == all.chosen {
                    names.push(AUTO.to_string());
                }
                let fc = &out.forecast;
                let mut acc = Accumulator::default();
                // Inside / outside the holiday windows, for the chosen model.
                let by_kind_too = split && out.model == all.chosen;
                let mut by_kind = [Accumulator::default(), Accumulator::default()];
                let mut qs: Vec<(Quantile, f64)> = Vec::new();
                for step in 0..fc.horizon() {
                    let i = o + step;
                    if i >= series.len() || exclude(series.time_at(i)) {
                        continue;
                    }
                    qs.clear();
                    qs.extend(fc.quantiles.iter().map(|(q, p)| (*q, p[step])));
                    acc.add(series.values()[i], fc.mean[step], &qs, scale);
                    if by_kind_too {
                        by_kind[usize::from(!windows.covers(i))].add(
                            series.values()[i],
                            fc.mean[step],
                            &qs,
                            scale,
                        );
                    }
                }
                for name in names {
                    accs.entry(name).or_default().merge(&acc);
                }
                if by_kind_too {
                    let [inside, outside] = &by_kind;
                    for (name, a) in [
                        (AUTO_HOLIDAY_WINDOWS, inside),
                        (AUTO_ORDINARY_DAYS, outside),
                    ] {
                        accs.entry(name.to_string()).or_default().merge(a);
                    }
                }
            }
            // Daily naive (the same step of the last observed day), the
            // baseline a day-ahead forecast must beat, scored at the same points.
            if let Some(pd) = (series.step_s() > 0 && 86_400 % series.step_s() == 0)
                .then(|| (86_400 / series.step_s()) as usize)
            {
                let v = series.values();
                let mut acc = Accumulator::default();
                for k in 0..h {
                    let i = o + k;
                    if i >= series.len() || exclude(series.time_at(i)) {
                        continue;
                    }
                    let daily = i.checked_sub(pd * (k / pd + 1)).map_or(f64::NAN, |j| v[j]);
                    acc.add(v[i], daily, &[], scale);
                }
                accs.entry(DAILY_NAIVE.to_string()).or_default().merge(&acc);
            }
            tick();
            Ok((accs, all.chosen.name().to_string()))
        })
        .collect();
    let mut out = SeriesBacktest {
        series_id: series.id().to_string(),
        origins: origins.len(),
        ..SeriesBacktest::default()
    };
    for r in per_origin {
        let (accs, chosen) = r?;
        for (name, acc) in accs {
            out.per_model.entry(name).or_default().merge(&acc);
        }
        *out.chosen.entry(chosen).or_insert(0) += 1;
    }
    Ok(out)
}

/// In-sample mean absolute seasonal difference (the MASE denominator).
fn mase_scale(hist: &Series) -> f64 {
    let ctx_season = {
        let step = hist.step_s();
        let n = hist.len();
        match (86_400 % step == 0).then(|| (86_400 / step) as usize) {
            Some(pd) if pd >= 2 && n >= 14 * pd => 7 * pd,
            Some(pd) if pd >= 2 && n >= 2 * pd => pd,
            Some(1) if n >= 14 => 7,
            _ => 1,
        }
    };
    let v = hist.values();
    let (mut s, mut c) = (0.0, 0usize);
    for i in ctx_season..v.len() {
        let d = v[i] - v[i - ctx_season];
        if d.is_finite() {
            s += d.abs();
            c += 1;
        }
    }
    if c > 0 { s / c as f64 } else { f64::NAN }
}

/// Which days around each holiday the holiday backtest takes its origins from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidaySpan {
    /// The calendar's effect window of each holiday.
    EffectWindow,
    /// Day offsets from the holiday's first day off, both ends included
    /// (`-10..16` is ten days before to sixteen days after).
    Offsets(i64, i64),
}

/// Which holiday occurrences a holiday backtest takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HolidayFilter {
    /// Only holidays with these names (empty: every named holiday).
    pub names: Vec<String>,
    /// Only occurrences whose first day off falls in these years (inclusive).
    pub years: Option<(i32, i32)>,
}

impl HolidayFilter {
    fn takes(&self, p: &crest_core::HolidayPeriod) -> bool {
        let y = chrono::Datelike::year(&p.first);
        (self.names.is_empty() || self.names.contains(&p.name))
            && self.years.is_none_or(|(a, b)| (a..=b).contains(&y))
    }
}

/// Scores of one holiday occurrence: crest beside daily and weekly naive,
/// at the same origins, on the same points.
#[derive(Debug, Clone, Serialize)]
pub struct HolidayRow {
    /// Holiday name, e.g. "Spring Festival".
    pub holiday: String,
    /// Year of its first day off.
    pub year: i32,
    /// First origin's date (`YYYY-MM-DD`).
    pub from: String,
    /// Last origin's date.
    pub to: String,
    /// Origins scored (one per midnight).
    pub origins: usize,
    /// crest's forecast (auto model, holiday analogs, calibrated quantiles).
    pub crest: Metrics,
    /// The same time of day on the last observed day.
    pub daily_naive: Metrics,
    /// The same time on the same weekday of the last observed week.
    pub weekly_naive: Metrics,
}

/// The holiday backtest: one row per holiday occurrence, totals per holiday
/// and overall.
#[derive(Debug, Clone, Serialize)]
pub struct HolidayBacktest {
    /// Horizon in steps.
    pub horizon: usize,
    /// Per holiday occurrence, in date order.
    pub rows: Vec<HolidayRow>,
    /// Per holiday name, over its occurrences: `crest`, `daily_naive`, `weekly_naive`.
    pub per_holiday: BTreeMap<String, BTreeMap<String, Metrics>>,
    /// Over every row: `crest`, `daily_naive`, `weekly_naive`.
    pub overall: BTreeMap<String, Metrics>,
}

/// Backtest day-ahead (or `cfg.horizon`) forecasts at every midnight around
/// each named holiday of `cfg.calendar` inside the data (optionally only the
/// holidays named in `only`), each origin with all data before it, beside
/// daily and weekly naive. Origins need four weeks of history and a whole
/// horizon of actuals; an occurrence with none is left out.
///
/// # Errors
/// [`ForecastError::BacktestTooShort`] when no holiday of the calendar has
/// a usable origin in the data (or the series' step does not divide a day);
/// errors of [`crate::forecast`].
pub fn backtest_around_holidays(
    series: &Series,
    cfg: &ForecastConfig,
    span: HolidaySpan,
    only: &HolidayFilter,
    tick: &(dyn Fn() + Sync),
) -> Result<HolidayBacktest, ForecastError> {
    let h = cfg.horizon;
    let step = series.step_s();
    let too_short = || ForecastError::BacktestTooShort {
        series: series.id().to_string(),
        origins: 0,
        horizon: h,
        len: series.len(),
    };
    if step <= 0 || 86_400 % step != 0 || h == 0 {
        return Err(too_short());
    }
    let pd = (86_400 / step) as usize;
    let offset_ms = match series.time_format() {
        crest_core::TimeFormat::Rfc3339 { offset_s } => i64::from(offset_s) * 1000,
        _ => 0,
    };
    let day_index = |d: chrono::NaiveDate| -> Option<usize> {
        let ms = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() - offset_ms;
        let rel = ms - series.start().millis();
        (rel >= 0 && rel % (step * 1000) == 0).then(|| (rel / (step * 1000)) as usize)
    };
    let mut jobs: Vec<(crest_core::HolidayPeriod, Vec<usize>)> = Vec::new();
    for p in cfg.calendar.holiday_periods() {
        if p.event || !only.takes(&p) {
            continue;
        }
        let (from, to) = match span {
            HolidaySpan::EffectWindow => p.window_span(cfg.calendar.effect_window(&p.name)),
            HolidaySpan::Offsets(a, b) => {
                let at = |k: i64| {
                    p.first
                        .checked_add_signed(chrono::TimeDelta::days(k))
                        .unwrap_or(p.first)
                };
                (at(a), at(b))
            }
        };
        let origins: Vec<usize> = from
            .iter_days()
            .take_while(|d| *d <= to)
            .filter_map(day_index)
            .filter(|&o| o >= 28 * pd && o + h <= series.len())
            .collect();
        if !origins.is_empty() {
            jobs.push((p, origins));
        }
    }
    if jobs.is_empty() {
        return Err(too_short());
    }
    let flat: Vec<(usize, usize)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(j, (_, os))| os.iter().map(move |o| (j, *o)))
        .collect();
    let auto_cfg = ForecastConfig {
        model: ModelChoice::Auto,
        ..cfg.clone()
    };
    let scored: Vec<Result<[Accumulator; 3], ForecastError>> = flat
        .par_iter()
        .map(|&(_, o)| {
            let hist = series.slice(0, o);
            let out = crate::forecast(&hist, &auto_cfg)?;
            let scale = mase_scale(&hist);
            let v = series.values();
            let mut acc: [Accumulator; 3] = Default::default();
            let mut qs: Vec<(Quantile, f64)> = Vec::new();
            for k in 0..h {
                let i = o + k;
                qs.clear();
                qs.extend(out.forecast.quantiles.iter().map(|(q, p)| (*q, p[k])));
                acc[0].add(v[i], out.forecast.mean[k], &qs, scale);
                let daily = i.checked_sub(pd * (k / pd + 1)).map_or(f64::NAN, |j| v[j]);
                let weekly = i
                    .checked_sub(7 * pd * (k / (7 * pd) + 1))
                    .map_or(f64::NAN, |j| v[j]);
                acc[1].add(v[i], daily, &[], scale);
                acc[2].add(v[i], weekly, &[], scale);
            }
            tick();
            Ok(acc)
        })
        .collect();
    let mut per_job: Vec<[Accumulator; 3]> = vec![Default::default(); jobs.len()];
    for ((j, _), r) in flat.iter().zip(scored) {
        let r = r?;
        for (a, b) in per_job[*j].iter_mut().zip(&r) {
            a.merge(b);
        }
    }
    const NAMES: [&str; 3] = ["crest", "daily_naive", "weekly_naive"];
    let mut per_holiday: BTreeMap<String, [Accumulator; 3]> = BTreeMap::new();
    let mut overall: [Accumulator; 3] = Default::default();
    let mut rows = Vec::with_capacity(jobs.len());
    for ((p, os), acc) in jobs.iter().zip(&per_job) {
        let e = per_holiday.entry(p.name.clone()).or_default();
        for k in 0..3 {
            e[k].merge(&acc[k]);
            overall[k].merge(&acc[k]);
        }
        let date = |o: usize| {
            series
                .time_at(o)
                .to_datetime()
                .map(|t| t.date_naive().to_string())
                .unwrap_or_default()
        };
        rows.push(HolidayRow {
            holiday: p.name.clone(),
            year: chrono::Datelike::year(&p.first),
            from: date(os[0]),
            to: date(os[os.len() - 1]),
            origins: os.len(),
            crest: acc[0].metrics(),
            daily_naive: acc[1].metrics(),
            weekly_naive: acc[2].metrics(),
        });
    }
    let named = |a: &[Accumulator; 3]| -> BTreeMap<String, Metrics> {
        NAMES
            .iter()
            .zip(a)
            .map(|(n, a)| (n.to_string(), a.metrics()))
            .collect()
    };
    Ok(HolidayBacktest {
        horizon: h,
        rows,
        per_holiday: per_holiday
            .iter()
            .map(|(k, a)| (k.clone(), named(a)))
            .collect(),
        overall: named(&overall),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_origins_stop_at_the_series_start_whatever_k() {
        // 10^18 origins asked: the loop ends at the data, not after 10^18 steps.
        let o = rolling_origins(100, 10, 1_000_000_000_000_000_000, 10);
        assert_eq!(o, vec![10, 20, 30, 40, 50, 60, 70, 80, 90]);
        assert_eq!(rolling_origins(100, 10, usize::MAX, usize::MAX), vec![90]);
    }
}
