//! Known future regressors (weather for an electric load, a promotion flag
//! for orders): values known over the history *and* the horizon, which the
//! calendar regression takes as extra columns.
//!
//! Each numeric column becomes three terms, standardised on the history:
//! `z`, `max(0, z - k1)` and `max(0, z - k2)` with knots `k1`, `k2` at the
//! history's terciles of `z` — a linear spline with two free bends. Why this
//! form: the textbook electricity-load use of temperature is heating and
//! cooling degree terms around a comfort point (a V or a hockey stick), but
//! the comfort point differs by region and by column (maximum, minimum or
//! mean temperature, humidity, rain), and a promotion flag is just a step.
//! A spline with knots at the terciles contains all of these (a V whose
//! bottom sits anywhere between the knots, a one-sided hinge, a straight
//! line) without choosing a comfort point per column, and its terms stay
//! bounded and ridge-penalised (unlike a squared term, which extrapolates a
//! hot day quadratically). Knots that coincide (a 0/1 flag) collapse to the
//! plain `z`.
//!
//! History steps with no value (the file starts later than the load) take
//! the column's history mean (`z = 0`): their rows still fit the calendar
//! terms, and they only weaken (never invent) a regressor's coefficient.
//! The horizon has no such fallback: the binary refuses a forecast whose
//! horizon the file does not cover (`crest_datasets::RegressorTable::require`).
//! Backtests take the file's values over each origin's horizon — the actual
//! weather, a perfect weather forecast, so an upper bound of what the
//! regressor is worth.

use crest_core::{Series, Timestamp};

/// Known regressors on a regular grid: `columns[c][i]` is column `c` at
/// `start + i * step_s` (`NaN` where unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct KnownRegressors {
    /// Column names (for reports).
    pub names: Vec<String>,
    /// Time of the first value.
    pub start: Timestamp,
    /// Grid step in seconds (the series' step).
    pub step_s: i64,
    /// One vector per column.
    pub columns: Vec<Vec<f64>>,
}

impl KnownRegressors {
    /// Columns `columns` on a grid from `start`, `step_s` apart.
    pub fn new(
        names: Vec<String>,
        start: Timestamp,
        step_s: i64,
        columns: Vec<Vec<f64>>,
    ) -> KnownRegressors {
        KnownRegressors {
            names,
            start,
            step_s,
            columns,
        }
    }

    /// Column `c` over `len` steps of `series`' grid from its start; `NaN`
    /// where the regressors do not reach (or the grids do not match).
    fn column_on(&self, c: usize, series: &Series, len: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; len];
        let step_ms = self.step_s * 1000;
        let rel = series.start().millis() - self.start.millis();
        if self.step_s != series.step_s() || step_ms <= 0 || rel % step_ms != 0 {
            return out;
        }
        let shift = rel / step_ms;
        let col = &self.columns[c];
        for (i, v) in out.iter_mut().enumerate() {
            let j = shift + i as i64;
            if let Some(x) = usize::try_from(j).ok().and_then(|j| col.get(j)) {
                *v = *x;
            }
        }
        out
    }
}

