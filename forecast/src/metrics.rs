//! Accuracy metrics, accumulated point by point so that backtests over many
//! origins (and exclusions such as anomaly windows) need no buffers.

use std::collections::BTreeMap;

use crest_core::series::Quantile;
use serde::Serialize;

/// Running sums for MAPE, WAPE, sMAPE, MASE, pinball loss and coverage.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    n: usize,
    abs_err: f64,
    abs_actual: f64,
    ape_sum: f64,
    ape_n: usize,
    smape_sum: f64,
    scaled_sum: f64,
    scaled_n: usize,
    pinball: BTreeMap<Quantile, f64>,
    below: BTreeMap<Quantile, usize>,
    inside: usize,
    interval_n: usize,
}

impl Accumulator {
    /// Add one forecast point: actual `y`, point forecast `yhat`, the
    /// quantile values at this point, and the MASE scale of its origin
    /// (in-sample mean absolute seasonal difference; `NaN` skips MASE).
    pub fn add(&mut self, y: f64, yhat: f64, quantiles: &[(Quantile, f64)], scale: f64) {
        if !(y.is_finite() && yhat.is_finite()) {
            return;
        }
        let e = (y - yhat).abs();
        self.n += 1;
        self.abs_err += e;
        self.abs_actual += y.abs();
        if y != 0.0 {
            self.ape_sum += e / y.abs();
            self.ape_n += 1;
        }
        let denom = y.abs() + yhat.abs();
        if denom > 0.0 {
            self.smape_sum += 2.0 * e / denom;
        }
        if scale.is_finite() && scale > 0.0 {
            self.scaled_sum += e / scale;
            self.scaled_n += 1;
        }
        for &(q, v) in quantiles {
            let tau = q.level();
            let loss = if y >= v {
                tau * (y - v)
            } else {
                (1.0 - tau) * (v - y)
            };
            *self.pinball.entry(q).or_insert(0.0) += loss;
            *self.below.entry(q).or_insert(0) += usize::from(y <= v);
        }
        if let (Some(lo), Some(hi)) = (quantiles.first(), quantiles.last())
            && quantiles.len() >= 2
        {
            self.interval_n += 1;
            self.inside += usize::from(y >= lo.1 && y <= hi.1);
        }
    }

    /// Merge another accumulator into this one.
    pub fn merge(&mut self, o: &Accumulator) {
        self.n += o.n;
        self.abs_err += o.abs_err;
        self.abs_actual += o.abs_actual;
        self.ape_sum += o.ape_sum;
        self.ape_n += o.ape_n;
        self.smape_sum += o.smape_sum;
        self.scaled_sum += o.scaled_sum;
        self.scaled_n += o.scaled_n;
        for (q, v) in &o.pinball {
            *self.pinball.entry(*q).or_insert(0.0) += v;
        }
        for (q, v) in &o.below {
            *self.below.entry(*q).or_insert(0) += v;
        }
        self.inside += o.inside;
        self.interval_n += o.interval_n;
    }

    /// The metrics so far.
    pub fn metrics(&self) -> Metrics {
        let div = |a: f64, b: usize| if b > 0 { a / b as f64 } else { f64::NAN };
        let scale = if self.n > 0 {
            self.abs_actual / self.n as f64
        } else {
            f64::NAN
        };
        Metrics {
            points: self.n,
            mape: div(self.ape_sum, self.ape_n),
            wape: if self.abs_actual > 0.0 {
                self.abs_err / self.abs_actual
            } else {
                f64::NAN
            },
            smape: div(self.smape_sum, self.n),
            mase: div(self.scaled_sum, self.scaled_n),
            pinball: self
                .pinball
                .iter()
                .map(|(q, v)| (q.column_name(), div(*v, self.n)))
                .collect(),
            scaled_pinball: if self.pinball.is_empty() {
                f64::NAN
            } else {
                self.pinball.values().map(|v| div(*v, self.n)).sum::<f64>()
                    / self.pinball.len() as f64
                    / scale
            },
            coverage: self
                .below
                .iter()
                .map(|(q, v)| (q.column_name(), div(*v as f64, self.n)))
                .collect(),
            interval_coverage: div(self.inside as f64, self.interval_n),
        }
    }
}

/// Accuracy of a set of forecasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Points scored.
    pub points: usize,
    /// Mean absolute percentage error (points with a zero actual skipped).
    pub mape: f64,
    /// Weighted absolute percentage error: sum |e| / sum |y|.
    pub wape: f64,
    /// Symmetric MAPE (0..2).
    pub smape: f64,
    /// Mean absolute scaled error (scale: in-sample seasonal-naive MAE at the origin).
    pub mase: f64,
    /// Mean pinball loss per quantile column.
    pub pinball: BTreeMap<String, f64>,
    /// Mean pinball loss over the quantiles, divided by the mean |actual|.
    pub scaled_pinball: f64,
    /// Share of actuals at or below each quantile (p90 should be near 0.9).
    pub coverage: BTreeMap<String, f64>,
    /// Share of actuals between the lowest and the highest quantile.
    pub interval_coverage: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_forecast_scores_zero() {
        let mut a = Accumulator::default();
        let q = Quantile::try_new(0.9).unwrap();
        for y in [1.0, 2.0, 3.0] {
            a.add(y, y, &[(q, y + 1.0)], 1.0);
        }
        let m = a.metrics();
        assert_eq!(m.wape, 0.0);
        assert_eq!(m.mase, 0.0);
        assert_eq!(m.coverage["p90"], 1.0);
    }

    #[test]
    fn wape_weights_by_volume() {
        let mut a = Accumulator::default();
        a.add(100.0, 90.0, &[], f64::NAN);
        a.add(1.0, 2.0, &[], f64::NAN);
        let m = a.metrics();
        assert!((m.wape - 11.0 / 101.0).abs() < 1e-12);
        assert!((m.mape - (0.1 + 1.0) / 2.0).abs() < 1e-12);
    }
}
