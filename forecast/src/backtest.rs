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

/// The last `k` origins, `step` apart, the latest leaving exactly `horizon`
/// steps to score. Ascending.
pub fn rolling_origins(len: usize, horizon: usize, k: usize, step: usize) -> Vec<usize> {
    let step = step.max(1);
    let mut out: Vec<usize> = (0..k)
        .filter_map(|j| len.checked_sub(horizon + j * step))
        .filter(|o| *o > 0)
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
                let mut qs: Vec<(Quantile, f64)> = Vec::new();
                for step in 0..fc.horizon() {
                    let i = o + step;
                    if i >= series.len() || exclude(series.time_at(i)) {
                        continue;
                    }
                    qs.clear();
                    qs.extend(fc.quantiles.iter().map(|(q, p)| (*q, p[step])));
                    acc.add(series.values()[i], fc.mean[step], &qs, scale);
                }
                for name in names {
                    accs.entry(name).or_default().merge(&acc);
                }
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
