//! Calendar regression: ridge least squares on
//!
//! - a daily shape per *day type* (Monday..Sunday; holidays take Sunday's
//!   shape, make-up workdays a Wednesday's) as a level plus Fourier terms,
//! - calendar effects (holiday, eve, day after, user event, make-up workday),
//! - a linear trend, and for daily data yearly Fourier terms,
//! - known future regressors when given (`crate::regressors`: three spline
//!   terms per column, ridge-penalised in days of evidence),
//!
//! fitted with exponentially decaying weights so that the recent weeks count
//! most, then corrected by what the last residuals say (a direct
//! autoregression per horizon step on the last residual, the last day's
//! mean residual and the residual at the same time the day before). That correction carries "today runs 8 % hot" into
//! tomorrow, which is most of the day-ahead gain over a pure seasonal model.
//!
//! Two solvers, one problem (see [`crate::linalg`]): all backtest and
//! calibration origins share one pass over the data (the weighted Gram matrix
//! is accumulated in time order and solved by Cholesky at each origin), while
//! the final fit, at the end of the history, which produces the forecast the
//! user gets, is done by `linfa-linear` on the weighted, ridge-augmented
//! design. A test pins the two to the same coefficients on NYC taxi.

use std::f64::consts::TAU;

use super::{Forecaster, ModelKind};
use crate::context::Context;
use crate::linalg::{Gram, Observation, cholesky_solve, linfa_ridge};

/// Most observations one fit takes: 120 days of half-hours. Finer data fit
/// over fewer days (60 days of quarter-hours): the fit costs `2 n p^2`, and
/// with weights halving every five weeks the older rows add little.
pub const MAX_FIT_ROWS: usize = 120 * 48;

/// Ridge regression on day-type Fourier shapes and calendar effects.
#[derive(Debug, Clone, Copy)]
pub struct CalendarRegressionForecaster {
    /// Half-life of the observation weights, in days.
    pub half_life_days: f64,
    /// Days of history before the first origin that take part in the fit.
    pub window_days: usize,
    /// Largest number of daily Fourier harmonics.
    pub max_harmonics: usize,
    /// Ridge penalty (in units of one full-weight observation).
    pub ridge: f64,
    /// Ridge penalty on the known-regressor columns, in *days* of
    /// full-weight observations: a daily weather value repeats on every step
    /// of its day, so its evidence is counted in days, not steps.
    pub regressor_ridge_days: f64,
}

impl Default for CalendarRegressionForecaster {
    fn default() -> Self {
        // Tuned on NYC taxi day-ahead backtests: full daily harmonics (the
        // morning rush is sharp), a five-week half-life.
        CalendarRegressionForecaster {
            half_life_days: 35.0,
            window_days: 120,
            max_harmonics: 24,
            ridge: 1.0,
            regressor_ridge_days: REGRESSOR_RIDGE_DAYS,
        }
    }
}

/// Default [`CalendarRegressionForecaster::regressor_ridge_days`], chosen on
/// Area1 summer 2012 day-ahead backtests with its daily weather (0.1, 1 and
/// 10 days gave auto 2.29, 2.22 and 2.24 % WAPE); summer 2013 held out.
pub const REGRESSOR_RIDGE_DAYS: f64 = 1.0;

#[derive(Debug, Clone)]
enum Layout {
    /// Several steps per day: per-day-type levels and Fourier shapes.
    SubDaily {
        pd: usize,
        k: usize,
        trig: Vec<(f64, f64)>,
        /// Day types with their own level and shape: 7, or 1 when the
        /// history shows no weekly cycle (`Context::weekly`); holidays and
        /// make-up days then differ through their calendar effects alone.
        types: usize,
    },
    /// Daily data: day-type levels and yearly Fourier terms.
    Daily { ky: usize },
    /// Anything else: level and trend.
    Plain,
}

struct Design {
    layout: Layout,
    p: usize,
    /// Steps per "week" used to scale the trend.
    trend_scale: f64,
    n: usize,
    /// First known-regressor column; they run to `p`.
    r0: usize,
}

