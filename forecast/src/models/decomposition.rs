//! MSTL/ETS-style decomposition: a seasonal moving-average trend, a robust
//! (median) weekly seasonal profile on top of it, and simple exponential
//! smoothing of what is left as the level.
//!
//! Medians instead of means keep one bad week (a storm, an outage) from
//! bending the profile; the smoothing constant is chosen per series and
//! origin on one-step errors, as ETS does.

use super::{Forecaster, ModelKind};
use crate::context::{Context, median};

/// Seasonal decomposition + exponentially smoothed level.
#[derive(Debug, Clone, Copy)]
pub struct MstlEtsForecaster {
    /// Seasons (weeks) used for the seasonal profile.
    pub seasons: usize,
}

impl Default for MstlEtsForecaster {
    fn default() -> Self {
        MstlEtsForecaster { seasons: 6 }
    }
}

impl Forecaster for MstlEtsForecaster {
    fn kind(&self) -> ModelKind {
        ModelKind::MstlEts
    }

    fn paths(&self, ctx: &Context, origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
        origins
            .iter()
            .map(|&o| self.path(ctx, o, horizon))
            .collect()
    }
}

impl MstlEtsForecaster {
    fn path(&self, ctx: &Context, o: usize, horizon: usize) -> Vec<f64> {
        let p = ctx.season();
        let from = o.saturating_sub(p * (self.seasons + 2));
        let y = &ctx.filled[from..o];
        let m = y.len();
        if m == 0 {
            return vec![0.0; horizon];
        }
        // Trend: centred moving average over one whole season, so that both
        // the daily and the weekly pattern land in the seasonal profile (a
        // one-day window would leave the weekend dip in the level).
        let w = p.max(1);
        let mut prefix = vec![0.0; m + 1];
        for i in 0..m {
            prefix[i + 1] = prefix[i] + y[i];
        }
        let trend: Vec<f64> = (0..m)
            .map(|i| {
                let lo = i.saturating_sub(w / 2);
                let hi = (lo + w).min(m);
                let lo = hi.saturating_sub(w);
                (prefix[hi] - prefix[lo]) / (hi - lo) as f64
            })
            .collect();
        // Seasonal profile by absolute slot (index mod p), medians over recent seasons.
        let mut seasonal = vec![0.0; p];
        if p > 1 {
            let mut buf = Vec::with_capacity(self.seasons);
            for (s, slot) in seasonal.iter_mut().enumerate() {
                buf.clear();
                // Indices i in [0, m) with (from + i) % p == s, newest first.
                let mut i = m as isize
                    - 1
                    - (((from + m - 1) as isize - s as isize).rem_euclid(p as isize));
                while i >= 0 && buf.len() < self.seasons {
                    let iu = i as usize;
                    buf.push(y[iu] - trend[iu]);
                    i -= p as isize;
                }
                *slot = median(&mut buf);
                if !slot.is_finite() {
                    *slot = 0.0;
                }
            }
            let mean = seasonal.iter().sum::<f64>() / p as f64;
            seasonal.iter_mut().for_each(|v| *v -= mean);
        }
        let seas = |abs: usize| if p > 1 { seasonal[abs % p] } else { 0.0 };
        // Simple exponential smoothing of the deseasonalised series.
        let des: Vec<f64> = (0..m).map(|i| y[i] - seas(from + i)).collect();
        // Choose alpha on errors at the lead the forecast is used at (half the
        // horizon), not one step: one-step errors favour a jumpy level.
        let lead = (horizon / 2).clamp(1, p.max(1));
        let start = m.saturating_sub(p * 4);
        let mut best = (f64::INFINITY, des[m - 1]);
        let mut levels = vec![0.0; m];
        for alpha in [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8] {
            let mut level = des[start];
            let mut sse = 0.0;
            for t in start..m {
                if t >= start + lead {
                    let e = des[t] - levels[t - lead];
                    sse += e * e;
                }
                level += alpha * (des[t] - level);
                levels[t] = level;
            }
            if sse < best.0 {
                best = (sse, level);
            }
        }
        let level = best.1;
        (0..horizon).map(|h| level + seas(o + h)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crest_core::{Calendar, Series, Timestamp};

    #[test]
    fn reproduces_a_pure_weekly_pattern() {
        let values: Vec<f64> = (0..24 * 35)
            .map(|i| {
                100.0
                    + 50.0 * ((i % 24) as f64 / 3.0).sin()
                    + if (i / 24) % 7 >= 5 { -30.0 } else { 0.0 }
            })
            .collect();
        let s = Series::try_new(
            "a",
            Timestamp::from_secs(1_704_067_200),
            3600,
            values.clone(),
        )
        .unwrap();
        let ctx = Context::new(&s, &Calendar::new("none"), 48);
        let n = values.len();
        let o = n - 48;
        let p = &MstlEtsForecaster::default().paths(&ctx, &[o], 48)[0];
        for h in 0..48 {
            let got = ctx.transform.inv(p[h]);
            assert!(
                (got - values[o + h]).abs() < 0.02 * values[o + h],
                "h {h}: {got} vs {}",
                values[o + h]
            );
        }
    }
}
