//! From probe steps to a [`Capacity`]: the per-instance limit at the SLO, a
//! fitted latency-vs-load curve with a confidence interval, and the cluster's
//! headroom.
//!
//! The curve is a single-queue shape, `p99(λ) = base + k / (μ − λ)`: flat
//! while the server keeps up, rising without bound as the load `λ` nears the
//! saturation throughput `μ`. When the probe saw saturation, `μ` is measured
//! directly (throughput by conservation at the saturated step) and `base`,
//! `k` are a least-squares fit on the steps that met the SLO; the limit at the
//! SLO is `μ − k / (SLO − base)`. Its confidence interval comes from the
//! spread of the saturated step's sub-window throughputs (Student's t).
//! Without saturation the limit is interpolated between the last step inside
//! the SLO and the first outside, or — if none breached — is the largest
//! throughput seen (a lower bound, and marked as such).

use crest_core::Capacity;
use crest_core::Rps;
use crest_core::capacity::LoadPoint;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::HeadroomError;
use crate::probe::{ProbeReport, StepResult, StopReason};

/// How the per-instance limit was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Saturation observed; queueing curve fitted.
    QueueFit,
    /// SLO breached before saturation; interpolated.
    Interpolated,
    /// Neither: the largest throughput seen, a lower bound.
    LowerBound,
}

/// The fitted model behind a [`Capacity`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityFit {
    /// Per-instance limit at the SLO, req/s.
    pub per_instance_rps: f64,
    /// 95 % confidence interval of it, when measurable.
    pub interval: Option<(f64, f64)>,
    /// Saturation throughput `μ`, if observed.
    pub saturation_rps: Option<f64>,
    /// Curve floor, ms.
    pub base_ms: f64,
    /// Curve steepness, ms·req/s.
    pub k: f64,
    /// How it was found.
    pub method: Method,
}

impl CapacityFit {
    /// The fitted p99 at load `rps` (infinite at or beyond saturation).
    pub fn p99_at(&self, rps: f64) -> f64 {
        match self.saturation_rps {
            Some(mu) if rps < mu => self.base_ms + self.k / (mu - rps),
            Some(_) => f64::INFINITY,
            None => self.base_ms,
        }
    }
}

fn good(s: &StepResult, slo: f64, max_err: f64) -> bool {
    !s.saturated
        && !s.slo_breached
        && s.error_rate <= max_err
        && s.latency_ms.is_finite()
        && s.latency_ms <= slo
}

/// Fit the capacity model to a probe's steps.
///
/// # Errors
/// [`HeadroomError::Config`] when there are no usable steps.
pub fn fit(report: &ProbeReport) -> Result<CapacityFit, HeadroomError> {
    let slo = report.slo_p99_ms;
    let steps = &report.steps;
    // The saturation step: the first whose backlog grew, or the one where the
    // probe saw throughput stop following the weight (the knee).
    // A knee is confirmed by a repeat at the same weight: use the last step.
    let sat_idx = if report.stop == StopReason::Knee && !steps.is_empty() {
        Some(steps.len() - 1)
    } else {
        steps
            .iter()
            .position(|s| s.saturated && s.error_rate <= report.max_error_rate.max(0.05))
    };
    let goods: Vec<&StepResult> = steps
        .iter()
        .enumerate()
        .filter(|(i, s)| Some(*i) != sat_idx && good(s, slo, report.max_error_rate))
        .map(|(_, s)| s)
        .collect();
    let sat = sat_idx.and_then(|i| steps.get(i));
    if let Some(sat) = sat {
        // Repeated steps at the knee weight all measure the saturation throughput.
        let same: Vec<&StepResult> = steps
            .iter()
            .filter(|s| s.weight == sat.weight && s.saturated == sat.saturated)
            .collect();
        let mu = same.iter().map(|s| s.throughput_rps).sum::<f64>() / same.len().max(1) as f64;
        let pts: Vec<(f64, f64)> = goods
            .iter()
            .filter(|s| s.throughput_rps < 0.995 * mu)
            .map(|s| (1.0 / (mu - s.throughput_rps), s.latency_ms))
            .collect();
        let (base, k) = least_squares_nonneg(&pts);
        let mut cap = if k > 0.0 && slo > base {
            mu - k / (slo - base)
        } else {
            mu
        };
        let floor = goods.iter().map(|s| s.throughput_rps).fold(0.0, f64::max);
        cap = cap.clamp(floor.min(mu), mu);
        let repeats: Vec<f64> = same
            .iter()
            .flat_map(|s| s.samples_rps.iter().copied())
            .collect();
        let interval = t_interval(&repeats).map(|(lo, hi)| (lo - (mu - cap), hi - (mu - cap)));
        return Ok(CapacityFit {
            per_instance_rps: cap,
            interval,
            saturation_rps: Some(mu),
            base_ms: base,
            k,
            method: Method::QueueFit,
        });
    }
    let last_good = goods.last();
    let breach = steps.iter().find(|s| s.slo_breached);
    match (last_good, breach) {
        (Some(g), Some(b))
            if b.throughput_rps > g.throughput_rps && b.latency_ms > g.latency_ms =>
        {
            let f = (slo - g.latency_ms) / (b.latency_ms - g.latency_ms);
            let cap = g.throughput_rps + f.clamp(0.0, 1.0) * (b.throughput_rps - g.throughput_rps);
            Ok(CapacityFit {
                per_instance_rps: cap,
                interval: Some((g.throughput_rps, b.throughput_rps)),
                saturation_rps: None,
                base_ms: g.latency_ms,
                k: 0.0,
                method: Method::Interpolated,
            })
        }
        (Some(g), _) => {
            let best = goods
                .iter()
                .map(|s| s.throughput_rps)
                .fold(g.throughput_rps, f64::max);
            Ok(CapacityFit {
                per_instance_rps: best,
                interval: None,
                saturation_rps: None,
                base_ms: g.latency_ms,
                k: 0.0,
                method: Method::LowerBound,
            })
        }
        (None, _) => Err(HeadroomError::Config {
            field: "steps",
            value: steps.len().to_string(),
            why: "no step met the SLO and error limit: nothing to estimate from (lower the start weight)",
        }),
    }
}

