//! The exact kernel: every request is simulated, in virtual time.
//!
//! Event queue: a binary heap of `(time, sequence, event)`; the sequence
//! number breaks ties in insertion order, so a seed fixes the run to the bit.
//! Arrivals are not in the heap: the next arrival is one number kept aside and
//! compared with the heap's top, so the heap only holds in-service
//! completions and timers (≈ c entries for an M/M/c queue). Free slots of a
//! shared queue are a stack of server indices, so an arrival finds a server in
//! O(1). Nothing is kept per request once it leaves: latencies go to HDR
//! histograms (one for the run, 3 significant digits; one per minute, 2),
//! sums and counters. The fluid mode's one-second step is kept aside the same
//! way (a time and its sequence number, compared with the heap's top in the
//! heap's own order): it is the most frequent event of a fluid run, and
//! pushing and popping it cost more than the step itself.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crest_autoscaler::{Autoscaler, Policy};
use crest_core::action::InstanceId;
use crest_core::seams::{InstancePhase, InstanceState, Metrics, ServerAdminState, ServerStats};
use crest_core::{Action, AppId, Replicas, ScalingPlan, Timestamp, VirtualClock};
use hdrhistogram::Histogram;
use rand::Rng;
use rand_distr::{Exp1, StandardNormal};

use crate::dist::Sampler;
use crate::error::SimError;
use crate::report::{LittlesLaw, SimReport, TimelinePoint};
use crate::rng::SimRng;
use crate::scenario::{ApiMode, LbPolicy, Mode, RateLimit, Scenario};
use crate::seams::{LbCommand, Mailbox, Shared, SimActuator, SimMetrics};
use crate::traffic::Source;

pub(crate) mod fluid;

/// Longest latency the histograms hold, µs (one hour); longer ones saturate.
const HIST_MAX_US: u64 = 3_600_000_000;

#[derive(Debug, Clone, Copy)]
enum Ev {
    Done {
        server: u32,
        arrival: f64,
        start: f64,
    },
    Ready {
        server: u32,
    },
    Crash {
        server: u32,
    },
    Zone {
        zone: u32,
    },
    Batch,
    Evaluate,
    Minute,
    Tick,
    Stop,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    t: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .t
            .total_cmp(&self.t)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Starting,
    Running,
    Draining,
    Dead,
}

#[derive(Debug, Clone)]
struct Server {
    st: St,
    admin: ServerAdminState,
    weight: u16,
    cw: i64,
    zone: u32,
    busy: u32,
    /// Sum of arrival times of the requests in service (for crash accounting).
    arr_sum: f64,
    queue: VecDeque<f64>,
    served: u64,
}

type Driver = Autoscaler<VirtualClock, SimMetrics, SimActuator, Box<dyn Policy>>;

struct Control {
    driver: Driver,
    clock: VirtualClock,
    mailbox: Shared,
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    t: f64,
    arrivals: u64,
    completed: u64,
    drops: u64,
    busy_area: f64,
    slots_area: f64,
}

#[derive(Debug, Default)]
struct Bucket {
    t0: f64,
    minutes: u32,
    arrivals: u64,
    completed: u64,
    drops: u64,
    worst_p99_ms: f64,
    violations: u32,
}

/// An [`ApiMode::Bucket`] rate limit in virtual time: `cap` tokens, refilled
/// evenly over `per_s`, one per launch.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    cap: f64,
    per_s: f64,
    tokens: f64,
    at: f64,
}

impl TokenBucket {
    fn new(r: RateLimit) -> Self {
        let cap = f64::from(r.instances);
        TokenBucket {
            cap,
            per_s: r.per_s.max(1e-9),
            tokens: cap,
            at: 0.0,
        }
    }

    /// Whole tokens at `now`. A token a rounding error short is a token:
    /// the wait for it would be too short to move the clock.
    fn available(&mut self, now: f64) -> u32 {
        self.tokens = (self.tokens + (now - self.at) * self.cap / self.per_s).min(self.cap);
        self.at = now;
        (self.tokens + 1e-6).floor() as u32
    }

    /// Spend `n` tokens; when the next one is there.
    fn take(&mut self, n: u32) -> f64 {
        self.tokens -= f64::from(n);
        self.at + (1.0 - self.tokens).max(0.0) * self.per_s / self.cap
    }
}

/// Mixed into the seed for the lead-time stream ([`Engine::lead_rng`]).
const LEAD_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;

