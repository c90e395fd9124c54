//! From a series to a calibrated probabilistic forecast.
//!
//! ```text
//! Series + Calendar ─▶ Context (log, gaps, outliers, calendar per step)
//!      ─▶ every candidate model at K recent origins + at the end
//!      ─▶ holiday windows: the analog of earlier years (crate::holiday)
//!      ─▶ pick the model with the lowest error relative to seasonal naive
//!      ─▶ its backtest errors per step ahead ─▶ quantile offsets
//!      ─▶ Forecast { mean, p10, p50, p90, .. }
//! ```
//!
//! Quantiles come from the chosen model's own out-of-sample errors, scaled
//! per step ahead (errors grow with the lead time) and pooled across steps
//! (a dozen origins per step are too few on their own), so that in
//! backtests the p90 is exceeded about 10 % of the time.

use std::collections::BTreeMap;
use std::sync::Arc;

use crest_core::series::Quantile;
use crest_core::{Calendar, Forecast, Series, WorkEstimate, WorkLimits};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

use crate::ForecastError;
use crate::context::{Context, median};
use crate::models::{ModelKind, model};
use crate::regressors::KnownRegressors;

/// Which model to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelChoice {
    /// Pick per series by backtest WAPE among all models.
    #[default]
    Auto,
    /// Always this model.
    Fixed(ModelKind),
}

/// What to forecast and how.
#[derive(Debug, Clone)]
pub struct ForecastConfig {
    /// Steps ahead, in the series' own step.
    pub horizon: usize,
    /// Quantile levels to forecast.
    pub quantiles: Vec<Quantile>,
    /// Model selection.
    pub model: ModelChoice,
    /// Backtest origins used for model choice and quantile calibration.
    pub calibration_origins: usize,
    /// Holiday calendar (empty: weekends only).
    pub calendar: Calendar,
    /// Known future regressors, taken by the calendar regression (and so by
    /// the ensemble and the automatic choice); `None`: none.
    pub regressors: Option<Arc<KnownRegressors>>,
    /// How the calendar regression's final fit (the forecast returned) is
    /// solved; the calibration origins always take the Gram path.
    pub final_fit: FinalFit,
}

/// The solver of the calendar regression's final fit. Both solve the same
/// weighted ridge problem (a unit test pins them to the same coefficients
/// on NYC taxi); they differ in cost and in numerical sturdiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalFit {
    /// `linfa-linear`'s Householder QR of the scaled, ridge-augmented design
    /// (`2 n p^2` flops): what `crest forecast` uses.
    #[default]
    Linfa,
    /// Cholesky of the accumulated normal equations, as at the calibration
    /// origins (`p^3 / 6` flops on top of the pass they share): for callers
    /// that make hundreds of forecasts, such as the rehearsal's backtest,
    /// where the QR was more than half of each day-ahead forecast's time.
    Gram,
}

impl ForecastConfig {
    /// Defaults: auto model, p10/p50/p90, 28 calibration origins, no holidays.
    pub fn new(horizon: usize) -> ForecastConfig {
        ForecastConfig {
            horizon,
            quantiles: default_quantiles(),
            model: ModelChoice::Auto,
            calibration_origins: 28,
            calendar: Calendar::new("none"),
            regressors: None,
            final_fit: FinalFit::Linfa,
        }
    }

    /// With this solver for the regression's final fit.
    pub fn with_final_fit(mut self, f: FinalFit) -> Self {
        self.final_fit = f;
        self
    }

    /// With known future regressors (`crate::regressors`): their values must
    /// cover the history and the horizon of every series forecast with this
    /// configuration (a backtest takes them over each origin's horizon, i.e.
    /// the actual future values).
    pub fn with_known_regressors(mut self, r: KnownRegressors) -> Self {
        self.regressors = Some(Arc::new(r));
        self
    }

    /// With these quantile levels.
    pub fn with_quantiles(mut self, q: Vec<Quantile>) -> Self {
        self.quantiles = q;
        self
    }

