//! The fluid (aggregate) request model: one-second steps instead of one
//! event per request, for runs of billions of requests. The fleet around it
//! (provisioner, failures, balancer state, autoscaler, minutes) is the exact
//! engine's, unchanged. See the crate docs for the approximation.

use rand::Rng;
use rand_distr::{Distribution, Exp1, Poisson};

use super::{Engine, Ev};
use crate::theory::erlang_c;

/// Latency samples drawn per step (each weighted by its share of requests).
const SAMPLES: u64 = 32;
/// Step length, seconds.
pub(crate) const STEP_S: f64 = 1.0;

/// The fluid model's own state.
#[derive(Debug, Default, Clone)]
pub(crate) struct FluidState {
    /// Requests waiting beyond the serving slots.
    backlog: f64,
    /// Slots busy and requests in the system over the current step, as
    /// fractions: the time integrals behind utilisation (what target tracking
    /// reads) and Little's law take these, not their rounding (rounded, 1.67
    /// busy slots of 4 read as 2, and a policy at 4 instances saw 0.50 where
    /// the exact engine sees 0.42).
    pub(super) busy: f64,
    pub(super) in_system: f64,
    /// The arrival distribution of the last step's mean (a demand series
    /// holds its rate for minutes: building it once per rate, not per step,
    /// gives the same draws).
    poisson: Option<(f64, Poisson<f64>)>,
    /// Erlang C by arrivals for `erlang_slots` slots (NaN: not computed yet).
    /// The same (slots, arrivals) recur step after step while the fleet holds,
    /// and the recursion costs one division per slot.
    erlang: Vec<f64>,
    erlang_slots: u32,
    /// Mean and squared CV of service (an empirical distribution's cost
    /// O(samples) to compute).
    s_mean: f64,
    scv: f64,
}

impl FluidState {
    pub(crate) fn new(service: &crate::dist::ServiceDist) -> Self {
        FluidState {
            s_mean: service.mean(),
            scv: service.scv(),
            ..FluidState::default()
        }
    }

    /// Poisson draw with mean `mean` (> 0).
    fn arrivals(&mut self, mean: f64, rng: &mut crate::rng::SimRng) -> u64 {
        if self.poisson.as_ref().is_none_or(|(m, _)| *m != mean) {
            self.poisson = Poisson::new(mean).ok().map(|p| (mean, p));
        }
        self.poisson
            .as_ref()
            .map_or(0, |(_, p)| p.sample(rng) as u64)
    }

    /// `erlang_c(slots, arrivals * s_mean / STEP_S)`, memoised.
    fn erlang_c(&mut self, slots: u32, arrivals: u64, offered: f64) -> f64 {
        const MEMO_MAX: u64 = 1 << 20;
        if arrivals >= MEMO_MAX {
            return erlang_c(slots, offered);
        }
        if slots != self.erlang_slots {
            self.erlang.clear();
            self.erlang_slots = slots;
        }
        let i = arrivals as usize;
        if i >= self.erlang.len() {
            self.erlang.resize(i + 1, f64::NAN);
        }
        if self.erlang[i].is_nan() {
            self.erlang[i] = erlang_c(slots, offered);
        }
        self.erlang[i]
    }
}

