//! Service-time distributions of an instance.

use std::sync::Arc;

use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// How long one request keeps an instance slot busy, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServiceDist {
    /// Exponential with the given mean (M/M/c).
    Exp {
        /// Mean, seconds.
        mean_s: f64,
    },
    /// Always the same (M/D/c).
    Deterministic {
        /// The service time, seconds.
        mean_s: f64,
    },
    /// Lognormal with the given mean and coefficient of variation.
    Lognormal {
        /// Mean, seconds.
        mean_s: f64,
        /// Standard deviation / mean.
        cv: f64,
    },
    /// Drawn uniformly from measured samples (e.g. a latency log).
    Empirical {
        /// Measured service times, seconds.
        samples_s: Vec<f64>,
    },
}

impl ServiceDist {
    /// Exponential service with mean `mean_s`.
    pub fn exp(mean_s: f64) -> Self {
        ServiceDist::Exp { mean_s }
    }

    /// The mean service time, seconds.
    pub fn mean(&self) -> f64 {
        match self {
            ServiceDist::Exp { mean_s }
            | ServiceDist::Deterministic { mean_s }
            | ServiceDist::Lognormal { mean_s, .. } => *mean_s,
            ServiceDist::Empirical { samples_s } => {
                samples_s.iter().sum::<f64>() / samples_s.len().max(1) as f64
            }
        }
    }

    /// Squared coefficient of variation (variance / mean²).
    pub fn scv(&self) -> f64 {
        match self {
            ServiceDist::Exp { .. } => 1.0,
            ServiceDist::Deterministic { .. } => 0.0,
            ServiceDist::Lognormal { cv, .. } => cv * cv,
            ServiceDist::Empirical { samples_s } => {
                let m = self.mean();
                let n = samples_s.len().max(1) as f64;
                let var = samples_s.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
                if m > 0.0 { var / (m * m) } else { 0.0 }
            }
        }
    }

    /// Problems with the parameters (field names relative to the distribution).
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self {
            ServiceDist::Exp { mean_s } | ServiceDist::Deterministic { mean_s } => {
                if !(mean_s.is_finite() && *mean_s > 0.0) {
                    out.push((
                        "mean_s",
                        format!("expected a finite time > 0, found {mean_s}"),
                    ));
                }
            }
            ServiceDist::Lognormal { mean_s, cv } => {
                if !(mean_s.is_finite() && *mean_s > 0.0) {
                    out.push((
                        "mean_s",
                        format!("expected a finite time > 0, found {mean_s}"),
                    ));
                }
                if !(cv.is_finite() && *cv > 0.0) {
                    out.push(("cv", format!("expected a finite value > 0, found {cv}")));
                }
            }
            ServiceDist::Empirical { samples_s } => {
                if samples_s.is_empty() {
                    out.push(("samples_s", "expected at least one sample".into()));
                } else if samples_s.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                    out.push(("samples_s", "expected finite times >= 0".into()));
                } else if !samples_s.iter().any(|x| *x > 0.0) {
                    out.push(("samples_s", "expected at least one sample > 0".into()));
                }
            }
        }
        out
    }

    /// A sampler with its parameters precomputed.
    pub(crate) fn sampler(&self) -> Sampler {
        match self {
            ServiceDist::Exp { mean_s } => Sampler::Exp(*mean_s),
            ServiceDist::Deterministic { mean_s } => Sampler::Det(*mean_s),
            ServiceDist::Lognormal { mean_s, cv } => {
                let s2 = (1.0 + cv * cv).ln();
                Sampler::LogNormal {
                    mu: mean_s.ln() - s2 / 2.0,
                    sigma: s2.sqrt(),
                }
            }
            ServiceDist::Empirical { samples_s } => Sampler::Empirical(Arc::new(samples_s.clone())),
        }
    }
}

/// A ready-to-draw service distribution.
#[derive(Debug, Clone)]
pub(crate) enum Sampler {
    Exp(f64),
    Det(f64),
    LogNormal { mu: f64, sigma: f64 },
    Empirical(Arc<Vec<f64>>),
}

impl Sampler {
    #[inline]
    pub(crate) fn sample(&self, rng: &mut SimRng) -> f64 {
        match self {
            Sampler::Exp(m) => {
                let e: f64 = rng.sample(Exp1);
                e * m
            }
            Sampler::Det(m) => *m,
            Sampler::LogNormal { mu, sigma } => {
                let z: f64 = rng.sample(StandardNormal);
                (mu + sigma * z).exp()
            }
            Sampler::Empirical(v) => {
                let i = (rng.open01() * v.len() as f64) as usize;
                v[i.min(v.len() - 1)]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_means_match() {
        let mut rng = SimRng::seed_from(1);
        for d in [
            ServiceDist::exp(2.0),
            ServiceDist::Deterministic { mean_s: 2.0 },
            ServiceDist::Lognormal {
                mean_s: 2.0,
                cv: 0.5,
            },
            ServiceDist::Empirical {
                samples_s: vec![1.0, 3.0],
            },
        ] {
            let s = d.sampler();
            let n = 200_000;
            let m: f64 = (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / n as f64;
            assert!((m - 2.0).abs() < 0.03, "{d:?}: {m}");
            assert!((d.mean() - 2.0).abs() < 1e-12);
        }
    }
}