    /// With this calendar.
    pub fn with_calendar(mut self, c: Calendar) -> Self {
        self.calendar = c;
        self
    }

    /// With this model choice.
    pub fn with_model(mut self, m: ModelChoice) -> Self {
        self.model = m;
        self
    }
}

impl ForecastConfig {
    /// What forecasting `series` costs, estimated before any model is fit:
    /// each calibration origin and the final fit refit candidate models over
    /// the history and write `horizon` steps of features and paths.
    pub fn work(&self, series: &[Series]) -> WorkEstimate {
        let h = self.horizon as f64;
        let fits = (self.calibration_origins + 1) as f64 * 4.0;
        series.iter().fold(WorkEstimate::default(), |acc, s| {
            let n = s.len() as f64;
            acc.plus(WorkEstimate::new(
                fits * (n + h),
                // Features (about 32 a step), the mean and quantile paths.
                (n + h) * 8.0 * (32.0 + self.quantiles.len() as f64 + 1.0),
            ))
        })
    }

    /// Refuse a forecast of `series` whose horizon reaches past year 9999
    /// or whose work exceeds `limits`.
    ///
    /// # Errors
    /// [`ForecastError::Refused`] with the bound or the estimate.
    pub fn check(&self, series: &[Series], limits: &WorkLimits) -> Result<(), ForecastError> {
        let invalid = ForecastError::Refused;
        for s in series {
            crest_core::bounds::check_grid(
                "forecast horizon",
                s.start(),
                s.step_s(),
                s.len().saturating_add(self.horizon),
            )
            .map_err(invalid)?;
        }
        limits
            .check("this forecast", self.work(series))
            .map_err(invalid)
    }
}

/// 0.1, 0.5, 0.9.
pub fn default_quantiles() -> Vec<Quantile> {
    [0.1, 0.5, 0.9]
        .into_iter()
        .filter_map(|q| Quantile::try_new(q).ok())
        .collect()
}

/// A forecast and how it was made.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastOutcome {
    /// The forecast.
    pub forecast: Forecast,
    /// The model used.
    pub model: ModelKind,
    /// Calibration score of every candidate: its MAE relative to seasonal
    /// naive's at the same calibration origins (geometric mean over origins;
    /// below 1 beats naive; lower is better). Without naive among the
    /// candidates, the median over origins of each origin's WAPE.
    pub candidates: BTreeMap<ModelKind, f64>,
    /// Number of out-of-sample errors the quantiles were calibrated on.
    pub calibration_errors: usize,
}

/// Forecast one series.
///
/// # Errors
/// [`ForecastError::ZeroHorizon`], [`ForecastError::TooShort`] (fewer than
/// 3 observed values), [`ForecastError::Core`] should a path be malformed.
pub fn forecast(series: &Series, cfg: &ForecastConfig) -> Result<ForecastOutcome, ForecastError> {
    let all = forecast_models(series, cfg)?;
    let pick = match cfg.model {
        ModelChoice::Fixed(k) => k,
        ModelChoice::Auto => all.chosen,
    };
    all.outcomes
        .into_iter()
        .find(|o| o.model == pick)
        .ok_or(ForecastError::TooShort {
            series: series.id().to_string(),
            needed: 3,
            found: 0,
        })
}

/// Forecast many series in parallel; results in input order.
pub fn forecast_many(
    series: &[Series],
    cfg: &ForecastConfig,
) -> Vec<Result<ForecastOutcome, ForecastError>> {
    series.par_iter().map(|s| forecast(s, cfg)).collect()
}

/// The forecasts of every candidate model, and the one auto-selection picks.
#[derive(Debug, Clone)]
pub struct AllModels {
    /// One outcome per candidate model (all models for [`ModelChoice::Auto`]).
    pub outcomes: Vec<ForecastOutcome>,
    /// The model auto-selection picks.
    pub chosen: ModelKind,
}