const CAL: usize = 5;

impl Design {
    fn new(ctx: &Context, max_k: usize) -> Design {
        let mut d = Design::calendar(ctx, max_k);
        d.r0 = d.p;
        d.p += ctx.reg.len();
        d
    }

    fn calendar(ctx: &Context, max_k: usize) -> Design {
        let n = ctx.n;
        match ctx.per_day {
            Some(pd) if pd >= 2 => {
                let k = (pd / 2).saturating_sub(1).clamp(1, max_k);
                let mut trig = Vec::with_capacity(pd * k);
                for slot in 0..pd {
                    for j in 1..=k {
                        let a = TAU * (j * slot) as f64 / pd as f64;
                        trig.push((a.cos(), a.sin()));
                    }
                }
                let types = if ctx.weekly { 7 } else { 1 };
                Design {
                    p: types * (1 + 2 * k) + 1 + CAL,
                    layout: Layout::SubDaily { pd, k, trig, types },
                    trend_scale: (7 * pd) as f64,
                    n,
                    r0: 0,
                }
            }
            Some(1) => {
                let ky = if n >= 2 * 365 {
                    4
                } else if n >= 365 {
                    2
                } else {
                    0
                };
                Design {
                    p: 7 + 1 + 2 * ky + CAL,
                    layout: Layout::Daily { ky },
                    trend_scale: 365.0,
                    n,
                    r0: 0,
                }
            }
            _ => Design {
                p: 2,
                layout: Layout::Plain,
                trend_scale: n.max(1) as f64,
                n,
                r0: 0,
            },
        }
    }

    /// Columns left out of the ridge penalty: the levels.
    fn unpenalized(&self) -> Vec<usize> {
        match &self.layout {
            Layout::SubDaily { k, types, .. } => (0..*types).map(|d| d * (1 + 2 * k)).collect(),
            Layout::Daily { .. } => (0..7).collect(),
            Layout::Plain => vec![0],
        }
    }

    /// Steps per day for window and half-life arithmetic.
    fn per_day(&self) -> f64 {
        match self.layout {
            Layout::SubDaily { pd, .. } => pd as f64,
            Layout::Daily { .. } => 1.0,
            Layout::Plain => 1.0,
        }
    }

    /// The non-zero entries of row `i`.
    fn row(&self, ctx: &Context, i: usize, idx: &mut Vec<usize>, val: &mut Vec<f64>) {
        idx.clear();
        val.clear();
        let info = ctx.info[i];
        let trend = (i as f64 - self.n as f64) / self.trend_scale;
        let cal = |base: usize, idx: &mut Vec<usize>, val: &mut Vec<f64>| {
            let f = info.feats;
            for (j, on) in [f.holiday, f.eve, f.day_after, f.event, f.makeup_workday]
                .into_iter()
                .enumerate()
            {
                if on {
                    idx.push(base + j);
                    val.push(1.0);
                }
            }
        };
        match &self.layout {
            Layout::SubDaily { pd, k, trig, types } => {
                let b = info.day_type.min(types - 1) * (1 + 2 * k);
                idx.push(b);
                val.push(1.0);
                let slot = info.slot.min(pd - 1);
                for j in 0..*k {
                    let (c, s) = trig[slot * k + j];
                    idx.push(b + 1 + 2 * j);
                    val.push(c);
                    idx.push(b + 2 + 2 * j);
                    val.push(s);
                }
                // No trend column for intraday data: over a day-ahead horizon
                // the residual correction tracks the level better, and a
                // fitted slope extrapolated past a holiday season overshoots.
                let t = types * (1 + 2 * k);
                let _ = trend;
                cal(t + 1, idx, val);
            }
            Layout::Daily { ky } => {
                idx.push(info.day_type);
                val.push(1.0);
                idx.push(7);
                val.push(trend);
                for j in 0..*ky {
                    let a = TAU * (j + 1) as f64 * info.year_phase;
                    idx.push(8 + 2 * j);
                    val.push(a.cos());
                    idx.push(9 + 2 * j);
                    val.push(a.sin());
                }
                cal(8 + 2 * ky, idx, val);
            }
            Layout::Plain => {
                idx.push(0);
                val.push(1.0);
                idx.push(1);
                val.push(trend);
            }
        }
        // Known regressors (crate::regressors): a level shift of the step's
        // day in log space, i.e. a multiplicative effect. Letting them also
        // move the daily shape (products with the first harmonic) was tried
        // on Area1 summer 2012 and did not help (2.25 % against 2.22 %).
        for (j, col) in ctx.reg.iter().enumerate() {
            idx.push(self.r0 + j);
            val.push(col[i]);
        }
    }