/// Least squares `y = a + b x` with `a, b >= 0` (b = 0 falls back to the mean).
fn least_squares_nonneg(pts: &[(f64, f64)]) -> (f64, f64) {
    let n = pts.len() as f64;
    if pts.is_empty() {
        return (0.0, 0.0);
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
    let a = (my - b * mx).max(0.0);
    (a, b)
}

/// 95 % Student-t interval of the mean of `xs` (None for fewer than 2).
pub fn t_interval(xs: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
    let t = StudentsT::new(0.0, 1.0, nf - 1.0).ok()?.inverse_cdf(0.975);
    let h = t * (var / nf).sqrt();
    Some((mean - h, mean + h))
}

/// The [`Capacity`] to hand to the planner.
///
/// # Errors
/// As [`fit`]; [`HeadroomError::Config`] for a non-positive estimate.
pub fn to_capacity(report: &ProbeReport, fit: &CapacityFit) -> Result<Capacity, HeadroomError> {
    let per = Rps::try_new(fit.per_instance_rps).map_err(|_| HeadroomError::Config {
        field: "per_instance_rps",
        value: fit.per_instance_rps.to_string(),
        why: "expected a finite, non-negative rate",
    })?;
    let mut curve: Vec<LoadPoint> = report
        .steps
        .iter()
        .map(|s| LoadPoint {
            rps: s.throughput_rps,
            p99_ms: s.latency_ms,
            error_rate: s.error_rate,
        })
        .collect();
    curve.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    Ok(Capacity {
        per_instance: per,
        slo_p99_ms: report.slo_p99_ms,
        interval: fit.interval,
        curve,
        source: format!(
            "probe {}/{} started at {} ms; {:?}; knee weight {}",
            report.backend,
            report.server,
            report.started_ms,
            fit.method,
            report
                .knee_weight
                .map_or("none".to_string(), |w| w.to_string())
        ),
    })
}

/// The cluster's state against its capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// Servers serving.
    pub instances: u32,
    /// Current load of the backend, req/s.
    pub load_rps: f64,
    /// `instances × per-instance`.
    pub cluster_capacity_rps: f64,
    /// `1 − load / capacity`.
    pub headroom: f64,
}

/// Headroom of `instances` serving `load_rps` at `capacity`.
pub fn headroom(capacity: &Capacity, instances: u32, load_rps: f64) -> Headroom {
    Headroom {
        instances,
        load_rps,
        cluster_capacity_rps: f64::from(instances) * capacity.per_instance.get(),
        headroom: capacity.headroom(instances, load_rps),
    }
}