/// Forecast one series with every candidate model, sharing one calibration
/// backtest (what the backtest command compares).
///
/// # Errors
/// As [`forecast`].
pub fn forecast_models(series: &Series, cfg: &ForecastConfig) -> Result<AllModels, ForecastError> {
    let h = cfg.horizon;
    if h == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    let found = series.values().iter().filter(|v| v.is_finite()).count();
    if found < 3 {
        return Err(ForecastError::TooShort {
            series: series.id().to_string(),
            needed: 3,
            found,
        });
    }
    let mut ctx = Context::new(series, &cfg.calendar, h);
    ctx.final_fit = cfg.final_fit;
    if let Some(r) = &cfg.regressors {
        ctx.reg = crate::regressors::design_terms(r, series, ctx.n, h);
    }
    let n = ctx.n;
    let candidates: Vec<ModelKind> = match cfg.model {
        ModelChoice::Auto => ModelKind::ALL.to_vec(),
        ModelChoice::Fixed(k) => vec![k],
    };
    let cal_origins = calibration_origins(&ctx, h, cfg.calibration_origins);
    let mut origins = cal_origins.clone();
    origins.push(n);
    let raw: Vec<f64> = series
        .values()
        .iter()
        .map(|v| {
            if v.is_finite() {
                ctx.transform.fwd(*v)
            } else {
                f64::NAN
            }
        })
        .collect();
    let mut results = Vec::with_capacity(candidates.len());
    let mut maes: Vec<Vec<f64>> = Vec::with_capacity(candidates.len());
    // Paths per model, computed once: the ensemble reuses its members'.
    let mut cache: BTreeMap<ModelKind, Vec<Vec<f64>>> = BTreeMap::new();
    let mut paths_of = |kind: ModelKind| -> Vec<Vec<f64>> {
        if let Some(p) = cache.get(&kind) {
            return p.clone();
        }
        let p = if kind == ModelKind::Ensemble {
            let a = paths_of_base(&mut cache, &ctx, &origins, h, ModelKind::MstlEts);
            let b = paths_of_base(&mut cache, &ctx, &origins, h, ModelKind::Regression);
            blend_learned(&ctx, &cal_origins, &a, &b, h)
        } else {
            model_paths(&ctx, &origins, h, kind)
        };
        cache.insert(kind, p.clone());
        p
    };
    // Inside holiday windows every model gives way to the analog of earlier
    // years (crate::holiday), as far as the holiday's windows moved more than
    // ordinary days do (its weight): the same correction for all, so the
    // choice between models is made on ordinary days and the window days are
    // scored as they will be forecast.
    // The analog's strengths are learned once, at the end of the history:
    // the calibration origins share them (as they share the calendar).
    // Nothing to learn when no forecast here reaches a window, and no band
    // to widen when the final one does not.
    let touches = |o: usize| (o..o + h).any(|t| ctx.windows.covers(t));
    let analog = origins
        .iter()
        .any(|&o| touches(o))
        .then(|| crate::holiday::Analog::new(&ctx, n));
    let analogs: Vec<Vec<Option<(f64, f64)>>> = origins
        .iter()
        .map(|&o| match &analog {
            Some(a) => a.path(&ctx, o, h),
            None => vec![None; h],
        })
        .collect();
    // Holiday-window days are harder than the ordinary days most calibration
    // errors come from: their bands come from the analog's own day-ahead
    // errors over the history's earlier windows.
    let window_errors = analog.as_ref().filter(|_| touches(n)).and_then(|analog| {
        let mut e = analog.window_errors(&ctx, n);
        e.retain(|v| v.is_finite());
        e.sort_by(f64::total_cmp);
        (e.len() >= 100).then_some(e)
    });
    for kind in candidates {
        let mut paths = paths_of(kind);
        // The final forecast's two shapes where the analog weighs in on it:
        // the models' path, and the analog's where it has a weight (the
        // models' elsewhere, where the mean is theirs too).
        let final_analog = analogs
            .last()
            .filter(|a| a.iter().flatten().any(|(_, w)| *w > 0.0));
        let shapes: Option<[Vec<f64>; 2]> = final_analog.zip(paths.last()).map(|(a, z)| {
            let models: Vec<f64> = z.iter().map(|z| original(&ctx, *z)).collect();
            let analog = a
                .iter()
                .zip(z)
                .map(|(a, z)| original(&ctx, a.filter(|(_, w)| *w > 0.0).map_or(*z, |(a, _)| a)))
                .collect();
            [models, analog]
        });
        for (path, analog) in paths.iter_mut().zip(&analogs) {
            for (z, a) in path.iter_mut().zip(analog) {
                if let Some((a, w)) = a {
                    *z += w * (a - *z);
                }
            }
        }
        let last = paths.pop().unwrap_or_else(|| vec![0.0; h]);
        // Calibration errors (transformed space) and WAPE (original space).
        let mut errs: Vec<Vec<f64>> = vec![Vec::new(); h];
        let (mut abs_e, mut abs_y) = (0.0, 0.0);
        let mut per_origin = Vec::with_capacity(cal_origins.len());
        let mut mae = Vec::with_capacity(cal_origins.len());
        for (o, path) in cal_origins.iter().zip(&paths) {
            let (mut oe, mut oy, mut on) = (0.0, 0.0, 0usize);
            for (step, z) in path.iter().enumerate() {
                let i = o + step;
                if i >= n || !raw[i].is_finite() || !z.is_finite() {
                    continue;
                }
                errs[step].push(raw[i] - z);
                let yhat = ctx.transform.inv(*z);
                let y = series.values()[i];
                oe += (y - yhat).abs();
                oy += y.abs();
                on += 1;
            }
            abs_e += oe;
            abs_y += oy;
            if oy > 0.0 {
                per_origin.push(oe / oy);
            }
            mae.push(if on > 0 { oe / on as f64 } else { f64::NAN });
        }
        // The median origin's WAPE: one storm or outage inside the
        // calibration span should not decide the model for the next day.
        let wape = if per_origin.is_empty() {
            if abs_y > 0.0 {
                abs_e / abs_y
            } else {
                f64::INFINITY
            }
        } else {
            median(&mut per_origin)
        };
        results.push((kind, wape, last, errs, shapes));
        maes.push(mae);
    }
    // Scale-free choice: each model's error relative to seasonal naive's at
    // the same origins (the geometric mean over origins of the MAE ratio, a
    // "relative MAE"), so that a model is chosen only where it beats the
    // baseline MASE is measured against, origin by origin, and one wild day
    // weighs no more than one good day.
    let naive_at = results.iter().position(|r| r.0 == ModelKind::SeasonalNaive);
    if let Some(ni) = naive_at {
        let base = maes[ni].clone();
        for (r, m) in results.iter_mut().zip(&maes) {
            let logs: Vec<f64> = m
                .iter()
                .zip(&base)
                .filter(|(a, b)| a.is_finite() && b.is_finite() && **a > 0.0 && **b > 0.0)
                .map(|(a, b)| (a / b).ln())
                .collect();
            if !logs.is_empty() {
                r.1 = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
            }
        }
    }
    let mut candidates_wape = BTreeMap::new();
    for (k, w, _, _, _) in &results {
        candidates_wape.insert(*k, *w);
    }
    // Lowest score wins; ties go to the earlier model in ModelKind::ALL order.
    let best = results
        .iter()
        .filter(|r| r.1.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|r| (r.0, r.1));
    // The guard: a model that did not clearly beat seasonal naive in
    // calibration (by GUARD_MARGIN; a dozen origins cannot tell a smaller
    // edge from luck) is not trusted over it.
    let chosen = match (best, naive_at) {
        (Some((_, score)), Some(_)) if score >= GUARD_MARGIN => ModelKind::SeasonalNaive,
        (Some((k, _)), _) => k,
        (None, _) => results.first().map_or(ModelKind::SeasonalNaive, |r| r.0),
    };
    let mut outcomes = Vec::with_capacity(results.len());
    for (kind, _, last, errs, shapes) in results {
        let mut fc = build_forecast(
            series,
            &ctx,
            &last,
            &errs,
            &cfg.quantiles,
            window_errors.as_deref(),
        )?;
        if let Some(shapes) = shapes {
            fc.shapes = shapes.into();
        }
        outcomes.push(ForecastOutcome {
            forecast: fc,
            model: kind,
            candidates: candidates_wape.clone(),
            calibration_errors: errs.iter().map(Vec::len).sum(),
        });
    }
    Ok(AllModels { outcomes, chosen })
}