    fn predict(
        &self,
        ctx: &Context,
        i: usize,
        beta: &[f64],
        idx: &mut Vec<usize>,
        val: &mut Vec<f64>,
    ) -> f64 {
        self.row(ctx, i, idx, val);
        idx.iter().zip(val.iter()).map(|(j, v)| beta[*j] * v).sum()
    }
}

impl Forecaster for CalendarRegressionForecaster {
    fn kind(&self) -> ModelKind {
        ModelKind::Regression
    }

    fn paths(&self, ctx: &Context, origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
        let Some(&first) = origins.first() else {
            return Vec::new();
        };
        let d = Design::new(ctx, self.max_harmonics);
        let pd = d.per_day();
        let window = self.window_steps(pd);
        let acc_start = first.saturating_sub(window);
        let a = std::f64::consts::LN_2 / (self.half_life_days * pd).max(1.0);
        let mut gram = Gram::new(d.p);
        let mut dense = vec![0.0; d.p];
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        let mut out = Vec::with_capacity(origins.len());
        let mut t = acc_start;
        let mut ridge = vec![self.ridge; d.p];
        let free = d.unpenalized();
        let fit = FitRows::new(ctx, acc_start, first, pd);
        for &o in origins {
            while t < o {
                let y = ctx.y[t];
                if fit.takes(ctx, t) {
                    // Weights grow with time instead of decaying the matrix:
                    // the same fit, at the cost of rescaling the ridge below.
                    let w = (a * (t - acc_start) as f64).exp();
                    d.row(ctx, t, &mut idx, &mut val);
                    for (j, v) in idx.iter().zip(&val) {
                        dense[*j] = *v;
                    }
                    gram.add_sparse(&idx, &dense, y, w);
                    for j in &idx {
                        dense[*j] = 0.0;
                    }
                }
                t += 1;
            }
            let scale = (a * (o.saturating_sub(1).max(acc_start) - acc_start) as f64).exp();
            ridge.iter_mut().for_each(|r| *r = self.ridge * scale);
            for j in &free {
                ridge[*j] = 0.0;
            }
            for r in &mut ridge[d.r0..] {
                *r = self.regressor_ridge_days * pd * scale;
            }
            // The final origin (the user's forecast) is fitted by linfa
            // unless the caller asked for the Gram path (FinalFit); if
            // linfa finds the design rank-deficient, the Gram path (which
            // raises the ridge until it can solve) takes over.
            let linfa_beta = if o == ctx.n && ctx.final_fit == crate::pipeline::FinalFit::Linfa {
                linfa_fit(ctx, &d, &fit, acc_start, o, a, &ridge)
            } else {
                None
            };
            let beta = linfa_beta
                .or_else(|| gram.solve(&ridge))
                .unwrap_or_else(|| vec![0.0; d.p]);
            let corr = self.residual_correction(ctx, &d, &fit, &beta, o, horizon);
            let path = (0..horizon)
                .map(|h| d.predict(ctx, o + h, &beta, &mut idx, &mut val) + corr[h])
                .collect();
            out.push(path);
        }
        out
    }
}