pub(crate) struct Engine<'a> {
    sc: &'a Scenario,
    rng: SimRng,
    /// Lead-time draws only, so that they do not depend on how many draws
    /// the requests took before them: the exact and fluid engines then give
    /// the same scale-out the same lead time (common random numbers).
    lead_rng: SimRng,
    sampler: Sampler,
    now: f64,
    heap: BinaryHeap<Entry>,
    /// The pending fluid step (`Ev::Tick`), outside the heap: its time and
    /// sequence number. At most one is pending.
    tick_at: Option<Entry>,
    seq: u64,
    events: u64,
    // arrivals
    src: Source,
    next_arrival: f64,
    arrivals_left: u64,
    requests_mode: bool,
    finished: bool,
    // fleet
    servers: Vec<Server>,
    active: Vec<u32>,
    free: Vec<u32>,
    queue: VecDeque<f64>,
    conc: u32,
    n_starting: u32,
    n_running: u32,
    n_draining: u32,
    pending: u32,
    desired: u32,
    billed: u32,
    running_slots: u64,
    busy_total: u64,
    in_system: u64,
    peak_running: u32,
    zone_lost: Vec<bool>,
    next_zone: u32,
    batch_scheduled: bool,
    next_batch_at: f64,
    /// The rate limit when it is a token bucket.
    tokens: Option<TokenBucket>,
    // integrals
    last_t: f64,
    area_n: f64,
    area_busy: f64,
    area_slots: f64,
    area_billed: f64,
    // totals
    arrived: u64,
    completed: u64,
    measured: u64,
    dropped_refused: u64,
    dropped_timeout: u64,
    dropped_crash: u64,
    sum_wait: f64,
    sum_lat: f64,
    sum_sojourn: f64,
    max_lat: f64,
    hist: Histogram<u64>,
    failed: u64,
    // minutes and timeline
    minute_hist: Histogram<u64>,
    m_arrivals: u64,
    m_completed: u64,
    m_drops: u64,
    m_t0: f64,
    minutes: u64,
    violation_minutes: u64,
    last_p99_ms: f64,
    bucket: Bucket,
    bucket_minutes: u32,
    timeline: Vec<TimelinePoint>,
    // autoscaler
    control: Option<Control>,
    window: Window,
    evaluations: u64,
    scale_changes: u64,
    step_errors: u64,
    policy_name: String,
    /// Boxed: a fluid step takes it out and puts it back every second.
    fluid: Option<Box<fluid::FluidState>>,
    /// Bumped whenever a server's phase, weight or balancer state, the
    /// server list or the pending launches change: the autoscaler's
    /// snapshot rebuilds its instance and server lists only then (their
    /// names cost an allocation each) and otherwise refreshes the counters.
    fleet_gen: u64,
    /// `fleet_gen` of the last snapshot and the server behind each of its
    /// server stats.
    snap_gen: u64,
    snap_servers: Vec<u32>,
}