/// The relative calibration error (to seasonal naive) a model must stay
/// below to be chosen over naive. Chosen on the odd-numbered windows of the
/// hourly proxy (`examples/mase_proxy.rs`) among 1.0, 0.98, 0.95, 0.92,
/// 0.9, 0.85.
const GUARD_MARGIN: f64 = 0.9;

/// The ensemble: the blend `w a + (1 - w) b` of the decomposition (`a`)
/// and the regression (`b`) whose calibration paths had the lowest absolute
/// error (original space), `w` in {1/4, 1/2, 3/4}; ties keep the plain
/// average. One weight per forecast, shared by its calibration paths (as the
/// analog's strengths are): the members' relative skill is a property of
/// the series, and a per-origin weight would be fitted on its own errors.
fn blend_learned(
    ctx: &Context,
    cal_origins: &[usize],
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    h: usize,
) -> Vec<Vec<f64>> {
    let blend = |w: f64| -> Vec<Vec<f64>> {
        a.iter()
            .zip(b)
            .map(|(x, y)| {
                x.iter()
                    .zip(y)
                    .map(|(u, v)| w * u + (1.0 - w) * v)
                    .collect()
            })
            .collect()
    };
    let err = |p: &[Vec<f64>]| -> f64 {
        let mut e = 0.0;
        for (o, path) in cal_origins.iter().zip(p) {
            for (step, z) in path.iter().enumerate().take(h) {
                let i = o + step;
                if i < ctx.n && ctx.y[i].is_finite() && z.is_finite() {
                    e += (ctx.transform.inv(ctx.y[i]) - ctx.transform.inv(*z)).abs();
                }
            }
        }
        e
    };
    let mut best = (f64::INFINITY, 0.5);
    for w in [0.5, 0.25, 0.75] {
        let e = err(&blend(w));
        if e < best.0 * (1.0 - 1e-9) {
            best = (e, w);
        }
    }
    blend(best.1)
}

