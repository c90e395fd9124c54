//! Seeded synthetic traffic with crests, for tests and what-if runs.
//!
//! Real data tell the truth but not the answer; a synthetic series whose crest
//! is known exactly lets a forecaster or planner test check that it found the
//! crest where it is and as high as it is. Every series comes from a seed: the
//! same spec and seed give the same values, bit for bit.
//!
//! The shape is multiplicative: `base × daily(t) × weekly(t) × Π crest_k(t) × noise`,
//! with a smooth daily cycle (trough at 04:00, peak at 16:00 of the series'
//! clock), a weekend dip, Gaussian crests, and log-normal-ish noise.

use crest_core::{Series, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::DatasetError;

/// One crest: a smooth multiplicative bump centred on `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crest {
    /// Centre of the crest.
    pub at: Timestamp,
    /// Standard deviation of the bump in seconds (about a third of its half-width).
    pub width_s: i64,
    /// Peak multiplier over normal traffic, e.g. 3.0 for three times the usual load.
    pub height: f64,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrestSpec {
    /// Series id.
    pub id: String,
    /// First step.
    pub start: Timestamp,
    /// Seconds per step.
    pub step_s: i64,
    /// Number of steps.
    pub len: usize,
    /// Mean level of ordinary traffic.
    pub base: f64,
    /// Relative amplitude of the daily cycle, 0..1 (0.5: peak 1.5×, trough 0.5×).
    pub daily_amplitude: f64,
    /// Relative weekend dip, 0..1 (0.2: weekends at 0.8×).
    pub weekend_dip: f64,
    /// Relative standard deviation of the noise, >= 0.
    pub noise: f64,
    /// Crests to add.
    pub crests: Vec<Crest>,
}

impl CrestSpec {
    /// Two weeks of 30-minute traffic around 1,000 with one 3× crest on day 10 at 18:00.
    pub fn example() -> Self {
        let start = Timestamp::from_secs(1_704_067_200); // 2024-01-01 00:00Z, a Monday
        CrestSpec {
            id: "synthetic".into(),
            start,
            step_s: 1800,
            len: 14 * 48,
            base: 1000.0,
            daily_amplitude: 0.5,
            weekend_dip: 0.2,
            noise: 0.05,
            crests: vec![Crest {
                at: start.add_secs(10 * 86_400 + 18 * 3600),
                width_s: 3 * 3600,
                height: 3.0,
            }],
        }
    }
}

/// Generate a seeded series from `spec`.
///
/// # Errors
/// [`DatasetError::Invalid`] for a non-positive step, a negative base or noise, an
/// amplitude outside 0..1 or a crest height below 0.
pub fn crest(spec: &CrestSpec, seed: u64) -> Result<Series, DatasetError> {
    let bad = |why: String| DatasetError::Invalid {
        action: format!("generate synthetic series \"{}\"", spec.id),
        why,
    };
    if !(spec.base.is_finite() && spec.base >= 0.0) {
        return Err(bad(format!("base must be >= 0, got {}", spec.base)));
    }
    for (what, v) in [
        ("daily_amplitude", spec.daily_amplitude),
        ("weekend_dip", spec.weekend_dip),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad(format!("{what} must lie in 0..1, got {v}")));
        }
    }
    if !(spec.noise.is_finite() && spec.noise >= 0.0) {
        return Err(bad(format!("noise must be >= 0, got {}", spec.noise)));
    }
    if let Some(c) = spec
        .crests
        .iter()
        .find(|c| !(c.height.is_finite() && c.height >= 0.0) || c.width_s <= 0)
    {
        return Err(bad(format!(
            "crest at {} needs height >= 0 and width_s > 0 (got {} and {})",
            c.at, c.height, c.width_s
        )));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let tau = std::f64::consts::TAU;
    let mut values = Vec::with_capacity(spec.len);
    for i in 0..spec.len {
        let t = spec.start.add_secs(spec.step_s.saturating_mul(i as i64));
        let secs = t.secs();
        let hour = secs.rem_euclid(86_400) as f64 / 3600.0;
        // Trough at 04:00, peak at 16:00.
        let daily =
            1.0 - spec.daily_amplitude * (tau * (hour - 16.0) / 24.0 + std::f64::consts::PI).cos();
        // 1970-01-01 was a Thursday: day index 2 and 3 (mod 7) are Saturday and Sunday.
        let dow = secs.div_euclid(86_400).rem_euclid(7);
        let weekly = if dow == 2 || dow == 3 {
            1.0 - spec.weekend_dip
        } else {
            1.0
        };
        let mut bump = 1.0;
        for c in &spec.crests {
            let z = (t.millis() - c.at.millis()) as f64 / 1000.0 / c.width_s as f64;
            bump *= 1.0 + (c.height - 1.0) * (-0.5 * z * z).exp();
        }
        // Box-Muller standard normal.
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random();
        let n = (-2.0 * u1.ln()).sqrt() * (tau * u2).cos();
        let noise = (1.0 + spec.noise * n).max(0.0);
        values.push(spec.base * daily * weekly * bump * noise);
    }
    Series::try_new(spec.id.clone(), spec.start, spec.step_s, values)
        .map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_other_seed_other_values() {
        let spec = CrestSpec::example();
        let a = crest(&spec, 7).unwrap();
        let b = crest(&spec, 7).unwrap();
        let c = crest(&spec, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.values(), c.values());
    }

    #[test]
    fn the_crest_is_where_it_was_put() {
        let mut spec = CrestSpec::example();
        spec.noise = 0.0;
        let s = crest(&spec, 1).unwrap();
        let mut flat = spec.clone();
        flat.crests.clear();
        let f = crest(&flat, 1).unwrap();
        let ratio: Vec<f64> = s
            .values()
            .iter()
            .zip(f.values())
            .map(|(a, b)| a / b)
            .collect();
        let imax = (0..ratio.len())
            .max_by(|&a, &b| ratio[a].total_cmp(&ratio[b]))
            .unwrap();
        assert_eq!(s.time_at(imax), spec.crests[0].at);
        assert!((ratio[imax] - 3.0).abs() < 1e-9);
        // Three widths away the crest has faded to ~2 % of its height.
        assert!(ratio[imax + 18] < 1.03);
        // Daily trough at 04:00.
        assert_eq!(
            s.values()[8],
            s.values()[..48].iter().cloned().fold(f64::MAX, f64::min)
        );
    }

    #[test]
    fn rejects_bad_specs() {
        let mut spec = CrestSpec::example();
        spec.daily_amplitude = 1.5;
        assert_eq!(
            crest(&spec, 1).unwrap_err().to_string(),
            "failed to generate synthetic series \"synthetic\": daily_amplitude must lie in 0..1, got 1.5"
        );
    }
}
