//! The fluid (aggregate) request model: one-second steps instead of one
//! event per request, for runs of billions of requests. The fleet around it
//! (provisioner, failures, balancer state, autoscaler, minutes) is the exact
//! engine's, unchanged. See the crate docs for the approximation.

use rand::Rng;
use rand_distr::{Distribution, Exp1, Poisson};

use super::{Engine, Ev};
use crate::dist::ServiceDist;
use crate::scenario::{FluidLatency, Scenario};
use crate::theory::erlang_c;

/// Slot counts whose memo tables are kept at once (a few MB at most).
const MEMO_TABLES: usize = 64;
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
    /// With [`FluidLatency::AtRisk`]: the service tail and the latency the
    /// tail is judged at.
    tail: Option<Tail>,
    /// Bound on P(latency > the SLO) by arrivals, for `erlang_slots` slots.
    tail_memo: Vec<f64>,
    /// The two tables above for other slot counts, kept when the fleet
    /// changes size: a fleet that moves between a few sizes (a gate
    /// scenario's rough demand, a policy's corrections) finds them again
    /// instead of recomputing every entry (both are functions of slots and
    /// arrivals alone, so the results are the same).
    memo_by_slots: std::collections::BTreeMap<u32, (Vec<f64>, Vec<f64>)>,
    /// This minute's stationary steps, their samples not drawn yet.
    deferred: Vec<Deferred>,
    /// A step of this minute has drawn its samples already.
    minute_sampled: bool,
}

/// A stationary step whose latency samples wait for its minute's close.
#[derive(Debug, Clone, Copy)]
struct Deferred {
    served: u64,
    p_wait: f64,
    wait_rate: f64,
    slow: f64,
    measured: bool,
    /// Bound on the share of its requests slower than the SLO.
    tail: f64,
}

/// P(service > y), and the latency a minute's p99 is compared with.
#[derive(Debug, Clone)]
struct Tail {
    service: ServiceTail,
    /// 98 % of the SLO: a latency within the 1 % width of the SLO's
    /// histogram bucket can read as above it.
    at_s: f64,
}

#[derive(Debug, Clone)]
enum ServiceTail {
    Exp(f64),
    Det(f64),
    LogNormal { mu: f64, sigma: f64 },
    Empirical(Vec<f64>),
}

impl ServiceTail {
    fn new(d: &ServiceDist) -> Self {
        match d {
            ServiceDist::Exp { mean_s } => ServiceTail::Exp(*mean_s),
            ServiceDist::Deterministic { mean_s } => ServiceTail::Det(*mean_s),
            ServiceDist::Lognormal { mean_s, cv } => {
                let s2 = (1.0 + cv * cv).ln();
                ServiceTail::LogNormal {
                    mu: mean_s.ln() - s2 / 2.0,
                    sigma: s2.sqrt(),
                }
            }
            ServiceDist::Empirical { samples_s } => {
                let mut v = samples_s.clone();
                v.sort_by(f64::total_cmp);
                ServiceTail::Empirical(v)
            }
        }
    }

    /// P(service > y).
    fn above(&self, y: f64) -> f64 {
        if y <= 0.0 {
            return 1.0;
        }
        match self {
            ServiceTail::Exp(m) => (-y / m).exp(),
            ServiceTail::Det(m) => f64::from(u8::from(*m > y)),
            ServiceTail::LogNormal { mu, sigma } => {
                0.5 * erfc((y.ln() - mu) / (sigma * std::f64::consts::SQRT_2))
            }
            ServiceTail::Empirical(v) => {
                let below = v.partition_point(|x| *x <= y);
                (v.len() - below) as f64 / v.len().max(1) as f64
            }
        }
    }
}

/// The complementary error function (Numerical Recipes' `erfcc`, relative
/// error below 1.2·10⁻⁷ everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

impl Tail {
    /// An upper bound on P(W + S·slow > `at_s`) for a wait W that is 0 with
    /// probability 1 - `p_wait` and exponential with rate `wait_rate`
    /// otherwise: the wait's range cut into 16 slices, each taking the
    /// service tail at its upper end (the tail falls as the wait grows).
    fn bound(&self, p_wait: f64, wait_rate: f64, slow: f64) -> f64 {
        const SLICES: u32 = 16;
        let x = self.at_s;
        let s = |y: f64| self.service.above(y / slow);
        let mut q = (1.0 - p_wait) * s(x);
        if p_wait > 0.0 {
            if wait_rate <= 0.0 {
                return 1.0;
            }
            let mut below = 0.0;
            for k in 1..=SLICES {
                let w = x * f64::from(k) / f64::from(SLICES);
                let cdf = -(-wait_rate * w).exp_m1();
                q += p_wait * (cdf - below) * s(x - w);
                below = cdf;
            }
            q += p_wait * (1.0 - below);
        }
        q.min(1.0)
    }
}