impl Engine<'_> {
    /// One fluid step from `now` to `now + STEP_S`.
    pub(super) fn tick(&mut self) {
        let Some(mut fs) = self.fluid.take() else {
            return;
        };
        let t = self.now;
        let horizon = self.sc.horizon_s();
        let mut arrivals = 0u64;
        if self.arrivals_left > 0 && t < horizon {
            let (rate, _) = self.src.segment(t, &mut self.rng);
            let mean = rate * STEP_S;
            arrivals = if mean <= 0.0 {
                0
            } else {
                fs.arrivals(mean, &mut self.rng)
            };
            if self.arrivals_left != u64::MAX {
                arrivals = arrivals.min(self.arrivals_left);
                self.arrivals_left -= arrivals;
            }
        }
        self.arrived += arrivals;
        self.m_arrivals += arrivals;
        self.window.arrivals += arrivals;

        let s_mean = fs.s_mean;
        let slots = self.running_slots as u32;
        let cap = f64::from(slots) / s_mean; // requests/s at full use
        let lambda = arrivals as f64 / STEP_S;
        let offered = lambda * s_mean; // erlangs
        let scv = fs.scv;
        let per_server = self.sc.lb != crate::scenario::LbPolicy::SharedQueue;
        let mut refused = 0u64;
        let mut timed_out = 0u64;
        let served;
        // Queueing wait: either a fixed fluid wait (overload) or a draw from
        // the stationary M/G/c wait distribution.
        let (fixed_wait, p_wait, wait_rate) = if slots == 0 {
            if per_server {
                refused = arrivals;
            } else {
                fs.backlog += arrivals as f64;
            }
            served = 0.0;
            (f64::INFINITY, 1.0, 0.0)
        } else if fs.backlog > 0.0 || offered >= f64::from(slots) {
            let before = fs.backlog;
            let mut after = (before + arrivals as f64 - cap * STEP_S).max(0.0);
            if let Some(m) = self.sc.fleet.max_queue {
                let limit = f64::from(m)
                    * if per_server {
                        f64::from(self.n_running)
                    } else {
                        1.0
                    };
                if after > limit {
                    refused = ((after - limit).round() as u64).min(arrivals);
                    after -= refused as f64;
                }
            }
            if let Some(to) = self.sc.fleet.timeout_s {
                let limit = cap * to;
                if after > limit {
                    timed_out = (after - limit).round() as u64;
                    after = limit;
                }
            }
            served = (before + arrivals as f64 - after - (refused + timed_out) as f64).max(0.0);
            fs.backlog = after;
            (0.5 * (before + after) / cap, 1.0, 0.0)
        } else {
            let pw = fs.erlang_c(slots, arrivals, offered);
            // Allen–Cunneen: scale the M/M/c mean wait by (1 + scv) / 2.
            let rate = (cap - lambda) * 2.0 / (1.0 + scv).max(1e-9);
            if let Some(to) = self.sc.fleet.timeout_s {
                timed_out = (arrivals as f64 * pw * (-rate * to).exp()).round() as u64;
            }
            served = (arrivals - timed_out) as f64;
            (0.0, pw, rate)
        };
        let served_n = served.round() as u64;
        let drops = refused + timed_out;
        self.dropped_refused += refused;
        self.dropped_timeout += timed_out;
        self.m_drops += drops;
        self.window.drops += drops;
        self.completed += served_n;
        self.m_completed += served_n;
        self.window.completed += served_n;

        // Latency samples for the requests served this step.
        if served_n > 0 {
            let n = served_n.min(SAMPLES);
            let util = (offered / f64::from(slots.max(1))).min(1.0);
            let slow = match &self.sc.fleet.slowdown {
                Some(sd) if util > sd.knee => 1.0 + sd.factor * (util - sd.knee) / (1.0 - sd.knee),
                _ => 1.0,
            };
            let measured = t >= self.sc.run.warmup_s;
            for k in 0..n {
                let count = served_n / n + u64::from(k < served_n % n);
                let wait = if fixed_wait.is_finite() && p_wait >= 1.0 && wait_rate == 0.0 {
                    fixed_wait
                } else if self.rng.random::<f64>() < p_wait && wait_rate > 0.0 {
                    let e: f64 = self.rng.sample(Exp1);
                    e / wait_rate
                } else {
                    0.0
                };
                let lat = wait + self.sampler.sample(&mut self.rng) * slow;
                self.sum_sojourn += lat * count as f64;
                if measured {
                    self.measured += count;
                    self.sum_wait += wait * count as f64;
                    self.sum_lat += lat * count as f64;
                    self.max_lat = self.max_lat.max(lat);
                    let us = ((lat * 1e6) as u64).max(1);
                    self.hist.saturating_record_n(us, count);
                    self.minute_hist.saturating_record_n(us, count);
                }
            }
        }
        // In system: the backlog plus the requests in service (Little on the slots).
        let busy = (served / STEP_S * s_mean).min(f64::from(slots));
        self.busy_total = busy.round() as u64;
        self.in_system = (fs.backlog + busy).round() as u64;
        fs.busy = busy;
        fs.in_system = fs.backlog + busy;
        self.fluid = Some(fs);
        let more = self.arrivals_left > 0 && t + STEP_S < horizon;
        if more || self.in_system > 0 {
            self.push(t + STEP_S, Ev::Tick);
        } else if self.requests_mode {
            self.finished = true;
        }
    }
}
