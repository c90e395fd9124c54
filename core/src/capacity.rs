//! What one instance can serve, measured rather than guessed.
//!
//! A [`Capacity`] is the output of a load-balancer weight probe (or an
//! operator's figure): the request rate one instance sustains while staying
//! inside the latency SLO, with the evidence behind it. Planners divide demand
//! by it; the simulator builds instances from it.

use serde::{Deserialize, Serialize};

use crate::{CoreError, Rps};

/// One measured point of the latency-vs-load curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadPoint {
    /// Throughput of the instance at this point.
    pub rps: f64,
    /// Observed p99 latency in milliseconds.
    pub p99_ms: f64,
    /// Observed error rate (0..1).
    pub error_rate: f64,
}

/// Per-instance capacity at a latency SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// Sustainable requests per second for one instance at the SLO.
    pub per_instance: Rps,
    /// The p99 latency objective this capacity was measured against, in ms.
    pub slo_p99_ms: f64,
    /// A confidence interval for `per_instance` (low, high), when measured.
    #[serde(default)]
    pub interval: Option<(f64, f64)>,
    /// Measured points of the latency-vs-load curve, ascending by load.
    #[serde(default)]
    pub curve: Vec<LoadPoint>,
    /// Where the figure comes from (e.g. "probe backend/app1 2026-11-29", "given").
    #[serde(default)]
    pub source: String,
}

impl Capacity {
    /// A capacity given by the operator rather than measured.
    ///
    /// # Errors
    /// [`CoreError::InvalidQuantity`] when the rate is not finite and positive
    /// or the SLO is not positive.
    pub fn given(per_instance_rps: f64, slo_p99_ms: f64) -> Result<Self, CoreError> {
        if per_instance_rps <= 0.0 {
            return Err(CoreError::InvalidQuantity {
                what: "per-instance requests per second",
                value: per_instance_rps,
            });
        }
        if !(slo_p99_ms.is_finite() && slo_p99_ms > 0.0) {
            return Err(CoreError::InvalidQuantity {
                what: "p99 latency SLO in ms",
                value: slo_p99_ms,
            });
        }
        Ok(Capacity {
            per_instance: Rps::try_new(per_instance_rps)?,
            slo_p99_ms,
            interval: None,
            curve: Vec::new(),
            source: "given".into(),
        })
    }

    /// Instances needed to serve `demand_rps` with each instance at most at
    /// `target_utilisation` of its capacity (rounded up, at least 1 for demand > 0).
    pub fn instances_for(&self, demand_rps: f64, target_utilisation: f64) -> u32 {
        let per = self.per_instance.get() * target_utilisation.clamp(1e-6, 1.0);
        if demand_rps <= 0.0 || per <= 0.0 {
            return 0;
        }
        let n = (demand_rps / per - 1e-9).ceil();
        if n >= f64::from(u32::MAX) {
            u32::MAX
        } else {
            n.max(1.0) as u32
        }
    }

    /// Spare fraction of a cluster of `instances` serving `load_rps`:
    /// `1 - load / (instances * per_instance)`. Negative when overloaded.
    pub fn headroom(&self, instances: u32, load_rps: f64) -> f64 {
        let cap = f64::from(instances) * self.per_instance.get();
        if cap <= 0.0 {
            f64::NEG_INFINITY
        } else {
            1.0 - load_rps / cap
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_round_up_and_respect_utilisation() {
        let c = Capacity::given(100.0, 200.0).unwrap();
        assert_eq!(c.instances_for(0.0, 0.8), 0);
        assert_eq!(c.instances_for(1.0, 0.8), 1);
        assert_eq!(c.instances_for(800.0, 0.8), 10);
        assert_eq!(c.instances_for(800.1, 0.8), 11);
        assert!((c.headroom(10, 750.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn given_rejects_nonsense() {
        assert!(Capacity::given(0.0, 100.0).is_err());
        assert!(Capacity::given(10.0, f64::NAN).is_err());
    }
}