/// Level adaptation, learned in calibration: when the origins follow each
/// other (each path starts where the previous one's first `stride` steps
/// end, as for day-ahead forecasts), the mean error the model made over the
/// last observed stretch predicts part of its error over the next one (a
/// ramp-down before a holiday, a slow recovery, a level that drifted). The
/// share carried over, `alpha` in [0, 1], is the least-squares slope of next
/// errors on last errors over the calibration origins; every path (the
/// calibration ones too, so choice and quantiles see the corrected model)
/// is moved by `alpha` times its last error. Holiday-window steps are left
/// alone: the analog starts from the last observed day already.
fn adapt_level(ctx: &Context, origins: &[usize], paths: &mut [Vec<f64>], h: usize) {
    let raw = &ctx.y;
    if origins.len() < 4 || paths.len() != origins.len() {
        return;
    }
    let stride = origins[1] - origins[0];
    if stride == 0 || stride > h || origins.windows(2).any(|w| w[1] - w[0] != stride) {
        return;
    }
    let in_window = |i: usize| ctx.windows.covers(i);
    // Mean error of path j over steps [from, to) of the series.
    let mean_err = |path: &[f64], o: usize, from: usize, to: usize| -> Option<f64> {
        let (mut s, mut c) = (0.0, 0usize);
        for i in from..to.min(ctx.n) {
            let z = path[i - o];
            if raw[i].is_finite() && z.is_finite() && !in_window(i) {
                s += raw[i] - z;
                c += 1;
            }
        }
        (c * 2 >= (to - from)).then(|| s / c as f64)
    };
    // e_prev[j]: error of path j-1 over [o_{j-1}, o_j); e_next[j]: error of
    // path j over [o_j, o_j + stride).
    let k = origins.len();
    let prev: Vec<Option<f64>> = (0..k)
        .map(|j| {
            (j > 0)
                .then(|| mean_err(&paths[j - 1], origins[j - 1], origins[j - 1], origins[j]))
                .flatten()
        })
        .collect();
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for j in 1..k - 1 {
        if let (Some(x), Some(y)) = (
            prev[j],
            mean_err(&paths[j], origins[j], origins[j], origins[j] + stride),
        ) {
            sxy += x * y;
            sxx += x * x;
        }
    }
    if sxx <= 0.0 {
        return;
    }
    let alpha = (sxy / sxx).clamp(0.0, 1.0);
    for j in 1..k {
        if let Some(e) = prev[j] {
            let o = origins[j];
            for (step, z) in paths[j].iter_mut().enumerate() {
                if !in_window(o + step) {
                    *z += alpha * e;
                }
            }
        }
    }
}

