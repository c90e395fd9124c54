//! MSTL/ETS-style decomposition: a seasonal moving-average trend, a robust
//! (median) weekly seasonal profile on top of it (a daily one when the
//! history shows no weekly cycle, `Context::cycle`), and exponential
//! smoothing with a damped trend of what is left as the level.
//!
//! Medians instead of means keep one bad week (a storm, an outage) from
//! bending the profile; the smoothing constant is chosen per series and
//! origin on one-step errors, as ETS does.

use super::{Forecaster, ModelKind};
use crate::context::{Context, median};

/// Damping of the trend per step.
const PHI: f64 = 0.98;

/// Days of medians in a daily profile (series without a weekly cycle).
const DAILY_PROFILE_DAYS: usize = 14;

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
        // The profile's cycle: the season, or a day when the history shows
        // no weekly cycle; then the profile takes the medians of the last
        // two weeks' days (a day is too short a cycle for six of them).
        let q = ctx.cycle();
        let seasons = if q < p {
            DAILY_PROFILE_DAYS
        } else {
            self.seasons
        };
        let from = o.saturating_sub(p * (self.seasons + 2));
        let y = &ctx.filled[from..o];
        let m = y.len();
        if m == 0 {
            return vec![0.0; horizon];
        }
        // Trend: centred moving average over one whole cycle, so that both
        // the daily and the weekly pattern land in the seasonal profile (a
        // one-day window would leave the weekend dip in the level); without
        // a weekly cycle, a day.
        let w = q.max(1);
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
        // Profile by absolute slot (index mod q), medians over recent cycles.
        let mut seasonal = vec![0.0; q];
        if q > 1 {
            let mut buf = Vec::with_capacity(seasons);
            for (s, slot) in seasonal.iter_mut().enumerate() {
                buf.clear();
                // Indices i in [0, m) with (from + i) % q == s, newest first.
                let mut i = m as isize
                    - 1
                    - (((from + m - 1) as isize - s as isize).rem_euclid(q as isize));
                while i >= 0 && buf.len() < seasons {
                    let iu = i as usize;
                    buf.push(y[iu] - trend[iu]);
                    i -= q as isize;
                }
                *slot = median(&mut buf);
                if !slot.is_finite() {
                    *slot = 0.0;
                }
            }
            let mean = seasonal.iter().sum::<f64>() / q as f64;
            seasonal.iter_mut().for_each(|v| *v -= mean);
        }
        let seas = |abs: usize| if q > 1 { seasonal[abs % q] } else { 0.0 };
        // Exponential smoothing of the deseasonalised series with a damped
        // trend (Holt-Gardner): the trend weight 0 is plain simple smoothing,
        // so a series without a trend keeps a flat level, while a series that
        // has been climbing for weeks is no longer forecast at last week's
        // level (the lag that costs most on smooth trending series).
        let des: Vec<f64> = (0..m).map(|i| y[i] - seas(from + i)).collect();
        // Choose the weights on errors at the lead the forecast is used at
        // (half the horizon), not one step: one-step errors favour a jumpy level.
        let lead = (horizon / 2).clamp(1, p.max(1));
        let start = m.saturating_sub(p * 4);
        let damp = |k: usize| -> f64 { (1..=k).map(|i| PHI.powi(i as i32)).sum() };
        let lead_damp = damp(lead);
        let mut best = (f64::INFINITY, des[m - 1], 0.0);
        let mut ahead = vec![0.0; m];
        for alpha in [0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8] {
            for beta in [0.0, 0.01, 0.05, 0.15] {
                let mut level = des[start];
                let mut slope = 0.0;
                let mut sse = 0.0;
                for t in start..m {
                    if t >= start + lead {
                        let e = des[t] - ahead[t - lead];
                        sse += e * e;
                    }
                    let prev = level;
                    level = alpha * des[t] + (1.0 - alpha) * (level + PHI * slope);
                    slope = beta * (level - prev) + (1.0 - beta) * PHI * slope;
                    ahead[t] = level + lead_damp * slope;
                }
                // A trend must earn its place: ties go to no trend.
                if sse < best.0 * (1.0 - 1e-9) {
                    best = (sse, level, slope);
                }
            }
        }
        let (_, level, slope) = best;
        (0..horizon)
            .map(|h| level + damp(h + 1) * slope + seas(o + h))
            .collect()
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