fn new_hist(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, sigfig).expect("static histogram bounds are valid")
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        sc: &'a Scenario,
        seed: u64,
        policy: Option<(Box<dyn Policy>, Option<ScalingPlan>)>,
        timeline_step_s: f64,
        fluid_mode: bool,
    ) -> Result<Self, SimError> {
        let mut rng = SimRng::seed_from(seed);
        let horizon = sc.horizon_s();
        let draw_until = if horizon.is_finite() {
            horizon
        } else {
            expected_duration(sc) * 4.0 + 86_400.0
        };
        let mut src = Source::new(sc, horizon, draw_until, &mut rng);
        let next_arrival = src.next(0.0, &mut rng);
        let app = AppId::try_new(sc.name.clone())
            .or_else(|_| AppId::try_new("sim"))
            .map_err(|e| SimError::invalid("name", e.to_string()))?;
        let (control, policy_name) = match policy {
            None => (None, "none".to_string()),
            Some((p, plan)) => {
                let name = p.name().to_string();
                let mailbox: Shared = Arc::new(Mutex::new(Mailbox::new(app.clone())));
                let clock = VirtualClock::new(sc.start);
                let mut driver = Autoscaler::new(
                    app,
                    clock.clone(),
                    SimMetrics::new(mailbox.clone()),
                    SimActuator::new(mailbox.clone()),
                    p,
                );
                if let Some(plan) = plan {
                    driver = driver.with_plan(plan);
                }
                (
                    Some(Control {
                        driver,
                        clock,
                        mailbox,
                    }),
                    name,
                )
            }
        };
        let zones = sc.fleet.zones.max(1) as usize;
        let mut e = Engine {
            sc,
            rng,
            lead_rng: SimRng::seed_from(seed ^ LEAD_STREAM),
            sampler: sc.fleet.service.sampler(),
            now: 0.0,
            heap: BinaryHeap::with_capacity(1024),
            tick_at: None,
            seq: 0,
            events: 0,
            src,
            next_arrival,
            arrivals_left: sc.run.requests.unwrap_or(u64::MAX),
            requests_mode: sc.run.requests.is_some(),
            finished: false,
            servers: Vec::new(),
            active: Vec::new(),
            free: Vec::new(),
            queue: VecDeque::new(),
            conc: sc.fleet.concurrency,
            n_starting: 0,
            n_running: 0,
            n_draining: 0,
            pending: 0,
            desired: sc.fleet.instances,
            billed: 0,
            running_slots: 0,
            busy_total: 0,
            in_system: 0,
            peak_running: 0,
            zone_lost: vec![false; zones],
            next_zone: 0,
            batch_scheduled: false,
            next_batch_at: 0.0,
            tokens: sc
                .provisioner
                .rate_limit
                .filter(|r| r.mode == ApiMode::Bucket)
                .map(TokenBucket::new),
            last_t: 0.0,
            area_n: 0.0,
            area_busy: 0.0,
            area_slots: 0.0,
            area_billed: 0.0,
            arrived: 0,
            completed: 0,
            measured: 0,
            dropped_refused: 0,
            dropped_timeout: 0,
            dropped_crash: 0,
            sum_wait: 0.0,
            sum_lat: 0.0,
            sum_sojourn: 0.0,
            max_lat: 0.0,
            hist: new_hist(3),
            failed: 0,
            minute_hist: new_hist(2),
            m_arrivals: 0,
            m_completed: 0,
            m_drops: 0,
            m_t0: 0.0,
            minutes: 0,
            violation_minutes: 0,
            last_p99_ms: f64::NAN,
            bucket: Bucket::default(),
            bucket_minutes: (timeline_step_s / 60.0).round().max(1.0) as u32,
            timeline: Vec::new(),
            control,
            window: Window::default(),
            evaluations: 0,
            scale_changes: 0,
            step_errors: 0,
            policy_name,
            fluid: fluid_mode.then(|| Box::new(fluid::FluidState::new(sc))),
            fleet_gen: 0,
            snap_gen: u64::MAX,
            snap_servers: Vec::new(),
        };
        for _ in 0..sc.fleet.instances {
            let idx = e.new_server(St::Starting);
            e.make_running(idx);
        }
        if e.arrivals_left == 0 || e.fluid.is_some() {
            e.next_arrival = f64::INFINITY;
        }
        if e.fluid.is_some() {
            e.push(0.0, Ev::Tick);
        }
        e.push(60.0, Ev::Minute);
        if horizon.is_finite() {
            e.push(horizon, Ev::Stop);
        }
        for z in &sc.failures.zone_outages {
            e.push(z.at_s, Ev::Zone { zone: z.zone });
        }
        if e.control.is_some() {
            // The first evaluation waits one interval: at t = 0 there are no
            // metrics yet, and a policy would read an idle fleet.
            e.push(sc.autoscaler.evaluate_every_s, Ev::Evaluate);
        }
        Ok(e)
    }

    #[inline]
    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        let entry = Entry {
            t,
            seq: self.seq,
            ev,
        };
        if matches!(ev, Ev::Tick) {
            debug_assert!(self.tick_at.is_none(), "one fluid step pending at a time");
            self.tick_at = Some(entry);
        } else {
            self.heap.push(entry);
        }
    }

    /// The next event in time (then sequence) order: the heap's top or the
    /// pending fluid step.
    #[inline]
    fn next_event_time(&self) -> f64 {
        let heap = self.heap.peek().map_or(f64::INFINITY, |e| e.t);
        match &self.tick_at {
            Some(tick) => tick.t.min(heap),
            None => heap,
        }
    }

    /// Take the next event: the pending fluid step when it comes before the
    /// heap's top (`Entry`'s order is reversed: greater is earlier).
    #[inline]
    fn pop_event(&mut self) -> Option<Entry> {
        match (&self.tick_at, self.heap.peek()) {
            (Some(tick), Some(top)) if top > tick => self.heap.pop(),
            (Some(_), _) => self.tick_at.take(),
            (None, _) => self.heap.pop(),
        }
    }

    #[inline]
    fn advance(&mut self, t: f64) {
        let dt = t - self.last_t;
        let (n, busy) = match &self.fluid {
            Some(fs) => (fs.in_system, fs.busy),
            None => (self.in_system as f64, self.busy_total as f64),
        };
        self.area_n += n * dt;
        self.area_busy += busy * dt;
        self.area_slots += self.running_slots as f64 * dt;
        self.area_billed += f64::from(self.billed) * dt;
        self.last_t = t;
        self.now = t;
    }

    /// Run to the end.
    pub(crate) fn run(&mut self) -> Result<(), SimError> {
        loop {
            let th = self.next_event_time();
            if self.next_arrival <= th {
                if self.next_arrival.is_infinite() {
                    break;
                }
                self.events += 1;
                let t = self.next_arrival;
                self.advance(t);
                self.arrival(t);
            } else {
                let Some(e) = self.pop_event() else { break };
                self.events += 1;
                self.advance(e.t);
                match e.ev {
                    Ev::Done {
                        server,
                        arrival,
                        start,
                    } => self.done(server as usize, arrival, start),
                    Ev::Ready { server } => self.ready(server as usize),
                    Ev::Crash { server } => {
                        if self.servers[server as usize].st != St::Dead {
                            self.fail(server as usize);
                            self.after_failure();
                        }
                    }
                    Ev::Zone { zone } => self.zone_outage(zone),
                    Ev::Batch => self.batch(),
                    Ev::Evaluate => self.evaluate()?,
                    Ev::Minute => {
                        self.close_minute();
                        self.push(self.now + 60.0, Ev::Minute);
                    }
                    Ev::Tick => self.tick(),
                    Ev::Stop => break,
                }
            }
            if self.finished {
                break;
            }
        }
        if self.now > self.m_t0 && (self.m_arrivals > 0 || self.m_completed > 0 || self.m_drops > 0)
        {
            self.close_minute();
        }
        self.flush_bucket();
        Ok(())
    }

    // ---- requests -------------------------------------------------------

    #[inline]
    fn arrival(&mut self, t: f64) {
        self.arrived += 1;
        self.m_arrivals += 1;
        self.window.arrivals += 1;
        self.in_system += 1;
        if self.arrivals_left != u64::MAX {
            self.arrivals_left -= 1;
        }
        self.next_arrival = if self.arrivals_left == 0 {
            // Arrivals are over: stop once the system drains, or a day later.
            self.push(t + 86_400.0, Ev::Stop);
            f64::INFINITY
        } else {
            self.src.next(t, &mut self.rng)
        };
        if self.sc.lb == LbPolicy::SharedQueue {
            while let Some(idx) = self.free.pop() {
                let s = &self.servers[idx as usize];
                if s.busy < self.conc && eligible(s) {
                    self.start(idx as usize, t);
                    return;
                }
            }
            if self
                .sc
                .fleet
                .max_queue
                .is_none_or(|m| self.queue.len() < m as usize)
            {
                self.queue.push_back(t);
            } else {
                self.refuse();
            }
        } else {
            let Some(idx) = self.pick() else {
                self.refuse();
                return;
            };
            let s = &mut self.servers[idx];
            if s.busy < self.conc {
                self.start(idx, t);
            } else if self
                .sc
                .fleet
                .max_queue
                .is_none_or(|m| s.queue.len() < m as usize)
            {
                s.queue.push_back(t);
            } else {
                self.refuse();
            }
        }
    }

    fn refuse(&mut self) {
        self.dropped_refused += 1;
        self.in_system -= 1;
        self.m_drops += 1;
        self.window.drops += 1;
        self.check_finished();
    }

    #[inline]
    fn start(&mut self, idx: usize, arrival: f64) {
        let conc = self.conc;
        let s = &mut self.servers[idx];
        s.busy += 1;
        s.arr_sum += arrival;
        let busy = s.busy;
        self.busy_total += 1;
        let mut svc = self.sampler.sample(&mut self.rng);
        if let Some(sd) = &self.sc.fleet.slowdown {
            let u = f64::from(busy) / f64::from(conc);
            if u > sd.knee {
                svc *= 1.0 + sd.factor * (u - sd.knee) / (1.0 - sd.knee);
            }
        }
        let t = self.now + svc;
        self.push(
            t,
            Ev::Done {
                server: idx as u32,
                arrival,
                start: self.now,
            },
        );
    }

    #[inline]
    fn done(&mut self, idx: usize, arrival: f64, start: f64) {
        let now = self.now;
        {
            let s = &mut self.servers[idx];
            if s.st == St::Dead {
                return; // lost in a crash, already counted
            }
            s.busy -= 1;
            s.arr_sum -= arrival;
            s.served += 1;
        }
        self.busy_total -= 1;
        self.in_system -= 1;
        self.completed += 1;
        self.m_completed += 1;
        self.window.completed += 1;
        let lat = now - arrival;
        self.sum_sojourn += lat;
        if arrival >= self.sc.run.warmup_s {
            self.measured += 1;
            self.sum_lat += lat;
            self.sum_wait += start - arrival;
            if lat > self.max_lat {
                self.max_lat = lat;
            }
            let us = ((lat * 1e6) as u64).max(1);
            self.hist.saturating_record(us);
            self.minute_hist.saturating_record(us);
        }
        if self.sc.lb == LbPolicy::SharedQueue {
            if eligible(&self.servers[idx]) {
                match self.pop_shared() {
                    Some(a) => self.start(idx, a),
                    None => self.free.push(idx as u32),
                }
            } else {
                self.check_terminate(idx);
            }
        } else {
            match self.pop_own(idx) {
                Some(a) => self.start(idx, a),
                None => self.check_terminate(idx),
            }
        }
        self.check_finished();
    }

    #[inline]
    fn check_finished(&mut self) {
        if self.requests_mode && self.arrivals_left == 0 && self.in_system == 0 {
            self.finished = true;
        }
    }

    fn time_out(&mut self, arrival: f64) {
        self.dropped_timeout += 1;
        self.in_system -= 1;
        self.m_drops += 1;
        self.window.drops += 1;
        self.sum_sojourn += self.now - arrival;
    }

    #[inline]
    fn pop_shared(&mut self) -> Option<f64> {
        while let Some(a) = self.queue.pop_front() {
            match self.sc.fleet.timeout_s {
                Some(to) if self.now - a > to => self.time_out(a),
                _ => return Some(a),
            }
        }
        None
    }

    fn pop_own(&mut self, idx: usize) -> Option<f64> {
        while let Some(a) = self.servers[idx].queue.pop_front() {
            match self.sc.fleet.timeout_s {
                Some(to) if self.now - a > to => self.time_out(a),
                _ => return Some(a),
            }
        }
        None
    }

    /// Choose a server for a per-server balancer.
    fn pick(&mut self) -> Option<usize> {
        if self.active.is_empty() {
            return None;
        }
        match self.sc.lb {
            LbPolicy::Random => {
                let i = (self.rng.open01() * self.active.len() as f64) as usize;
                Some(self.active[i.min(self.active.len() - 1)] as usize)
            }
            LbPolicy::LeastConnections => {
                let mut best = None;
                let mut best_load = f64::INFINITY;
                for &i in &self.active {
                    let s = &self.servers[i as usize];
                    let load = f64::from(s.busy + s.queue.len() as u32) / f64::from(s.weight);
                    if load < best_load {
                        best_load = load;
                        best = Some(i as usize);
                    }
                }
                best
            }
            LbPolicy::RoundRobin | LbPolicy::SharedQueue => {
                // Smooth weighted round-robin (nginx).
                let mut total = 0i64;
                let mut best: Option<(usize, i64)> = None;
                for &i in &self.active {
                    let s = &mut self.servers[i as usize];
                    s.cw += i64::from(s.weight);
                    total += i64::from(s.weight);
                    if best.is_none_or(|(_, c)| s.cw > c) {
                        best = Some((i as usize, s.cw));
                    }
                }
                let (b, _) = best?;
                self.servers[b].cw -= total;
                Some(b)
            }
        }
    }

    // ---- fleet ----------------------------------------------------------

    fn new_server(&mut self, st: St) -> usize {
        let zones = self.zone_lost.len() as u32;
        let mut zone = self.next_zone % zones;
        for _ in 0..zones {
            if !self.zone_lost[zone as usize] {
                break;
            }
            zone = (zone + 1) % zones;
        }
        self.next_zone = zone + 1;
        self.fleet_gen += 1;
        self.servers.push(Server {
            st,
            admin: ServerAdminState::Ready,
            weight: 1,
            cw: 0,
            zone,
            busy: 0,
            arr_sum: 0.0,
            queue: VecDeque::new(),
            served: 0,
        });
        self.billed += 1;
        if st == St::Starting {
            self.n_starting += 1;
        }
        self.servers.len() - 1
    }

    fn make_running(&mut self, idx: usize) {
        if self.servers[idx].st != St::Starting {
            return;
        }
        self.servers[idx].st = St::Running;
        self.fleet_gen += 1;
        self.n_starting -= 1;
        self.n_running += 1;
        self.peak_running = self.peak_running.max(self.n_running);
        self.running_slots += u64::from(self.conc);
        self.became_eligible(idx);
        let rate = self.sc.failures.crash_rate_per_hour;
        if rate > 0.0 {
            let e: f64 = self.rng.sample(Exp1);
            self.push(
                self.now + e * 3600.0 / rate,
                Ev::Crash { server: idx as u32 },
            );
        }
    }

    fn became_eligible(&mut self, idx: usize) {
        self.rebuild_active();
        if !eligible(&self.servers[idx]) {
            return;
        }
        if self.sc.lb == LbPolicy::SharedQueue {
            while self.servers[idx].busy < self.conc {
                match self.pop_shared() {
                    Some(a) => self.start(idx, a),
                    None => break,
                }
            }
            let free = self.conc - self.servers[idx].busy;
            for _ in 0..free {
                self.free.push(idx as u32);
            }
        }
    }

    fn rebuild_active(&mut self) {
        self.active.clear();
        for (i, s) in self.servers.iter().enumerate() {
            if eligible(s) {
                self.active.push(i as u32);
            }
        }
    }

    fn ready(&mut self, idx: usize) {
        self.make_running(idx);
    }

    fn launch(&mut self) -> Option<f64> {
        if self.zone_lost.iter().all(|l| *l) {
            return None;
        }
        let idx = self.new_server(St::Starting);
        let p = &self.sc.provisioner;
        let mut lead = p.lead_time_s;
        if p.lead_jitter_cv > 0.0 {
            let s2 = (1.0 + p.lead_jitter_cv * p.lead_jitter_cv).ln();
            let z: f64 = self.lead_rng.sample(StandardNormal);
            lead *= (z * s2.sqrt() - s2 / 2.0).exp();
        }
        if p.image_changed {
            lead += p.image_pull_s;
        }
        let t = self.now + lead;
        self.push(t, Ev::Ready { server: idx as u32 });
        Some(t)
    }

    fn batch(&mut self) {
        self.batch_scheduled = false;
        if self.pending == 0 {
            return;
        }
        let limit = self.sc.provisioner.rate_limit;
        let mut n = limit.map_or(self.pending, |r| r.instances.min(self.pending));
        let now = self.now;
        if let Some(b) = &mut self.tokens {
            n = n.min(b.available(now));
        }
        let mut last_ready = self.now;
        let mut launched = 0;
        for _ in 0..n {
            match self.launch() {
                Some(t) => {
                    last_ready = last_ready.max(t);
                    launched += 1;
                }
                None => break,
            }
        }
        self.pending -= launched;
        self.fleet_gen += 1;
        self.next_batch_at = match limit {
            None => self.now,
            Some(r) => match r.mode {
                ApiMode::Async => self.now + r.per_s,
                ApiMode::Sync => (self.now + r.per_s).max(last_ready),
                // The next launch waits for its token.
                ApiMode::Bucket => self.tokens.as_mut().map_or(now, |b| b.take(launched)),
            },
        };
        // A bucket out of tokens launched nothing and waits for the next one
        // (strictly later); anything else that launched nothing cannot
        // launch (every zone lost) and stops.
        let waits_for_token = n == 0 && self.tokens.is_some();
        if self.pending > 0 && (launched > 0 || waits_for_token) {
            self.schedule_batch();
        }
    }

    fn schedule_batch(&mut self) {
        if self.batch_scheduled {
            return;
        }
        self.batch_scheduled = true;
        let t = self.now.max(self.next_batch_at);
        self.push(t, Ev::Batch);
    }

    fn set_desired(&mut self, n: u32) {
        self.desired = n;
        self.reconcile();
    }

    /// Bring launched + pending instances to `desired`: launch through the
    /// provisioner, or cancel pending, then starting, then drain serving ones
    /// (newest first).
    fn reconcile(&mut self) {
        let live = self.n_starting + self.n_running + self.pending;
        if self.desired > live {
            self.pending += self.desired - live;
            self.fleet_gen += 1;
            self.schedule_batch();
        } else if self.desired < live {
            let mut excess = live - self.desired;
            let cut = excess.min(self.pending);
            self.pending -= cut;
            self.fleet_gen += 1;
            excess -= cut;
            for idx in (0..self.servers.len()).rev() {
                if excess == 0 {
                    break;
                }
                if self.servers[idx].st == St::Starting {
                    self.servers[idx].st = St::Dead;
                    self.fleet_gen += 1;
                    self.n_starting -= 1;
                    self.billed -= 1;
                    excess -= 1;
                }
            }
            for idx in (0..self.servers.len()).rev() {
                if excess == 0 {
                    break;
                }
                if self.servers[idx].st == St::Running {
                    self.start_drain(idx);
                    excess -= 1;
                }
            }
        }
    }

    fn start_drain(&mut self, idx: usize) {
        self.servers[idx].st = St::Draining;
        self.fleet_gen += 1;
        self.n_running -= 1;
        self.n_draining += 1;
        self.running_slots -= u64::from(self.conc);
        self.rebuild_active();
        self.check_terminate(idx);
    }

    fn check_terminate(&mut self, idx: usize) {
        let s = &mut self.servers[idx];
        if s.st == St::Draining && s.busy == 0 && s.queue.is_empty() {
            s.st = St::Dead;
            self.fleet_gen += 1;
            self.n_draining -= 1;
            self.billed -= 1;
        }
    }

    /// An instance fails: what it was serving or queueing is lost.
    fn fail(&mut self, idx: usize) {
        let now = self.now;
        let conc = u64::from(self.conc);
        let s = &mut self.servers[idx];
        let lost_busy = u64::from(s.busy);
        let mut lost = lost_busy;
        let mut sojourn = lost_busy as f64 * now - s.arr_sum;
        for a in s.queue.drain(..) {
            lost += 1;
            sojourn += now - a;
        }
        let st = s.st;
        s.st = St::Dead;
        self.fleet_gen += 1;
        s.busy = 0;
        s.arr_sum = 0.0;
        self.busy_total -= lost_busy;
        self.in_system -= lost;
        self.dropped_crash += lost;
        self.m_drops += lost;
        self.window.drops += lost;
        self.sum_sojourn += sojourn;
        match st {
            St::Starting => self.n_starting -= 1,
            St::Running => {
                self.n_running -= 1;
                self.running_slots -= conc;
            }
            St::Draining => self.n_draining -= 1,
            St::Dead => return,
        }
        self.billed -= 1;
        self.failed += 1;
        self.rebuild_active();
        self.check_finished();
    }

    fn after_failure(&mut self) {
        if self.sc.provisioner.replace_failed {
            self.reconcile();
        }
    }

    fn zone_outage(&mut self, zone: u32) {
        if let Some(l) = self.zone_lost.get_mut(zone as usize) {
            *l = true;
        }
        for idx in 0..self.servers.len() {
            if self.servers[idx].zone == zone && self.servers[idx].st != St::Dead {
                self.fail(idx);
            }
        }
        self.after_failure();
    }

    // ---- minutes --------------------------------------------------------

    fn capacity_rps(&self) -> f64 {
        self.running_slots as f64 / self.sc.fleet.service.mean()
    }

    fn close_minute(&mut self) {
        // A fluid minute that skipped its samples has no p99 (FluidLatency).
        let skipped = self.settle_fluid_minute();
        let p99_ms = if self.m_completed > 0 && !skipped {
            self.minute_hist.value_at_quantile(0.99) as f64 / 1000.0
        } else {
            f64::NAN
        };
        let slo = &self.sc.slo;
        let drop_frac = if self.m_arrivals > 0 {
            self.m_drops as f64 / self.m_arrivals as f64
        } else if self.m_drops > 0 {
            1.0
        } else {
            0.0
        };
        let violated = (p99_ms > slo.p99_ms)
            || drop_frac > slo.max_drop_fraction
            || (self.m_arrivals > 0 && self.m_completed == 0);
        self.minutes += 1;
        if violated {
            self.violation_minutes += 1;
        }
        if self.m_completed > 0 && !skipped {
            self.last_p99_ms = p99_ms;
        }
        let b = &mut self.bucket;
        if b.minutes == 0 {
            b.t0 = self.m_t0;
            b.worst_p99_ms = f64::NAN;
        }
        b.minutes += 1;
        b.arrivals += self.m_arrivals;
        b.completed += self.m_completed;
        b.drops += self.m_drops;
        if p99_ms.is_finite() && (b.worst_p99_ms.is_nan() || b.worst_p99_ms < p99_ms) {
            b.worst_p99_ms = p99_ms;
        }
        b.violations += u32::from(violated);
        self.m_arrivals = 0;
        self.m_completed = 0;
        self.m_drops = 0;
        self.minute_hist.reset();
        self.m_t0 = self.now;
        if self.bucket.minutes >= self.bucket_minutes {
            self.flush_bucket();
        }
    }

    fn flush_bucket(&mut self) {
        if self.bucket.minutes == 0 {
            return;
        }
        let b = std::mem::take(&mut self.bucket);
        let span = (self.now - b.t0).max(1e-9);
        self.timeline.push(TimelinePoint {
            t_s: b.t0,
            at_ms: self.sc.start.millis() + (b.t0 * 1000.0) as i64,
            demand: b.arrivals as f64 / span,
            capacity: self.capacity_rps(),
            instances: self.n_running,
            starting: self.n_starting + self.pending,
            desired: self.desired,
            p99_ms: b.worst_p99_ms,
            drops: b.drops,
            completed: b.completed,
            slo_violations: b.violations,
        });
    }

    // ---- autoscaler -----------------------------------------------------

    fn snapshot(&mut self, mb: &mut Mailbox) {
        let at = self.timestamp(self.now);
        mb.fleet.at = at;
        mb.fleet.desired = Replicas(self.desired);
        if self.snap_gen == self.fleet_gen {
            for (stats, &i) in mb.servers.iter_mut().zip(&self.snap_servers) {
                let s = &self.servers[i as usize];
                stats.scur = u64::from(s.busy);
                stats.qcur = s.queue.len() as u64;
                stats.req_tot = s.served;
            }
        } else {
            self.snap_gen = self.fleet_gen;
            self.snap_servers.clear();
            mb.fleet.instances.clear();
            mb.servers.clear();
            for (i, s) in self.servers.iter().enumerate() {
                let phase = match s.st {
                    St::Starting => InstancePhase::Starting,
                    St::Running => InstancePhase::Running,
                    St::Draining => InstancePhase::Draining,
                    St::Dead => continue,
                };
                let id = InstanceId(crest_core::action::format_compact!("sim-{i}"));
                let name = id.to_string();
                mb.fleet.instances.push(InstanceState {
                    id,
                    phase,
                    addr: None,
                });
                if s.st != St::Starting {
                    self.snap_servers.push(i as u32);
                    mb.servers.push(ServerStats {
                        name,
                        weight: s.weight,
                        status: match (s.st, s.admin) {
                            (St::Draining, _) | (_, ServerAdminState::Drain) => "DRAIN".into(),
                            (_, ServerAdminState::Maint) => "MAINT".into(),
                            _ => "UP".into(),
                        },
                        scur: u64::from(s.busy),
                        qcur: s.queue.len() as u64,
                        req_tot: s.served,
                        ..ServerStats::default()
                    });
                }
            }
            for k in 0..self.pending {
                mb.fleet.instances.push(InstanceState {
                    id: InstanceId(crest_core::action::format_compact!("sim-pending-{k}")),
                    phase: InstancePhase::Starting,
                    addr: None,
                });
            }
        }
        let dt = (self.now - self.window.t).max(1e-9);
        let arrivals = self.window.arrivals as f64;
        let slots = self.area_slots - self.window.slots_area;
        mb.metrics = Metrics {
            at,
            demand_rps: arrivals / dt,
            throughput_rps: self.window.completed as f64 / dt,
            p99_ms: self.last_p99_ms,
            error_rate: if arrivals > 0.0 {
                self.window.drops as f64 / arrivals
            } else {
                0.0
            },
            utilisation: if slots > 0.0 {
                ((self.area_busy - self.window.busy_area) / slots).clamp(0.0, 1.0)
            } else if self.in_system > 0 {
                1.0
            } else {
                0.0
            },
            running: self.n_running,
        };
    }

    fn timestamp(&self, t: f64) -> Timestamp {
        self.sc.start.add_millis((t * 1000.0).round() as i64)
    }

    fn evaluate(&mut self) -> Result<(), SimError> {
        let Some(mut ctl) = self.control.take() else {
            return Ok(());
        };
        let result = self.evaluate_with(&mut ctl);
        self.control = Some(ctl);
        result
    }

    fn evaluate_with(&mut self, ctl: &mut Control) -> Result<(), SimError> {
        {
            let mut mb = ctl
                .mailbox
                .lock()
                .map_err(|_| SimError::invalid("autoscaler", "the seam mailbox was poisoned"))?;
            self.snapshot(&mut mb);
        }
        ctl.clock.set(self.timestamp(self.now));
        let outcome = {
            let fut = ctl.driver.step();
            let mut fut = pin!(fut);
            let mut cx = Context::from_waker(Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(r) => r,
                Poll::Pending => return Err(SimError::PendingFuture { at_s: self.now }),
            }
        };
        self.evaluations += 1;
        let next = match outcome {
            Ok(d) => d
                .evaluate_next
                .map(|t| (t.millis() - self.sc.start.millis()) as f64 / 1000.0),
            Err(_) => {
                self.step_errors += 1;
                None
            }
        };
        let (actions, lb) = {
            let mut mb = ctl
                .mailbox
                .lock()
                .map_err(|_| SimError::invalid("autoscaler", "the seam mailbox was poisoned"))?;
            (std::mem::take(&mut mb.actions), std::mem::take(&mut mb.lb))
        };
        for a in actions {
            self.apply(&a);
        }
        for c in lb {
            self.apply_lb(&c);
        }
        self.window = Window {
            t: self.now,
            arrivals: 0,
            completed: 0,
            drops: 0,
            busy_area: self.area_busy,
            slots_area: self.area_slots,
        };
        let every = self.sc.autoscaler.evaluate_every_s;
        let mut t = self.now + every;
        if let Some(n) = next
            && n > self.now + 1e-9
            && n < t
        {
            t = n;
        }
        self.push(t, Ev::Evaluate);
        Ok(())
    }

    fn server_index(&self, name: &str) -> Option<usize> {
        let i: usize = name.strip_prefix("sim-")?.parse().ok()?;
        (i < self.servers.len()).then_some(i)
    }

    fn apply(&mut self, a: &Action) {
        match a {
            Action::SetReplicas { replicas, .. } if replicas.0 != self.desired => {
                self.scale_changes += 1;
                self.set_desired(replicas.0);
            }
            Action::SetWeight {
                instance, weight, ..
            } => self.apply_lb(&LbCommand::Weight {
                server: instance.to_string(),
                weight: *weight,
            }),
            Action::Drain { instance, .. } | Action::Deregister { instance, .. } => {
                self.apply_lb(&LbCommand::State {
                    server: instance.to_string(),
                    state: ServerAdminState::Drain,
                })
            }
            _ => {}
        }
    }

    fn apply_lb(&mut self, c: &LbCommand) {
        let name = match c {
            LbCommand::Weight { server, .. } | LbCommand::State { server, .. } => server,
        };
        let Some(idx) = self.server_index(name) else {
            return;
        };
        match c {
            LbCommand::Weight { weight, .. } => self.servers[idx].weight = *weight,
            LbCommand::State { state, .. } => self.servers[idx].admin = *state,
        }
        self.fleet_gen += 1;
        self.became_eligible(idx);
    }

    // ---- report ---------------------------------------------------------

    pub(crate) fn report(&self, seed: u64, wall_s: f64, timeline_step_s: f64) -> SimReport {
        let m = self.measured.max(1) as f64;
        let q = |p: f64| {
            if self.measured == 0 {
                f64::NAN
            } else {
                self.hist.value_at_quantile(p) as f64 / 1e6
            }
        };
        let t = self.now.max(1e-9);
        let departed =
            self.completed + self.dropped_refused + self.dropped_timeout + self.dropped_crash;
        let l = self.area_n / t;
        let lambda = departed as f64 / t;
        let w = if departed > 0 {
            self.sum_sojourn / departed as f64
        } else {
            0.0
        };
        let rel = if l > 0.0 {
            (l - lambda * w).abs() / l
        } else {
            0.0
        };
        SimReport {
            scenario: self.sc.name.clone(),
            mode: if self.fluid.is_some() {
                Mode::Fluid
            } else {
                Mode::Exact
            },
            seed,
            policy: self.policy_name.clone(),
            platform: self.sc.provisioner.platform.clone(),
            requests_arrived: self.arrived,
            requests_completed: self.completed,
            requests_dropped: self.dropped_refused + self.dropped_timeout + self.dropped_crash,
            dropped_refused: self.dropped_refused,
            dropped_timeout: self.dropped_timeout,
            dropped_crash: self.dropped_crash,
            requests_in_flight_at_end: self.in_system,
            mean_wait_s: if self.measured > 0 {
                self.sum_wait / m
            } else {
                f64::NAN
            },
            mean_latency_s: if self.measured > 0 {
                self.sum_lat / m
            } else {
                f64::NAN
            },
            p50_latency_s: q(0.5),
            p90_latency_s: q(0.9),
            p99_latency_s: q(0.99),
            p999_latency_s: q(0.999),
            max_latency_s: self.max_lat,
            percentile_relative_error: 0.001,
            events_processed: self.events,
            wall_s,
            sim_duration_s: self.now,
            slo: self.sc.slo,
            slo_violation_minutes: self.violation_minutes,
            minutes: self.minutes,
            instance_hours: self.area_billed / 3600.0,
            peak_instances: self.peak_running,
            utilisation: if self.area_slots > 0.0 {
                self.area_busy / self.area_slots
            } else {
                0.0
            },
            evaluations: self.evaluations,
            scale_changes: self.scale_changes,
            instances_failed: self.failed,
            littles_law: LittlesLaw {
                l,
                lambda,
                w,
                relative_error: rel,
            },
            timeline_step_s,
            timeline: self.timeline.clone(),
        }
    }
}

#[inline]
fn eligible(s: &Server) -> bool {
    s.st == St::Running && s.admin == ServerAdminState::Ready && s.weight > 0
}

/// Roughly how long a run lasts, seconds (for timeline resolution and for
/// drawing random bursts when the horizon is open).
pub(crate) fn expected_duration(sc: &Scenario) -> f64 {
    let h = sc.horizon_s();
    if h.is_finite() {
        return h;
    }
    let rate = match &sc.traffic.demand {
        crate::scenario::Demand::Constant { rate_per_s } => rate_per_s * sc.traffic.scale,
        crate::scenario::Demand::Series(_) => 1.0,
    };
    match sc.run.requests {
        Some(n) if rate > 0.0 => n as f64 / rate,
        _ => 3600.0,
    }
}