fn paths_of_base(
    cache: &mut BTreeMap<ModelKind, Vec<Vec<f64>>>,
    ctx: &Context,
    origins: &[usize],
    h: usize,
    kind: ModelKind,
) -> Vec<Vec<f64>> {
    cache
        .entry(kind)
        .or_insert_with(|| model_paths(ctx, origins, h, kind))
        .clone()
}

/// A base model's paths; the decomposition's level is adapted to its recent
/// errors ([`adapt_level`]). The regression has its own residual correction
/// and seasonal naive stays the plain baseline MASE is measured against.
fn model_paths(ctx: &Context, origins: &[usize], h: usize, kind: ModelKind) -> Vec<Vec<f64>> {
    let mut p = model(kind).paths(ctx, origins, h);
    if kind == ModelKind::MstlEts {
        adapt_level(ctx, origins, &mut p, h);
    }
    p
}

/// Recent origins for calibration: spaced by the horizon (at least enough to
/// span two seasons), each with enough history before it.
fn calibration_origins(ctx: &Context, horizon: usize, k: usize) -> Vec<usize> {
    let season = ctx.season();
    let n = ctx.n;
    if k == 0 {
        return Vec::new();
    }
    let stride = horizon.max((2 * season).div_ceil(k)).max(1);
    let min_hist = (2 * season).max(10);
    let mut out = Vec::new();
    for j in 1..=k {
        let Some(o) = n.checked_sub(j * stride) else {
            break;
        };
        if o < min_hist {
            break;
        }
        out.push(o);
    }
    out.reverse();
    out
}

/// Turn a point path and its calibration errors into a [`Forecast`].
/// A forecast value in the transformed space back in the series' own
/// units, never below 0 for a series that cannot go below it.
fn original(ctx: &Context, z: f64) -> f64 {
    let v = ctx.transform.inv(z);
    if ctx.transform.non_negative() {
        v.max(0.0)
    } else {
        v
    }
}