/// Which steps of the history the regression learns from: the observed
/// ones outside the named holidays' effect windows. Inside a window every
/// model gives way to the holiday analog (`crate::holiday`), so window days
/// would only teach the ordinary day's shape what a holiday week looks like
/// (on NYC taxi the Thanksgiving-to-New-Year weeks, whose missing morning
/// rush pulled every later weekday's rush down). The calendar effects keep
/// what days outside every window show (make-up workdays). A history with
/// fewer than two weeks of ordinary days before its first origin keeps its
/// window days: an ill-fitted shape would be worse than a contaminated one.
struct FitRows {
    /// The first step of the fit.
    start: usize,
    skip_windows: bool,
}

/// Ordinary days a history needs before the fit leaves window days out.
const MIN_ORDINARY_DAYS: f64 = 14.0;

impl FitRows {
    fn new(ctx: &Context, acc_start: usize, first: usize, per_day: f64) -> FitRows {
        let ordinary = (acc_start..first.min(ctx.n))
            .filter(|&t| ctx.y[t].is_finite() && !ctx.windows.covers(t))
            .count();
        FitRows {
            start: acc_start,
            skip_windows: ordinary as f64 >= MIN_ORDINARY_DAYS * per_day,
        }
    }

    /// Whether step `t` is a row of the fit.
    fn takes(&self, ctx: &Context, t: usize) -> bool {
        ctx.y[t].is_finite() && !(self.skip_windows && ctx.windows.covers(t))
    }
}

/// The weighted ridge fit on steps `acc_start..o` by linfa, with the same
/// weights `exp(a (t - acc_start))` and penalties as the accumulated Gram path.
fn linfa_fit(
    ctx: &Context,
    d: &Design,
    fit: &FitRows,
    acc_start: usize,
    o: usize,
    a: f64,
    ridge: &[f64],
) -> Option<Vec<f64>> {
    let (mut idx, mut val) = (Vec::new(), Vec::new());
    let obs: Vec<Observation> = (acc_start..o)
        .filter(|t| fit.takes(ctx, *t))
        .map(|t| {
            d.row(ctx, t, &mut idx, &mut val);
            Observation {
                entries: idx.iter().copied().zip(val.iter().copied()).collect(),
                y: ctx.y[t],
                w: (a * (t - acc_start) as f64).exp(),
            }
        })
        .collect();
    linfa_ridge(d.p, &obs, ridge)
}

impl CalendarRegressionForecaster {
    /// Steps of history in the fit: `window_days`, but never more than
    /// [`MAX_FIT_ROWS`] observations.
    fn window_steps(&self, pd: f64) -> usize {
        ((self.window_days as f64 * pd) as usize).min(MAX_FIT_ROWS.max(self.window_days))
    }