impl FluidState {
    pub(crate) fn new(sc: &Scenario) -> Self {
        let service = &sc.fleet.service;
        FluidState {
            s_mean: service.mean(),
            scv: service.scv(),
            tail: (sc.run.fluid_latency == FluidLatency::AtRisk).then(|| Tail {
                service: ServiceTail::new(service),
                at_s: 0.98 * sc.slo.p99_ms / 1000.0,
            }),
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
            if self.memo_by_slots.len() >= MEMO_TABLES {
                self.memo_by_slots.clear();
            }
            let old = (
                std::mem::take(&mut self.erlang),
                std::mem::take(&mut self.tail_memo),
            );
            self.memo_by_slots.insert(self.erlang_slots, old);
            (self.erlang, self.tail_memo) = self.memo_by_slots.remove(&slots).unwrap_or_default();
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

    /// The tail bound of a stationary step (after [`Self::erlang_c`] for
    /// the same slots and arrivals: both are functions of them alone).
    fn tail_bound(&mut self, arrivals: u64, p_wait: f64, wait_rate: f64, slow: f64) -> f64 {
        let Some(tail) = &self.tail else {
            return 1.0;
        };
        let i = arrivals as usize;
        if i >= self.erlang.len() {
            return tail.bound(p_wait, wait_rate, slow);
        }
        if i >= self.tail_memo.len() {
            self.tail_memo.resize(i + 1, f64::NAN);
        }
        if self.tail_memo[i].is_nan() {
            self.tail_memo[i] = tail.bound(p_wait, wait_rate, slow);
        }
        self.tail_memo[i]
    }
}

/// Whether a minute of deferred steps may skip its samples: with `SAMPLES`
/// samples per step weighted by its requests, the minute's p99 exceeds the
/// SLO only if at least `k` samples do (1 % of the minute's requests over
/// the heaviest sample weight); the count of such samples is a sum of
/// independent Bernoulli draws with mean `mu`, and Chernoff's bound
/// P(N >= k) <= e^-mu (e mu / k)^k must fall below 10⁻⁹.
fn may_skip(steps: &[Deferred]) -> bool {
    let mut mu = 0.0;
    let mut mass = 0u64;
    let mut w_max = 1u64;
    for d in steps {
        let n = d.served.min(SAMPLES);
        mu += n as f64 * d.tail;
        mass += d.served;
        w_max = w_max.max(d.served.div_ceil(n.max(1)));
    }
    if mu <= 0.0 {
        return true;
    }
    let k = ((0.01 * mass as f64) / w_max as f64).floor().max(1.0);
    k > mu && -mu + k * (1.0 + mu.ln() - k.ln()) < -20.7
}

impl Engine<'_> {
    /// Draw `SAMPLES` latencies (fewer if fewer requests) for `served`
    /// requests, each weighted by its share, into the run's and the
    /// minute's histograms and sums.
    fn sample_latencies(
        &mut self,
        served: u64,
        fixed_wait: f64,
        p_wait: f64,
        wait_rate: f64,
        slow: f64,
        measured: bool,
    ) {
        let n = served.min(SAMPLES);
        for k in 0..n {
            let count = served / n + u64::from(k < served % n);
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

    /// At a minute's close: draw the deferred steps' samples, unless the
    /// whole minute was deferred and [`may_skip`] says its p99 cannot reach
    /// the SLO; skipped requests count at their expected latency. Whether
    /// the minute skipped its samples (it then has none).
    pub(super) fn settle_fluid_minute(&mut self) -> bool {
        let Some(mut fs) = self.fluid.take() else {
            return false;
        };
        let steps = std::mem::take(&mut fs.deferred);
        let skip = !fs.minute_sampled && !steps.is_empty() && may_skip(&steps);
        if skip {
            let s_mean = fs.s_mean;
            for d in &steps {
                let wait = if d.wait_rate > 0.0 {
                    d.p_wait / d.wait_rate
                } else {
                    0.0
                };
                let lat = wait + s_mean * d.slow;
                let c = d.served as f64;
                self.sum_sojourn += lat * c;
                if d.measured {
                    self.measured += d.served;
                    self.sum_wait += wait * c;
                    self.sum_lat += lat * c;
                }
            }
        } else {
            for d in &steps {
                self.sample_latencies(d.served, 0.0, d.p_wait, d.wait_rate, d.slow, d.measured);
            }
        }
        fs.deferred = steps;
        fs.deferred.clear();
        fs.minute_sampled = false;
        self.fluid = Some(fs);
        skip
    }

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
        let mut stationary = false;
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
            stationary = true;
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
            let util = (offered / f64::from(slots.max(1))).min(1.0);
            let slow = match &self.sc.fleet.slowdown {
                Some(sd) if util > sd.knee => 1.0 + sd.factor * (util - sd.knee) / (1.0 - sd.knee),
                _ => 1.0,
            };
            let measured = t >= self.sc.run.warmup_s;
            if stationary && fs.tail.is_some() {
                let tail = fs.tail_bound(arrivals, p_wait, wait_rate, slow);
                fs.deferred.push(Deferred {
                    served: served_n,
                    p_wait,
                    wait_rate,
                    slow,
                    measured,
                    tail,
                });
            } else {
                fs.minute_sampled = true;
                self.sample_latencies(served_n, fixed_wait, p_wait, wait_rate, slow, measured);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;
    use rand_distr::StandardNormal;

    #[test]
    fn erfc_matches_tabulated_values() {
        for (x, want) in [
            (0.0, 1.0),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (4.0, 1.541_725_790_028_002e-8),
            (-1.0, 1.842_700_792_949_715),
        ] {
            let got = erfc(x);
            assert!(
                (got - want).abs() <= 2e-7 * want,
                "erfc({x}) = {got}, want {want}"
            );
        }
    }

    /// P(W + S > x) by Monte Carlo, W as in the fluid's stationary regime.
    fn monte_carlo(p_wait: f64, rate: f64, mean: f64, cv: f64, x: f64, n: u32) -> f64 {
        let s2: f64 = (1.0 + cv * cv).ln();
        let (mu, sigma) = (mean.ln() - s2 / 2.0, s2.sqrt());
        let mut rng = SimRng::seed_from(3);
        let mut above = 0u32;
        for _ in 0..n {
            let w = if rng.open01() < p_wait {
                let e: f64 = rng.sample(Exp1);
                e / rate
            } else {
                0.0
            };
            let z: f64 = rng.sample(StandardNormal);
            above += u32::from(w + (mu + sigma * z).exp() > x);
        }
        f64::from(above) / f64::from(n)
    }

    #[test]
    fn the_tail_bound_holds_and_is_not_loose() {
        // The backtest's instance (lognormal, CV 0.5, 33 ms mean), 200 ms.
        let tail = Tail {
            service: ServiceTail::new(&ServiceDist::Lognormal {
                mean_s: 1.0 / 30.0,
                cv: 0.5,
            }),
            at_s: 0.2,
        };
        for (p_wait, rate) in [(0.0, 1.0), (0.3, 50.0), (0.6, 20.0), (0.9, 10.0)] {
            let mc = monte_carlo(p_wait, rate, 1.0 / 30.0, 0.5, 0.2, 2_000_000);
            let b = tail.bound(p_wait, rate, 1.0);
            // 2·10⁶ draws: the estimate is good to a few per cent above 10⁻⁴.
            assert!(b >= 0.9 * mc, "p {p_wait} rate {rate}: bound {b} < MC {mc}");
            assert!(
                b <= 3.0 * mc + 2e-5,
                "p {p_wait} rate {rate}: bound {b} >> MC {mc}"
            );
        }
    }

    fn steps(n: usize, served: u64, tail: f64) -> Vec<Deferred> {
        vec![
            Deferred {
                served,
                p_wait: 0.0,
                wait_rate: 0.0,
                slow: 1.0,
                measured: true,
                tail,
            };
            n
        ]
    }

    #[test]
    fn a_minute_skips_its_samples_only_when_its_p99_cannot_reach_the_slo() {
        // Busy minute, thin tail: 1,920 samples, 19 needed above, 0.06 expected.
        assert!(may_skip(&steps(60, 1000, 3e-5)));
        assert!(may_skip(&steps(60, 1000, 0.0)));
        // A tail of 0.5 %: about 10 of the 19 expected.
        assert!(!may_skip(&steps(60, 1000, 5e-3)));
        // A quiet minute: 60 requests, one sample above the SLO is its p99.
        assert!(!may_skip(&steps(60, 1, 3e-5)));
    }
}