/// The regression's extra design columns for `series` (`n` history steps
/// plus `horizon`): three spline terms per usable column, each of length
/// `n + horizon`. A column with fewer than 3 known history values or no
/// spread is left out.
pub(crate) fn design_terms(
    known: &KnownRegressors,
    series: &Series,
    n: usize,
    horizon: usize,
) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for c in 0..known.columns.len() {
        let x = known.column_on(c, series, n + horizon);
        let hist: Vec<f64> = x[..n].iter().copied().filter(|v| v.is_finite()).collect();
        if hist.len() < 3 {
            continue;
        }
        let mean = hist.iter().sum::<f64>() / hist.len() as f64;
        let var = hist.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / hist.len() as f64;
        let sd = var.sqrt();
        if sd.is_nan() || sd <= 1e-12 {
            continue;
        }
        let mut z: Vec<f64> = hist.iter().map(|v| (v - mean) / sd).collect();
        z.sort_by(f64::total_cmp);
        let q = |p: f64| z[((z.len() - 1) as f64 * p).round() as usize];
        let (lo, hi) = (z[0], z[z.len() - 1]);
        let mut knots: Vec<f64> = Vec::new();
        for k in [q(1.0 / 3.0), q(2.0 / 3.0)] {
            if k > lo + 1e-9 && k < hi - 1e-9 && knots.last().is_none_or(|l| k > l + 1e-9) {
                knots.push(k);
            }
        }
        let zs: Vec<f64> = x
            .iter()
            .map(|v| if v.is_finite() { (v - mean) / sd } else { 0.0 })
            .collect();
        for k in &knots {
            out.push(zs.iter().map(|z| (z - k).max(0.0)).collect());
        }
        out.push(zs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_gives_one_term_and_a_temperature_three() {
        let s = Series::try_new("", Timestamp::from_secs(0), 3600, vec![1.0; 10]).unwrap();
        let flag: Vec<f64> = (0..12).map(|i| f64::from(i % 2 == 0)).collect();
        let temp: Vec<f64> = (0..12).map(f64::from).collect();
        let k = KnownRegressors::new(
            vec!["flag".into(), "temp".into()],
            Timestamp::from_secs(0),
            3600,
            vec![flag, temp],
        );
        let t = design_terms(&k, &s, 10, 2);
        assert_eq!(t.len(), 1 + 3);
        assert!(
            t.iter()
                .all(|c| c.len() == 12 && c.iter().all(|v| v.is_finite()))
        );
    }
}

#[cfg(test)]
mod recovery {
    use super::*;
    use crate::{ForecastConfig, ModelChoice, ModelKind, forecast};

    /// Ten weeks of hourly load driven by a daily "temperature" (a cooling
    /// hinge above 22 and a heating one below 12, as an electric load) with a
    /// daily shape and a little noise; seeded.
    fn driven() -> (Series, KnownRegressors) {
        let days = 70;
        let mut x: u64 = 7;
        let mut rnd = || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        let temp: Vec<f64> = (0..days).map(|_| 5.0 + 30.0 * rnd()).collect();
        let mut y = Vec::with_capacity(days * 24);
        let mut t = Vec::with_capacity(days * 24);
        for (d, c) in temp.iter().enumerate() {
            let level = 100.0 + 8.0 * (c - 22.0).max(0.0) + 5.0 * (12.0 - c).max(0.0);
            for h in 0..24 {
                let shape = 1.0 + 0.3 * (std::f64::consts::TAU * h as f64 / 24.0).sin();
                y.push(level * shape * (1.0 + 0.01 * (rnd() - 0.5)));
                t.push(*c);
                let _ = d;
            }
        }
        let s = Series::try_new("", Timestamp::from_secs(1_704_067_200), 3600, y).unwrap();
        let k = KnownRegressors::new(vec!["temp".into()], s.start(), 3600, vec![t]);
        (s, k)
    }

    /// Day-ahead WAPE of the regression at the last `k` midnights.
    fn wape(s: &Series, cfg: &ForecastConfig, k: usize) -> f64 {
        let (mut e, mut a) = (0.0, 0.0);
        for j in 1..=k {
            let o = s.len() - 24 * j;
            let out = forecast(&s.slice(0, o), cfg).unwrap();
            for (h, m) in out.forecast.mean.iter().enumerate() {
                e += (s.values()[o + h] - m).abs();
                a += s.values()[o + h].abs();
            }
        }
        e / a
    }

    #[test]
    fn a_series_driven_by_a_known_regressor_is_recovered() {
        let (s, k) = driven();
        let plain = ForecastConfig::new(24).with_model(ModelChoice::Fixed(ModelKind::Regression));
        let with = plain.clone().with_known_regressors(k);
        let (w0, w1) = (wape(&s, &plain, 10), wape(&s, &with, 10));
        eprintln!("regression day-ahead WAPE without {w0:.4}, with the regressor {w1:.4}");
        assert!(w0 > 0.08, "the weather must matter here: {w0}");
        assert!(w1 < 0.5 * w0, "regressor not used: {w1} vs {w0}");
        // Auto sees it too (the regression wins the choice with it).
        let auto = ForecastConfig::new(24).with_known_regressors(driven().1);
        let out = forecast(&s.slice(0, s.len() - 24), &auto).unwrap();
        assert_eq!(out.model, ModelKind::Regression, "{:?}", out.candidates);
    }
}