    /// Direct autoregression of future residuals on the last residual, the
    /// mean residual of the last day and the same-time-yesterday residual,
    /// one set of coefficients per step ahead. The coefficients are learned
    /// on ordinary steps (outside holiday windows, as the fit), but the
    /// last residuals they apply to are whatever the last days were: how
    /// far a holiday week ran from an ordinary one still says something
    /// about tomorrow (on NYC taxi day-ahead, auto WAPE: 5.85 % learning
    /// from every step, 6.01 % dropping window residuals altogether, 5.63 %
    /// this way).
    fn residual_correction(
        &self,
        ctx: &Context,
        d: &Design,
        fit: &FitRows,
        beta: &[f64],
        o: usize,
        horizon: usize,
    ) -> Vec<f64> {
        let pd = d.per_day().max(1.0) as usize;
        let span = match d.layout {
            Layout::SubDaily { .. } => 28 * pd,
            Layout::Daily { .. } => 120,
            Layout::Plain => 200,
        };
        let from = o.saturating_sub(span).max(fit.start);
        if o <= from + 2 {
            return vec![0.0; horizon];
        }
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        let r: Vec<f64> = (from..o)
            .map(|i| {
                let y = ctx.y[i];
                if y.is_finite() {
                    y - d.predict(ctx, i, beta, &mut idx, &mut val)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let m = r.len();
        // The autoregression learns from ordinary steps only (a holiday
        // week's residuals against the ordinary-day fit run at -60 % for
        // days and, nearly collinear, made corrections of e^-10 at a week
        // ahead); it still starts from the last residuals, window or not.
        let ordinary: Vec<bool> = (from..o).map(|i| fit.takes(ctx, i)).collect();
        // Nor does a correction go beyond the largest residual it saw.
        let largest = r
            .iter()
            .filter(|v| v.is_finite())
            .fold(0.0f64, |a, v| a.max(v.abs()));
        let win = match d.layout {
            Layout::SubDaily { pd, .. } => pd,
            Layout::Daily { .. } => 7,
            Layout::Plain => 5,
        };
        // z1: last residual; z2: mean residual over the last `win` steps.
        let mut z1 = vec![f64::NAN; m];
        let mut z2 = vec![f64::NAN; m];
        let (mut sum, mut cnt) = (0.0, 0usize);
        for i in 0..m {
            if r[i].is_finite() {
                sum += r[i];
                cnt += 1;
            }
            if i >= win && r[i - win].is_finite() {
                sum -= r[i - win];
                cnt -= 1;
            }
            z1[i] = r[i];
            if cnt > 0 && i + 1 >= win {
                z2[i] = sum / cnt as f64;
            }
        }
        let last1 = z1[m - 1];
        let last2 = z2[m - 1];
        if !last1.is_finite() && !last2.is_finite() {
            return vec![0.0; horizon];
        }
        let (l1, l2) = (
            if last1.is_finite() { last1 } else { 0.0 },
            if last2.is_finite() { last2 } else { 0.0 },
        );
        (0..horizon)
            .map(|h| {
                // z3: the residual one day (or whole days) before the target
                // step, still inside the history: "same time yesterday".
                let lag = win * (h + 1).div_ceil(win);
                let z3 = |i: usize| (i + h + 1).checked_sub(lag).map_or(f64::NAN, |j| r[j]);
                let mut g = [0.0f64; 9];
                let mut t = [0.0f64; 3];
                for i in 0..m.saturating_sub(h + 1) {
                    let target = r[i + h + 1];
                    let z = [z1[i], z2[i], z3(i)];
                    if !(target.is_finite() && z.iter().all(|v| v.is_finite())) {
                        continue;
                    }
                    let (target_at, z3_at) = (i + h + 1, i + h + 1 - lag);
                    // z2's day spans at most two dates: both ends decide.
                    let z2_from = (i + 1).saturating_sub(win);
                    if !(ordinary[i] && ordinary[target_at] && ordinary[z3_at] && ordinary[z2_from])
                    {
                        continue;
                    }
                    for a in 0..3 {
                        t[a] += z[a] * target;
                        for b in 0..3 {
                            g[a * 3 + b] += z[a] * z[b];
                        }
                    }
                }
                let ridge = 1e-3 * (g[0] + g[4] + g[8]) + 1e-12;
                for a in 0..3 {
                    g[a * 3 + a] += ridge;
                }
                let l3 = {
                    let v = z3(m - 1);
                    if v.is_finite() { v } else { 0.0 }
                };
                match cholesky_solve(&mut g, &t, 3) {
                    Some(b) => (b[0] * l1 + b[1] * l2 + b[2] * l3).clamp(-largest, largest),
                    None => 0.0,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Gram;
    use crest_core::{Calendar, DayKind, Series, Timestamp};

    /// Hourly data from 2020-01-01 with a holiday "Fest" on day `fest`.
    fn with_fest(days: usize, fest: u64) -> (Context, usize) {
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
        let mut cal = Calendar::new("t");
        cal.insert(
            start + chrono::Days::new(fest),
            DayKind::Holiday {
                name: "Fest".into(),
            },
        );
        let s = Series::try_new(
            "s",
            Timestamp::from_secs(1_577_836_800),
            3600,
            (0..days * 24).map(|i| 100.0 + (i % 24) as f64).collect(),
        )
        .unwrap();
        let ctx = Context::new(&s, &cal, 24);
        (ctx, fest as usize * 24 + 12)
    }

    #[test]
    fn the_fit_leaves_holiday_windows_out_once_it_has_two_ordinary_weeks() {
        let (ctx, noon_of_fest) = with_fest(40, 30);
        assert!(ctx.windows.covers(noon_of_fest));
        let fit = FitRows::new(&ctx, 0, ctx.n, 24.0);
        assert!(!fit.takes(&ctx, noon_of_fest));
        assert!(fit.takes(&ctx, 10 * 24));
        // Ten days of data: too few ordinary days, the window stays in.
        let (short, noon) = with_fest(10, 6);
        assert!(short.windows.covers(noon));
        assert!(FitRows::new(&short, 0, short.n, 24.0).takes(&short, noon));
    }

    /// The linfa fit (the user's forecast) and the accumulated Cholesky fit
    /// (backtests, calibration) must agree on real data, coefficient by
    /// coefficient and in the forecast they produce.
    #[test]
    fn linfa_and_gram_fits_agree_on_nyc_taxi() {
        let series = crest_datasets::bundled("nyc_taxi")
            .unwrap()
            .series
            .remove(0);
        let cal = crest_datasets::calendar::resolve_calendar("us").unwrap();
        let ctx = Context::new(&series, &cal, 48);
        let m = CalendarRegressionForecaster::default();
        let d = Design::new(&ctx, m.max_harmonics);
        assert!(matches!(d.layout, Layout::SubDaily { .. }));
        let pd = d.per_day();
        let o = ctx.n;
        let acc_start = o.saturating_sub(m.window_steps(pd));
        let a = std::f64::consts::LN_2 / (m.half_life_days * pd).max(1.0);
        let scale = (a * (o - 1 - acc_start) as f64).exp();
        let mut ridge = vec![m.ridge * scale; d.p];
        for j in d.unpenalized() {
            ridge[j] = 0.0;
        }
        let fit = FitRows::new(&ctx, acc_start, o, pd);
        assert!(fit.skip_windows, "NYC taxi has months of ordinary days");
        let mut gram = Gram::new(d.p);
        let mut dense = vec![0.0; d.p];
        let (mut idx, mut val) = (Vec::new(), Vec::new());
        for t in acc_start..o {
            if fit.takes(&ctx, t) {
                d.row(&ctx, t, &mut idx, &mut val);
                for (j, v) in idx.iter().zip(&val) {
                    dense[*j] = *v;
                }
                gram.add_sparse(&idx, &dense, ctx.y[t], (a * (t - acc_start) as f64).exp());
                for j in &idx {
                    dense[*j] = 0.0;
                }
            }
        }
        let fast = gram.solve(&ridge).unwrap();
        let lin = linfa_fit(&ctx, &d, &fit, acc_start, o, a, &ridge).expect("linfa fit");
        let worst = fast
            .iter()
            .zip(&lin)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max);
        eprintln!("p = {}, max |coef diff| = {worst:.2e}", d.p);
        assert!(worst < 1e-7, "coefficients drift: {worst:e}");
        let worst_pred = (0..48)
            .map(|h| {
                let u = d.predict(&ctx, o + h, &fast, &mut idx, &mut val);
                let v = d.predict(&ctx, o + h, &lin, &mut idx, &mut val);
                (u - v).abs()
            })
            .fold(0.0, f64::max);
        eprintln!("max |forecast diff| (log space) = {worst_pred:.2e}");
        assert!(worst_pred < 1e-8, "forecasts drift: {worst_pred:e}");
        // And `paths` at the final origin really goes through linfa: its
        // path equals the one built from the linfa coefficients.
        let path = &m.paths(&ctx, &[o], 48)[0];
        let corr = m.residual_correction(&ctx, &d, &fit, &lin, o, 48);
        for h in 0..48 {
            let want = d.predict(&ctx, o + h, &lin, &mut idx, &mut val) + corr[h];
            assert!((path[h] - want).abs() < 1e-12);
        }
    }
}