fn build_forecast(
    series: &Series,
    ctx: &Context,
    path: &[f64],
    errs: &[Vec<f64>],
    quantiles: &[Quantile],
    window_errors: Option<&[f64]>,
) -> Result<Forecast, ForecastError> {
    let h = path.len();
    let sigma = step_scales(ctx, errs);
    let in_window = |i: usize| ctx.windows.covers(ctx.n + i);
    // Pool errors normalised by their step's scale.
    let mut u: Vec<f64> = errs
        .iter()
        .zip(&sigma)
        .flat_map(|(e, s)| e.iter().map(move |v| v / s))
        .filter(|v| v.is_finite())
        .collect();
    u.sort_by(f64::total_cmp);
    let sd_u = if u.len() >= 2 {
        let m = u.iter().sum::<f64>() / u.len() as f64;
        (u.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (u.len() - 1) as f64).sqrt()
    } else {
        1.0
    };
    let centre = quantile_of(&u, 0.5, sd_u);
    // The point forecast back-transformed (for log models the conditional
    // median, which is what WAPE rewards), not a smeared mean: smearing over a
    // dozen origins' errors moved the point by more than it gained.
    let mean: Vec<f64> = path.iter().map(|z| original(ctx, *z)).collect();
    let mut qmap = BTreeMap::new();
    for q in quantiles {
        let uq = quantile_of(&u, q.level(), sd_u) - centre;
        // Inside a holiday window: the empirical quantile of the window
        // errors when it is the wider one (same side of the median).
        let wq = window_errors.map(|w| {
            let sd = {
                let m = w.iter().sum::<f64>() / w.len() as f64;
                (w.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / w.len() as f64).sqrt()
            };
            quantile_of(w, q.level(), sd) - quantile_of(w, 0.5, sd)
        });
        let p: Vec<f64> = (0..h)
            .map(|i| {
                let mut off = sigma[i] * uq;
                if let Some(wq) = wq
                    && in_window(i)
                    && wq.abs() > off.abs()
                {
                    off = wq;
                }
                original(ctx, path[i] + off)
            })
            .collect();
        qmap.insert(*q, p);
    }
    Ok(Forecast::try_new(
        series.id(),
        series.time_at(series.len()),
        series.step_s(),
        mean,
        qmap,
    )?
    .with_time_format_of(series))
}

/// Error scale per step ahead: RMS of the errors within +-2 steps, never
/// below the scale of earlier steps (uncertainty does not shrink with lead
/// time), with a fallback to seasonal differences when nothing was
/// backtested.
fn step_scales(ctx: &Context, errs: &[Vec<f64>]) -> Vec<f64> {
    let h = errs.len();
    let fallback = {
        let p = ctx.season().max(1);
        let d: Vec<f64> = (p..ctx.n)
            .map(|i| ctx.filled[i] - ctx.filled[i - p])
            .filter(|v| v.is_finite())
            .collect();
        let ms = d.iter().map(|v| v * v).sum::<f64>() / d.len().max(1) as f64;
        if ms > 0.0 { ms.sqrt() } else { 1e-6 }
    };
    let mut out = Vec::with_capacity(h);
    let mut floor: f64 = 0.0;
    for i in 0..h {
        let lo = i.saturating_sub(2);
        let hi = (i + 3).min(h);
        let (mut ss, mut c) = (0.0, 0usize);
        for e in &errs[lo..hi] {
            for v in e {
                ss += v * v;
                c += 1;
            }
        }
        let s = if c >= 5 {
            (ss / c as f64).sqrt()
        } else {
            fallback
        };
        let s = if s > 0.0 { s } else { 1e-9 };
        let s = s.max(floor);
        floor = s;
        out.push(s);
    }
    out
}

/// Empirical quantile with linear interpolation; outside the sample's
/// resolution (or with fewer than 20 errors) a normal tail with the sample's
/// standard deviation.
fn quantile_of(sorted: &[f64], q: f64, sd: f64) -> f64 {
    let n = sorted.len();
    let centre = if n == 0 { 0.0 } else { sorted[n / 2] };
    let normal = || {
        Normal::new(centre, sd.max(1e-12))
            .map(|d| d.inverse_cdf(q))
            .unwrap_or(centre)
    };
    if n < 20 || q < 1.0 / n as f64 || q > 1.0 - 1.0 / n as f64 {
        return normal();
    }
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let t = pos - lo as f64;
    sorted[lo] + t * (sorted[hi] - sorted[lo])
}

/// Small extension so a forecast writes timestamps like its history.
trait WithTimeFormat {
    fn with_time_format_of(self, s: &Series) -> Self;
}

