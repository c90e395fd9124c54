//! What a run reports: totals, latency percentiles, SLO minutes, cost, and a
//! per-minute timeline; and the summary of independent replications with
//! Student-t confidence intervals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::scenario::{Mode, Slo};

/// One point of the timeline (one minute, or `timeline_step_s`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// Seconds since the run start (start of the interval).
    pub t_s: f64,
    /// Wall time of the interval start, ms since the epoch.
    pub at_ms: i64,
    /// Arrivals per second over the interval.
    pub demand: f64,
    /// Serving capacity, requests/s (running instances × concurrency / mean service).
    pub capacity: f64,
    /// Running (serving) instances at the end of the interval.
    pub instances: u32,
    /// Instances starting (launched, not serving yet) at the end.
    pub starting: u32,
    /// Instances the autoscaler asked for at the end.
    pub desired: u32,
    /// p99 latency in ms (worst minute of the interval; NaN when nothing completed).
    pub p99_ms: f64,
    /// Requests dropped (refused, timed out, lost in crashes).
    pub drops: u64,
    /// Requests completed.
    pub completed: u64,
    /// Minutes in the interval that violated the SLO.
    pub slo_violations: u32,
}

/// Little's law check: time-average number in system vs arrival rate × mean
/// time in system (over every request that left, served or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LittlesLaw {
    /// Time-average number in system.
    pub l: f64,
    /// Departure rate over the run, per second.
    pub lambda: f64,
    /// Mean time in system, seconds.
    pub w: f64,
    /// |L − λW| / L (includes the boundary term of requests still in the
    /// system at the end; 0 up to rounding when the run drained).
    pub relative_error: f64,
}

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimReport {
    /// Scenario name.
    pub scenario: String,
    /// The mode that ran: "exact" or "fluid".
    pub mode: Mode,
    /// The seed.
    pub seed: u64,
    /// The policy ("none" without an autoscaler).
    pub policy: String,
    /// Provisioner platform.
    pub platform: String,
    /// Requests that arrived.
    pub requests_arrived: u64,
    /// Requests served to completion.
    pub requests_completed: u64,
    /// Requests dropped: refused (queue full or no server), timed out, or lost in a crash.
    pub requests_dropped: u64,
    /// Of which refused at arrival.
    pub dropped_refused: u64,
    /// Of which timed out in a queue.
    pub dropped_timeout: u64,
    /// Of which lost when their instance failed.
    pub dropped_crash: u64,
    /// Requests still in the system when the run stopped.
    pub requests_in_flight_at_end: u64,
    /// Mean time queued before service, seconds (measured requests).
    pub mean_wait_s: f64,
    /// Mean time from arrival to completion, seconds.
    pub mean_latency_s: f64,
    /// Median latency, seconds.
    pub p50_latency_s: f64,
    /// 90th percentile latency, seconds.
    pub p90_latency_s: f64,
    /// 99th percentile latency, seconds.
    pub p99_latency_s: f64,
    /// 99.9th percentile latency, seconds.
    pub p999_latency_s: f64,
    /// Largest latency, seconds.
    pub max_latency_s: f64,
    /// Relative error bound of the percentiles (HDR histogram, 3 significant digits).
    pub percentile_relative_error: f64,
    /// Events processed by the kernel.
    pub events_processed: u64,
    /// Wall-clock seconds the run took (the only non-deterministic field).
    pub wall_s: f64,
    /// Simulated seconds.
    pub sim_duration_s: f64,
    /// The SLO minutes were judged by.
    pub slo: Slo,
    /// Minutes whose p99 exceeded `slo.p99_ms`, or whose dropped fraction
    /// exceeded `slo.max_drop_fraction`, or in which requests arrived but none
    /// completed.
    pub slo_violation_minutes: u64,
    /// Minutes simulated.
    pub minutes: u64,
    /// Instance-hours billed: from launch to termination (starting, serving, draining).
    pub instance_hours: f64,
    /// Most instances serving at once.
    pub peak_instances: u32,
    /// Mean busy fraction of serving slots.
    pub utilisation: f64,
    /// Autoscaler evaluations.
    pub evaluations: u64,
    /// Evaluations that changed the desired count.
    pub scale_changes: u64,
    /// Instances that failed (crash or zone outage).
    pub instances_failed: u64,
    /// Little's law on this run.
    pub littles_law: LittlesLaw,
    /// Seconds per timeline point.
    pub timeline_step_s: f64,
    /// The timeline.
    pub timeline: Vec<TimelinePoint>,
}

