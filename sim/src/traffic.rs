//! Arrival processes: homogeneous and non-homogeneous Poisson, overdispersed
//! (Cox) and with flash crowds.
//!
//! The rate is piecewise constant: the demand series' step, the
//! overdispersion interval and burst edges cut time into segments. Within a
//! segment arrivals are Poisson; at a segment's end the exponential clock is
//! simply restarted (memorylessness makes that exact), so no thinning and no
//! rejected samples are needed.

use rand::Rng;
use rand_distr::{Distribution, Exp1, Gamma};

use crate::rng::SimRng;
use crate::scenario::{Burst, Demand, Scenario};

/// A ready arrival process.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Homogeneous with nothing else: the fast path.
    fast: Option<f64>,
    constant: Option<f64>,
    steps: Vec<f64>,
    step_s: f64,
    od: Option<Gamma<f64>>,
    od_interval: f64,
    od_factor: f64,
    od_until: f64,
    bursts: Vec<Burst>,
    horizon: f64,
}

impl Source {
    /// Build the source of a (validated) scenario; random bursts are drawn now
    /// over `[0, horizon)` (`draw_until` when the horizon is unbounded).
    pub(crate) fn new(sc: &Scenario, horizon: f64, draw_until: f64, rng: &mut SimRng) -> Self {
        let scale = sc.traffic.scale;
        let (constant, steps, step_s) = match &sc.traffic.demand {
            Demand::Constant { rate_per_s } => (Some(rate_per_s * scale), Vec::new(), 1.0),
            Demand::Series(s) => (
                None,
                s.values()
                    .iter()
                    .map(|v| {
                        if v.is_finite() {
                            v.max(0.0) * scale
                        } else {
                            0.0
                        }
                    })
                    .collect(),
                s.step_s() as f64,
            ),
        };
        let mut bursts = sc.traffic.bursts.clone();
        if let Some(rb) = sc.traffic.random_bursts
            && rb.per_day > 0.0
        {
            let rate = rb.per_day / 86_400.0;
            let mut t = 0.0;
            loop {
                let e: f64 = rng.sample(Exp1);
                t += e / rate;
                if t >= draw_until.min(horizon) {
                    break;
                }
                bursts.push(Burst {
                    at_s: t,
                    duration_s: rb.duration_s,
                    multiplier: rb.multiplier,
                });
            }
        }
        bursts.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let cv = sc.traffic.overdispersion_cv;
        let od = if cv > 0.0 {
            Gamma::new(1.0 / (cv * cv), cv * cv).ok()
        } else {
            None
        };
        let fast = match constant {
            Some(r) if od.is_none() && bursts.is_empty() && horizon.is_infinite() && r > 0.0 => {
                Some(r)
            }
            _ => None,
        };
        Source {
            fast,
            constant,
            steps,
            step_s,
            od,
            od_interval: sc.traffic.overdispersion_interval_s,
            od_factor: 1.0,
            od_until: f64::NEG_INFINITY,
            bursts,
            horizon,
        }
    }

    /// The rate at `t` and until when it holds.
    pub(crate) fn segment(&mut self, t: f64, rng: &mut SimRng) -> (f64, f64) {
        let (mut r, mut until) = match self.constant {
            Some(c) => (c, f64::INFINITY),
            None => {
                let i = (t / self.step_s).floor() as usize;
                match self.steps.get(i) {
                    Some(v) => (*v, (i + 1) as f64 * self.step_s),
                    None => (0.0, f64::INFINITY),
                }
            }
        };
        if let Some(g) = &self.od {
            if t >= self.od_until {
                self.od_factor = g.sample(rng);
                self.od_until = ((t / self.od_interval).floor() + 1.0) * self.od_interval;
            }
            if until.is_finite() || r > 0.0 {
                r *= self.od_factor;
                until = until.min(self.od_until);
            }
        }
        for b in &self.bursts {
            if t < b.at_s {
                until = until.min(b.at_s);
                break;
            } else if t < b.at_s + b.duration_s {
                r *= b.multiplier;
                until = until.min(b.at_s + b.duration_s);
            }
        }
        (r, until.min(self.horizon))
    }

    /// The first arrival after `t` (infinite when there is none).
    #[inline]
    pub(crate) fn next(&mut self, t: f64, rng: &mut SimRng) -> f64 {
        if let Some(r) = self.fast {
            let e: f64 = rng.sample(Exp1);
            return t + e / r;
        }
        let mut t = t;
        loop {
            if t >= self.horizon {
                return f64::INFINITY;
            }
            let (r, until) = self.segment(t, rng);
            if r > 0.0 {
                let e: f64 = rng.sample(Exp1);
                let c = t + e / r;
                if c < until {
                    return c;
                }
            }
            if until.is_infinite() || until <= t {
                return f64::INFINITY;
            }
            t = until;
        }
    }
}