/// The backend's load during a probe: the median of the steps' backend rates
/// (the total does not depend on the weights).
pub fn backend_load(report: &ProbeReport) -> f64 {
    let mut v: Vec<f64> = report
        .steps
        .iter()
        .map(|s| s.backend_rps)
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn step(w: u16, tp: f64, p99: f64, sat: bool, slo: f64) -> StepResult {
        StepResult {
            weight: w,
            share: 0.0,
            offered_rps: tp,
            throughput_rps: tp,
            samples_rps: vec![tp - 2.0, tp, tp + 2.0, tp],
            backlog_growth: 0.0,
            backend_rps: 300.0,
            p50_ms: p99 / 2.0,
            p99_ms: p99,
            ttime_avg_ms: p99 / 2.0,
            error_rate: 0.0,
            saturated: sat,
            latency_ms: p99,
            slo_breached: p99 > slo,
        }
    }

    fn report(steps: Vec<StepResult>) -> ProbeReport {
        ProbeReport {
            backend: "be".into(),
            server: "s1".into(),
            slo_p99_ms: 100.0,
            max_error_rate: 0.01,
            latency_source: "test".into(),
            original_weights: Default::default(),
            servers_up: 4,
            steps,
            stop: StopReason::Slo,
            knee_weight: Some(90),
            slo_breach_steps: 1,
            weights_restored: true,
            recovered_from_journal: false,
            started_ms: 0,
            duration_s: 0.0,
        }
    }

    #[test]
    fn flat_latency_gives_saturation_throughput() {
        let r = report(vec![
            step(15, 93.0, 21.0, false, 100.0),
            step(30, 140.0, 21.0, false, 100.0),
            step(45, 200.0, 800.0, true, 100.0),
        ]);
        let f = fit(&r).unwrap();
        assert_eq!(f.method, Method::QueueFit);
        assert!((f.per_instance_rps - 200.0).abs() < 1e-9, "{f:?}");
        let (lo, hi) = f.interval.unwrap();
        assert!(lo < 200.0 && hi > 200.0);
        let c = to_capacity(&r, &f).unwrap();
        assert!((c.headroom(4, 300.0) - 0.625).abs() < 1e-9);
    }

    #[test]
    fn queueing_curve_lowers_the_limit_below_saturation() {
        // p99 = 10 + 2000/(200 - λ): SLO 100 is met up to λ = 200 - 2000/90 ≈ 177.8.
        let mk = |l: f64| 10.0 + 2000.0 / (200.0 - l);
        let r = report(vec![
            step(10, 100.0, mk(100.0), false, 100.0),
            step(20, 140.0, mk(140.0), false, 100.0),
            step(30, 170.0, mk(170.0), false, 100.0),
            step(40, 200.0, 900.0, true, 100.0),
        ]);
        let f = fit(&r).unwrap();
        assert!(
            (f.per_instance_rps - (200.0 - 2000.0 / 90.0)).abs() < 0.5,
            "{f:?}"
        );
        assert!(f.p99_at(100.0) < f.p99_at(170.0));
    }

    #[test]
    fn no_saturation_is_a_lower_bound_or_an_interpolation() {
        let r = report(vec![
            step(10, 100.0, 20.0, false, 100.0),
            step(20, 150.0, 30.0, false, 100.0),
        ]);
        let f = fit(&r).unwrap();
        assert_eq!(f.method, Method::LowerBound);
        assert_eq!(f.per_instance_rps, 150.0);
        let r = report(vec![
            step(10, 100.0, 50.0, false, 100.0),
            step(20, 150.0, 150.0, false, 100.0),
        ]);
        let f = fit(&r).unwrap();
        assert_eq!(f.method, Method::Interpolated);
        assert!((f.per_instance_rps - 125.0).abs() < 1e-9);
        assert!(fit(&report(vec![])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn estimate_is_within_observed_bounds(tps in proptest::collection::vec(1.0f64..500.0, 1..8), p in proptest::collection::vec(1.0f64..300.0, 8)) {
            let mut tps = tps;
            tps.sort_by(f64::total_cmp);
            let steps: Vec<StepResult> = tps.iter().zip(&p).map(|(t, l)| step(1, *t, *l, false, 100.0)).collect();
            let r = report(steps);
            if let Ok(f) = fit(&r) {
                let max = tps.iter().copied().fold(0.0, f64::max);
                proptest::prop_assert!(f.per_instance_rps >= 0.0 && f.per_instance_rps <= max + 1e-9);
            }
        }
    }
}
