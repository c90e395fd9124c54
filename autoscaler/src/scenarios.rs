//! Demand scenarios drawn from a forecast's quantiles (Monte Carlo).
//!
//! A plan is only as good as the demand it meets, and the forecast says how
//! unsure it is through its quantile paths. A scenario is one possible demand
//! path consistent with them: a latent standard-normal process `z_t` (AR(1),
//! so a crest that runs high tends to stay high — errors in real forecasts are
//! strongly autocorrelated), mapped through each step's quantile function,
//! piecewise linear in `z` between the forecast's quantile levels and
//! extrapolated beyond the outermost ones. How strongly is learned from the
//! forecaster's real errors where there are some ([`rho_from_errors`]): a
//! path rougher than reality fails plans that real days pass.
//!
//! Seeded and dependency-free (SplitMix64 + Box–Muller): the same seed gives
//! the same scenarios on every machine.

use crest_core::Forecast;

use crate::AutoscalerError;

/// SplitMix64: tiny, fast, and good enough for Monte Carlo demand.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let lo = 0.02425;
    if p < lo {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p > 1.0 - lo {
        -normal_quantile(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Draws demand paths consistent with a forecast's quantiles.
#[derive(Debug, Clone)]
pub struct ScenarioSampler {
    /// (z-level, path) pairs, ascending in z.
    levels: Vec<(f64, Vec<f64>)>,
    horizon: usize,
    /// Step-to-step correlation of the latent normal process.
    pub rho: f64,
}

impl ScenarioSampler {
    /// A sampler over a forecast (its mean stands in for the median if the
    /// median is missing).
    ///
    /// # Errors
    /// [`AutoscalerError::Forecast`] when the forecast is empty, has a
    /// non-finite value or no quantiles beyond the mean.
    pub fn try_new(forecast: &Forecast, rho: f64) -> Result<Self, AutoscalerError> {
        if forecast.horizon() == 0 {
            return Err(AutoscalerError::Forecast {
                reason: "the forecast has no steps".into(),
            });
        }
        let mut levels: Vec<(f64, Vec<f64>)> = forecast
            .quantiles
            .iter()
            .map(|(q, p)| (normal_quantile(q.level()), p.clone()))
            .collect();
        if !levels.iter().any(|(z, _)| z.abs() < 1e-9) {
            levels.push((0.0, forecast.mean.clone()));
        }
        levels.sort_by(|a, b| a.0.total_cmp(&b.0));
        if levels.len() < 2 {
            return Err(AutoscalerError::Forecast {
                reason: "Monte Carlo needs at least one quantile path besides the mean".into(),
            });
        }
        if levels.iter().flat_map(|(_, p)| p).any(|v| !v.is_finite()) {
            return Err(AutoscalerError::Forecast {
                reason: "a forecast path has a non-finite value".into(),
            });
        }
        Ok(ScenarioSampler {
            levels,
            horizon: forecast.horizon(),
            rho: rho.clamp(0.0, 0.9999),
        })
    }

    /// Demand at step `t` for latent value `z` (>= 0).
    pub fn value_at(&self, t: usize, z: f64) -> f64 {
        let l = &self.levels;
        let i = l.partition_point(|(zl, _)| *zl <= z);
        let (a, b) = if i == 0 {
            (0, 1)
        } else if i >= l.len() {
            (l.len() - 2, l.len() - 1)
        } else {
            (i - 1, i)
        };
        let (za, pa) = (&l[a].0, l[a].1[t]);
        let (zb, pb) = (&l[b].0, l[b].1[t]);
        let slope = if zb > za { (pb - pa) / (zb - za) } else { 0.0 };
        (pa + slope.max(0.0) * (z - za)).max(0.0)
    }

    /// One scenario.
    pub fn draw(&self, rng: &mut SplitMix64) -> Vec<f64> {
        let s = (1.0 - self.rho * self.rho).sqrt();
        let mut z = rng.normal();
        (0..self.horizon)
            .map(|t| {
                if t > 0 {
                    z = self.rho * z + s * rng.normal();
                }
                self.value_at(t, z)
            })
            .collect()
    }

    /// `n` scenarios from `seed`.
    pub fn draw_n(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| self.draw(&mut rng)).collect()
    }
}

/// Fewest step pairs [`rho_from_errors`] estimates from.
const MIN_ERROR_PAIRS: usize = 24;

/// The step-to-step correlation of the latent process that makes drawn
/// paths as rough, relative to their spread, as the forecaster's real
/// errors: `1 - Var(Δx) / (2 Var(x))` over the logs `x` of `profiles`
/// (actual / forecast mean, one profile per past day or window, steps in
/// order), the AR(1) variogram at one step. Differences are taken inside a
/// profile only, and a step whose ratio is exactly 1 (a step the profile
/// counts as "no information", e.g. a near-zero forecast) or not positive
/// is left out with the pairs it belongs to.
///
/// Why: a draw rougher than reality jumps between steps more than demand
/// ever did against this forecaster, and fails a plan that real days pass
/// (at 15-minute steps the default 0.95 is a step sd of 0.32 of the band's
/// z where a load forecaster's real errors move a tenth of that). `None`
/// with fewer than 24 pairs or errors that never vary; clamped to
/// `0..=0.999`.
pub fn rho_from_errors(profiles: &[Vec<f64>]) -> Option<f64> {
    let informative = |r: f64| r.is_finite() && r > 0.0 && r != 1.0;
    let logs: Vec<f64> = profiles
        .iter()
        .flatten()
        .copied()
        .filter(|r| informative(*r))
        .map(f64::ln)
        .collect();
    let steps: Vec<f64> = profiles
        .iter()
        .flat_map(|p| p.windows(2))
        .filter(|w| informative(w[0]) && informative(w[1]))
        .map(|w| w[1].ln() - w[0].ln())
        .collect();
    if steps.len() < MIN_ERROR_PAIRS {
        return None;
    }
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let step_var = steps.iter().map(|d| d * d).sum::<f64>() / steps.len() as f64;
    (var > 1e-12).then(|| (1.0 - step_var / (2.0 * var)).clamp(0.0, 0.999))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crest_core::Timestamp;
    use crest_core::series::Quantile;
    use std::collections::BTreeMap;

    #[test]
    fn normal_quantile_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.9) - 1.281_551_565_5).abs() < 1e-6);
        assert!((normal_quantile(0.025) + 1.959_963_985).abs() < 1e-6);
    }

    #[test]
    fn rho_from_errors_recovers_the_roughness_of_an_ar1() {
        // log errors an AR(1) with phi 0.98 and unit variance: the variogram
        // estimate comes back near 0.98, and a white-noise one near 0.
        let mut rng = SplitMix64::new(3);
        let ar = |phi: f64, rng: &mut SplitMix64| -> Vec<Vec<f64>> {
            let s = (1.0 - phi * phi).sqrt();
            (0..40)
                .map(|_| {
                    let mut x = rng.normal();
                    (0..96)
                        .map(|_| {
                            x = phi * x + s * rng.normal();
                            (0.05 * x).exp()
                        })
                        .collect()
                })
                .collect()
        };
        let smooth = rho_from_errors(&ar(0.98, &mut rng)).unwrap();
        assert!((smooth - 0.98).abs() < 0.01, "{smooth}");
        let rough = rho_from_errors(&ar(0.0, &mut rng)).unwrap();
        assert!(rough < 0.1, "{rough}");
        // Steps a profile counts as 1 carry no information; too few pairs
        // or no variation: no estimate.
        let mut holes = ar(0.98, &mut rng);
        for p in &mut holes {
            for r in p.iter_mut().step_by(3) {
                *r = 1.0;
            }
        }
        let with_holes = rho_from_errors(&holes).unwrap();
        assert!((with_holes - 0.98).abs() < 0.015, "{with_holes}");
        assert_eq!(rho_from_errors(&[vec![1.1, 0.9, 1.05]]), None);
        assert_eq!(rho_from_errors(&[vec![1.1; 100]]), None);
    }

    #[test]
    fn scenarios_match_the_quantiles_and_are_reproducible() {
        let mut q = BTreeMap::new();
        q.insert(Quantile::try_new(0.1).unwrap(), vec![80.0; 4]);
        q.insert(Quantile::try_new(0.9).unwrap(), vec![120.0; 4]);
        let f = Forecast::try_new("x", Timestamp(0), 60, vec![100.0; 4], q).unwrap();
        let s = ScenarioSampler::try_new(&f, 0.9).unwrap();
        let draws = s.draw_n(4000, 7);
        assert_eq!(draws, s.draw_n(4000, 7));
        let mut first: Vec<f64> = draws.iter().map(|d| d[0]).collect();
        first.sort_by(f64::total_cmp);
        let p90 = first[3600];
        let p10 = first[400];
        assert!((p90 - 120.0).abs() < 3.0, "p90 {p90}");
        assert!((p10 - 80.0).abs() < 3.0, "p10 {p10}");
    }
}