impl WithTimeFormat for Forecast {
    fn with_time_format_of(mut self, s: &Series) -> Self {
        self.time_format = s.time_format();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crest_core::Timestamp;
    use proptest::prelude::*;

    fn hourly(n: usize, seed: u64) -> Series {
        let mut x = seed;
        let values = (0..n)
            .map(|i| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let noise = ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
                let h = (i % 24) as f64;
                let dow = (i / 24) % 7;
                let wk = if dow >= 5 { 0.6 } else { 1.0 };
                1000.0 * wk * (1.0 + 0.5 * (h / 24.0 * std::f64::consts::TAU).sin()) * (1.0 + noise)
            })
            .collect();
        Series::try_new("a", Timestamp::from_secs(1_704_067_200), 3600, values).unwrap()
    }

    #[test]
    fn beats_naive_on_a_clean_seasonal_series_and_orders_quantiles() {
        let s = hourly(24 * 56, 7);
        let out = forecast(&s, &ForecastConfig::new(48)).unwrap();
        let f = &out.forecast;
        assert_eq!(f.horizon(), 48);
        assert_eq!(f.start, s.time_at(s.len()));
        let (p10, p50, p90) = (
            f.quantile(0.1).unwrap(),
            f.quantile(0.5).unwrap(),
            f.quantile(0.9).unwrap(),
        );
        for i in 0..48 {
            assert!(p10[i] <= p50[i] && p50[i] <= p90[i], "step {i}");
            assert!(p10[i] < p90[i]);
        }
        let naive = out.candidates[&ModelKind::SeasonalNaive];
        assert!(out.candidates[&out.model] <= naive);
    }

    #[test]
    fn survives_gaps_and_outliers() {
        let mut s = hourly(24 * 42, 3);
        for v in &mut s.values_mut()[100..160] {
            *v = f64::NAN;
        }
        s.values_mut()[500] = 1e7;
        s.values_mut()[501] = 0.0;
        let out = forecast(&s, &ForecastConfig::new(24)).unwrap();
        assert!(
            out.forecast
                .mean
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0 && *v < 5000.0)
        );
    }

    #[test]
    fn too_short_and_zero_horizon_are_errors() {
        let s = Series::try_new("x", Timestamp(0), 60, vec![1.0, f64::NAN]).unwrap();
        assert!(matches!(
            forecast(&s, &ForecastConfig::new(3)),
            Err(ForecastError::TooShort { .. })
        ));
        let s = hourly(100, 1);
        assert!(matches!(
            forecast(&s, &ForecastConfig::new(0)),
            Err(ForecastError::ZeroHorizon)
        ));
    }

    #[test]
    fn deterministic() {
        let s = hourly(24 * 30, 11);
        let cfg = ForecastConfig::new(36);
        let a = forecast(&s, &cfg).unwrap().forecast;
        let b = forecast(&s, &cfg).unwrap().forecast;
        assert_eq!(a, b);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_short_series_gives_finite_ordered_quantiles(
            values in proptest::collection::vec(prop_oneof![9 => 0.0f64..1e4, 1 => Just(f64::NAN)], 5..200),
            horizon in 1usize..30,
            step in prop_oneof![Just(60i64), Just(3600), Just(86_400), Just(7 * 86_400)],
        ) {
            let s = Series::try_new("p", Timestamp::from_secs(1_700_000_000), step, values).unwrap();
            match forecast(&s, &ForecastConfig::new(horizon)) {
                Ok(out) => {
                    let f = out.forecast;
                    prop_assert_eq!(f.horizon(), horizon);
                    let paths: Vec<&Vec<f64>> = f.quantiles.values().collect();
                    for i in 0..horizon {
                        prop_assert!(f.mean[i].is_finite());
                        for w in paths.windows(2) {
                            prop_assert!(w[0][i] <= w[1][i]);
                        }
                    }
                }
                Err(ForecastError::TooShort { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }
}