impl SimReport {
    /// Simulated requests per wall second.
    pub fn requests_per_wall_s(&self) -> f64 {
        self.requests_arrived as f64 / self.wall_s.max(1e-9)
    }

    /// Kernel events per wall second.
    pub fn events_per_wall_s(&self) -> f64 {
        self.events_processed as f64 / self.wall_s.max(1e-9)
    }

    /// The fields compared across replications, by name.
    pub fn metrics(&self) -> BTreeMap<&'static str, f64> {
        BTreeMap::from([
            ("requests_completed", self.requests_completed as f64),
            ("requests_dropped", self.requests_dropped as f64),
            ("mean_wait_s", self.mean_wait_s),
            ("mean_latency_s", self.mean_latency_s),
            ("p50_latency_s", self.p50_latency_s),
            ("p99_latency_s", self.p99_latency_s),
            ("slo_violation_minutes", self.slo_violation_minutes as f64),
            ("instance_hours", self.instance_hours),
            ("utilisation", self.utilisation),
        ])
    }
}

/// A 95 % confidence interval of a mean over replications.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Mean over replications.
    pub mean: f64,
    /// Half-width (Student t, 95 %); 0 with one replication.
    pub half_width: f64,
    /// Sample standard deviation.
    pub std_dev: f64,
}

impl Interval {
    /// The interval of `xs` (empty gives NaN).
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        if n == 0 {
            return Interval {
                mean: f64::NAN,
                half_width: f64::NAN,
                std_dev: f64::NAN,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Interval {
                mean,
                half_width: 0.0,
                std_dev: 0.0,
            };
        }
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        let sd = var.sqrt();
        let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
            .map(|d| d.inverse_cdf(0.975))
            .unwrap_or(1.96);
        Interval {
            mean,
            half_width: t * sd / (n as f64).sqrt(),
            std_dev: sd,
        }
    }
}

/// Independent replications of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replications {
    /// How many.
    pub replications: usize,
    /// Means and 95 % intervals of the compared metrics.
    pub ci95: BTreeMap<String, Interval>,
    /// Wall seconds for all of them (in parallel).
    pub wall_s: f64,
    /// Each run (the first one's seed is the base seed).
    pub runs: Vec<SimReport>,
}

impl Replications {
    /// Summarise runs.
    pub fn from_runs(runs: Vec<SimReport>, wall_s: f64) -> Self {
        let mut ci95 = BTreeMap::new();
        if let Some(first) = runs.first() {
            for name in first.metrics().keys() {
                let xs: Vec<f64> = runs.iter().map(|r| r.metrics()[name]).collect();
                ci95.insert((*name).to_string(), Interval::of(&xs));
            }
        }
        Replications {
            replications: runs.len(),
            ci95,
            wall_s,
            runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_uses_student_t() {
        let i = Interval::of(&[1.0, 2.0, 3.0]);
        assert!((i.mean - 2.0).abs() < 1e-12);
        // t(0.975, 2) = 4.303; sd = 1; half = 4.303 / sqrt(3)
        assert!(
            (i.half_width - 4.302_652_7 / 3f64.sqrt()).abs() < 1e-4,
            "{i:?}"
        );
        assert_eq!(Interval::of(&[5.0]).half_width, 0.0);
    }
}
