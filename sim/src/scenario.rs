//! A what-if scenario: demand, fleet, balancer, provisioner, failures,
//! autoscaling policy, run length and SLO.
//!
//! Build one in code (the planner's verification gate does) with
//! [`Scenario::poisson`] or [`Scenario::from_demand`] and the `with_*`
//! methods, or read one from TOML with [`crate::config::parse_scenario`].
//! Units live in the names: `_s` seconds, `_per_s` rates, `_ms` milliseconds.

use crest_core::bounds::{DurationSecs, MAX_REPLICAS};
use crest_core::{Series, Timestamp, WorkEstimate, WorkLimits};
use serde::{Deserialize, Serialize};

use crate::dist::ServiceDist;
use crate::error::{Problem, SimError};

/// Where requests come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// The base arrival rate over time.
    pub demand: Demand,
    /// Multiplies the whole demand (what-if "3× normal load").
    pub scale: f64,
    /// Overdispersion: the rate of each interval is multiplied by a Gamma(mean 1,
    /// this coefficient of variation) factor — a Cox process, burstier than
    /// Poisson. 0 disables it.
    pub overdispersion_cv: f64,
    /// Length of an overdispersion interval, seconds.
    pub overdispersion_interval_s: f64,
    /// Flash crowds at known times.
    pub bursts: Vec<Burst>,
    /// Flash crowds at random times (a Poisson process of bursts).
    pub random_bursts: Option<RandomBursts>,
}

/// The base arrival rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Demand {
    /// Homogeneous Poisson arrivals at this rate (requests/s).
    Constant {
        /// Requests per second.
        rate_per_s: f64,
    },
    /// Non-homogeneous Poisson arrivals: the rate (requests/s) is piecewise
    /// constant over each step of the series; the run starts at the series'
    /// start. Missing (NaN) values count as 0.
    Series(Series),
}

/// A flash crowd: the rate is multiplied by `multiplier` for `duration_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    /// Start, seconds since the run start.
    pub at_s: f64,
    /// Length, seconds.
    pub duration_s: f64,
    /// Rate multiplier while it lasts.
    pub multiplier: f64,
}

/// Flash crowds arriving at random (Poisson) times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomBursts {
    /// Expected bursts per day.
    pub per_day: f64,
    /// Length of each, seconds.
    pub duration_s: f64,
    /// Rate multiplier while one lasts.
    pub multiplier: f64,
}

/// Slow-down of an instance near saturation.
///
/// A request that starts when the instance's busy fraction (busy slots /
/// concurrency, counting itself) is `u` takes `1 + factor * max(0, u - knee) /
/// (1 - knee)` times its drawn service time: nothing below the knee, `1 +
/// factor` at full saturation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slowdown {
    /// Busy fraction where slow-down starts (0..1).
    pub knee: f64,
    /// Extra service time at full saturation, as a fraction.
    pub factor: f64,
}

/// The instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// Instances serving at the start.
    pub instances: u32,
    /// Requests one instance serves at once (HAProxy `maxconn`).
    pub concurrency: u32,
    /// Service time of one request.
    pub service: ServiceDist,
    /// Slow-down when saturated.
    pub slowdown: Option<Slowdown>,
    /// A request still queued after this long is dropped (client timeout;
    /// checked when it reaches the head of its queue).
    pub timeout_s: Option<f64>,
    /// Queue length beyond which arrivals are refused (shared queue: total;
    /// per-server balancers: per server).
    pub max_queue: Option<u32>,
    /// Data centres (zones) instances are spread over, round-robin.
    pub zones: u32,
}

impl Fleet {
    /// `instances` instances of `concurrency` slots each.
    pub fn new(instances: u32, concurrency: u32, service: ServiceDist) -> Self {
        Fleet {
            instances,
            concurrency,
            service,
            slowdown: None,
            timeout_s: None,
            max_queue: None,
            zones: 1,
        }
    }

    /// Capacity of one instance in requests/s (below slow-down).
    pub fn per_instance_rps(&self) -> f64 {
        f64::from(self.concurrency) / self.service.mean()
    }
}

/// Load-balancing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LbPolicy {
    /// HAProxy-style: one backend queue, each server takes at most its
    /// `maxconn` (= concurrency) at once. N servers of concurrency 1 form M/M/c.
    #[default]
    SharedQueue,
    /// Smooth weighted round-robin (nginx's), queueing at each server.
    RoundRobin,
    /// Fewest requests in flight (+ queued) at the server.
    LeastConnections,
    /// Uniformly random server.
    Random,
}

/// How instance creations are rate limited by the scheduler API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiMode {
    /// Each batch call blocks until its instances are up; the next batch waits
    /// for that *and* the rate window.
    Sync,
    /// Batches go out once per rate window; instances boot in parallel.
    Async,
    /// A token bucket: `instances` tokens, refilled evenly over the window,
    /// one per launch; a launch waits only for its token, and instances boot
    /// in parallel (the actuator's and the fluid replay's limiter, and the
    /// one crest-planning's backtest replays and gate use).
    Bucket,
}

/// The scheduler API's creation rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Instances per batch.
    pub instances: u32,
    /// Window between batches, seconds.
    pub per_s: f64,
    /// Synchronous or asynchronous batches, or a token bucket.
    pub mode: ApiMode,
}

/// Where instances come from and how long they take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provisioner {
    /// A label for reports ("vm", "container", ...).
    pub platform: String,
    /// Mean time from launch to serving, seconds.
    pub lead_time_s: f64,
    /// Coefficient of variation of the lead time (lognormal); 0 = fixed.
    pub lead_jitter_cv: f64,
    /// Extra time when the base image changed and must be pulled, seconds.
    pub image_pull_s: f64,
    /// Whether the image changed (adds `image_pull_s` to every launch).
    pub image_changed: bool,
    /// Scheduler API rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Replace crashed instances automatically (like a ReplicaSet).
    pub replace_failed: bool,
}

impl Provisioner {
    /// Containers: seconds to start, 150 per 5 minutes through a synchronous API
    /// (the talk's figure).
    pub fn container() -> Self {
        Provisioner {
            platform: "container".into(),
            lead_time_s: 10.0,
            lead_jitter_cv: 0.3,
            image_pull_s: 30.0,
            image_changed: false,
            rate_limit: Some(RateLimit {
                instances: 150,
                per_s: 300.0,
                mode: ApiMode::Sync,
            }),
            replace_failed: true,
        }
    }

    /// Virtual machines: about ten minutes each.
    pub fn vm() -> Self {
        Provisioner {
            platform: "vm".into(),
            lead_time_s: 600.0,
            lead_jitter_cv: 0.2,
            image_pull_s: 0.0,
            image_changed: false,
            rate_limit: None,
            replace_failed: true,
        }
    }

    /// Instances appear at once (theory checks).
    pub fn instant() -> Self {
        Provisioner {
            platform: "instant".into(),
            lead_time_s: 0.0,
            lead_jitter_cv: 0.0,
            image_pull_s: 0.0,
            image_changed: false,
            rate_limit: None,
            replace_failed: true,
        }
    }
}

/// A whole zone (data centre) lost at a time: every instance in it fails and
/// no new instance is placed there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ZoneOutage {
    /// When, seconds since the run start.
    pub at_s: f64,
    /// Which zone (0-based, `< fleet.zones`).
    pub zone: u32,
}

/// Failures injected.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Failures {
    /// Crashes per instance-hour of serving (exponential lifetimes).
    pub crash_rate_per_hour: f64,
    /// Zone outages.
    pub zone_outages: Vec<ZoneOutage>,
}

/// The scaling policy a scenario file names (code can pass any `Policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolicySpec {
    /// No autoscaler at all: the fleet stays as started (fastest).
    None,
    /// `FixedPolicy`.
    Fixed {
        /// Replicas.
        replicas: u32,
    },
    /// `SchedulePolicy` following a plan of `(at_s, replicas)` steps.
    Schedule {
        /// Steps, seconds since the run start.
        steps: Vec<(f64, u32)>,
    },
    /// `TargetTrackingPolicy` (HPA semantics, HPA default behaviour).
    TargetTracking {
        /// "utilisation" or "rps_per_instance".
        metric: String,
        /// Target value.
        target: f64,
        /// Lower bound.
        min: u32,
        /// Upper bound.
        max: u32,
    },
}

/// The autoscaler inside the simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscalerSpec {
    /// The policy.
    pub policy: PolicySpec,
    /// Seconds between evaluations (a policy may ask sooner).
    pub evaluate_every_s: f64,
}

/// How requests are simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Exact below [`Run::fluid_above_requests`] expected requests, fluid above.
    #[default]
    Auto,
    /// Every request is an event.
    Exact,
    /// Aggregate: see the crate docs.
    Fluid,
}

/// Which steps of a fluid run draw latency samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FluidLatency {
    /// Every step draws its 32 samples (the report's percentiles cover the run).
    #[default]
    Sampled,
    /// A minute spent wholly in stationary steps whose latency tail at the
    /// SLO is too thin for its samples to reach the minute's p99 (a bound
    /// below 10⁻⁹, see the crate docs) draws none: it cannot be a violation
    /// minute, and its requests count in the means and Little's law at their
    /// expected latency. Every other minute draws all its samples, from the
    /// same distributions as `sampled`. Violation minutes keep their
    /// statistics; the report's latency percentiles and maximum then cover
    /// only the sampled minutes. For replays that only count violation
    /// minutes (the backtest and its gate).
    AtRisk,
}

/// Run length and mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Stop arrivals after this many requests, then let the system drain.
    pub requests: Option<u64>,
    /// Stop at this simulated time, seconds (default: the demand series' span).
    pub duration_s: Option<f64>,
    /// Requests arriving before this time are not measured (latency, wait).
    pub warmup_s: f64,
    /// Exact, fluid, or auto.
    pub mode: Mode,
    /// In auto mode, go fluid above this many expected requests.
    pub fluid_above_requests: f64,
    /// Seconds per timeline point (a multiple of 60; default: 60, coarsened
    /// so that a timeline has at most 2,000 points).
    pub timeline_step_s: Option<f64>,
    /// Fluid mode's latency samples: every step, or only minutes that could
    /// violate the SLO (see [`FluidLatency`]).
    #[serde(default)]
    pub fluid_latency: FluidLatency,
    /// The largest run [`Scenario::validate`] lets start (`crest sim
    /// --max-events / --max-memory-mb`); not part of a scenario file.
    #[serde(skip)]
    pub limits: WorkLimits,
}

/// The service-level objective a minute is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// p99 latency objective, milliseconds.
    pub p99_ms: f64,
    /// A minute whose dropped fraction exceeds this violates the SLO.
    pub max_drop_fraction: f64,
}

/// A complete what-if scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Name for reports.
    pub name: String,
    /// Wall time of the run start (timeline timestamps, policy clock).
    pub start: Timestamp,
    /// Arrivals.
    pub traffic: Traffic,
    /// Instances.
    pub fleet: Fleet,
    /// Balancer.
    pub lb: LbPolicy,
    /// Provisioner.
    pub provisioner: Provisioner,
    /// Failures.
    pub failures: Failures,
    /// Autoscaler.
    pub autoscaler: AutoscalerSpec,
    /// Run length.
    pub run: Run,
    /// SLO.
    pub slo: Slo,
}

impl Scenario {
    /// Poisson arrivals at `rate_per_s` to 1 instance of concurrency 1 with
    /// exponential service of 1 s; change it with the `with_*` methods.
    pub fn poisson(rate_per_s: f64) -> Self {
        Scenario::with_demand(Demand::Constant { rate_per_s }, Timestamp::EPOCH)
    }

    /// Non-homogeneous Poisson arrivals following `series` (requests/s); the
    /// run starts at the series' start and lasts its span.
    pub fn from_demand(series: Series) -> Self {
        let start = series.start();
        Scenario::with_demand(Demand::Series(series), start)
    }

    fn with_demand(demand: Demand, start: Timestamp) -> Self {
        Scenario {
            name: "scenario".into(),
            start,
            traffic: Traffic {
                demand,
                scale: 1.0,
                overdispersion_cv: 0.0,
                overdispersion_interval_s: 60.0,
                bursts: Vec::new(),
                random_bursts: None,
            },
            fleet: Fleet::new(1, 1, ServiceDist::exp(1.0)),
            lb: LbPolicy::SharedQueue,
            provisioner: Provisioner::instant(),
            failures: Failures::default(),
            autoscaler: AutoscalerSpec {
                policy: PolicySpec::None,
                evaluate_every_s: 15.0,
            },
            run: Run {
                requests: None,
                duration_s: None,
                warmup_s: 0.0,
                mode: Mode::Auto,
                fluid_above_requests: 2e8,
                limits: WorkLimits::DEFAULT,
                timeline_step_s: None,
                fluid_latency: FluidLatency::Sampled,
            },
            slo: Slo {
                p99_ms: 500.0,
                max_drop_fraction: 0.001,
            },
        }
    }

    /// Set the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Set the fleet.
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.fleet = fleet;
        self
    }
    /// Set the balancer.
    pub fn with_lb(mut self, lb: LbPolicy) -> Self {
        self.lb = lb;
        self
    }
    /// Set the provisioner.
    pub fn with_provisioner(mut self, p: Provisioner) -> Self {
        self.provisioner = p;
        self
    }
    /// Set the failures.
    pub fn with_failures(mut self, f: Failures) -> Self {
        self.failures = f;
        self
    }
    /// Set the policy named in the scenario (code may pass its own instead).
    pub fn with_policy(mut self, policy: PolicySpec) -> Self {
        self.autoscaler.policy = policy;
        self
    }
    /// Stop after `n` requests.
    pub fn with_requests(mut self, n: u64) -> Self {
        self.run.requests = Some(n);
        self
    }
    /// Stop at `s` simulated seconds.
    pub fn with_duration_s(mut self, s: f64) -> Self {
        self.run.duration_s = Some(s);
        self
    }
    /// Choose the mode.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.run.mode = mode;
        self
    }
    /// Set which fluid steps draw latency samples.
    pub fn with_fluid_latency(mut self, l: FluidLatency) -> Self {
        self.run.fluid_latency = l;
        self
    }
    /// Set the SLO.
    pub fn with_slo(mut self, p99_ms: f64, max_drop_fraction: f64) -> Self {
        self.slo = Slo {
            p99_ms,
            max_drop_fraction,
        };
        self
    }

    /// The demand's span in seconds (None for constant demand).
    pub fn demand_span_s(&self) -> Option<f64> {
        match &self.traffic.demand {
            Demand::Constant { .. } => None,
            Demand::Series(s) => Some(s.len() as f64 * s.step_s() as f64),
        }
    }

    /// Simulated seconds the run covers at most (arrivals stop then).
    pub fn horizon_s(&self) -> f64 {
        match (self.run.duration_s, self.demand_span_s(), self.run.requests) {
            (Some(d), _, _) => d,
            (None, Some(s), _) => s,
            (None, None, Some(_)) => f64::INFINITY,
            (None, None, None) => 3600.0,
        }
    }

    /// The demand's base rate for a run bounded by a request count (the
    /// constant rate, or 1 for a series: its span bounds the run).
    fn expected_duration_rate(&self) -> f64 {
        match &self.traffic.demand {
            Demand::Constant { rate_per_s } => rate_per_s * self.traffic.scale,
            Demand::Series(_) => 1.0,
        }
    }

    /// Expected arrivals over the run (bursts and overdispersion aside).
    pub fn expected_requests(&self) -> f64 {
        let h = self.horizon_s();
        let from_rate = match &self.traffic.demand {
            Demand::Constant { rate_per_s } => rate_per_s * self.traffic.scale * h,
            Demand::Series(s) => {
                let step = s.step_s() as f64;
                let mut total = 0.0;
                for (i, v) in s.values().iter().enumerate() {
                    let t0 = i as f64 * step;
                    if t0 >= h {
                        break;
                    }
                    let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
                    total += v * step.min(h - t0);
                }
                total * self.traffic.scale
            }
        };
        match self.run.requests {
            Some(n) => from_rate.min(n as f64),
            None => from_rate,
        }
    }

    /// Most instances the run can have at once: the start, or what its
    /// policy may ask for.
    pub fn max_instances(&self) -> u32 {
        let policy = match &self.autoscaler.policy {
            PolicySpec::None => 0,
            PolicySpec::Fixed { replicas } => *replicas,
            PolicySpec::Schedule { steps } => steps.iter().map(|s| s.1).max().unwrap_or(0),
            PolicySpec::TargetTracking { max, .. } => *max,
        };
        self.fleet.instances.max(policy)
    }

    /// What the run would cost, estimated before it starts: events (requests
    /// in exact mode, fluid steps, evaluations, overdispersion intervals,
    /// timeline points, instance start-ups that rescan the fleet) and memory
    /// (the balancer's free-slot list holds instances × concurrency entries).
    pub fn work(&self) -> WorkEstimate {
        let d = crate::engine::expected_duration(self);
        let n = f64::from(self.max_instances());
        let requests = if crate::effective_mode(self) == Mode::Fluid {
            d / crate::engine::fluid::STEP_S * 32.0
        } else {
            self.expected_requests() * 3.0
        };
        let evaluations = match self.autoscaler.policy {
            PolicySpec::None => 0.0,
            _ => d / self.autoscaler.evaluate_every_s,
        };
        let overdispersion = if self.traffic.overdispersion_cv > 0.0 {
            d / self.traffic.overdispersion_interval_s
        } else {
            0.0
        };
        // The default timeline step is coarsened to at most 2,000 points.
        let timeline = self.run.timeline_step_s.map_or(2000.0, |t| d / t);
        let events = requests + evaluations + overdispersion + timeline + n * n;
        let bytes = n * f64::from(self.fleet.concurrency) * 4.0 + n * 128.0 + timeline * 128.0;
        WorkEstimate::new(events, bytes)
    }

    /// Every problem with the scenario, with dotted field paths (no lines).
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |field: &str, message: String| {
            out.push(Problem {
                field: field.into(),
                line: None,
                message,
            })
        };
        let pos = |x: f64| x.is_finite() && x > 0.0;
        let nonneg = |x: f64| x.is_finite() && x >= 0.0;
        match &self.traffic.demand {
            Demand::Constant { rate_per_s } => {
                if !nonneg(*rate_per_s) {
                    bad(
                        "traffic.rate_per_s",
                        format!("expected a finite rate >= 0, found {rate_per_s}"),
                    );
                }
            }
            Demand::Series(s) => {
                if s.is_empty() {
                    bad("traffic", "expected a demand series with values".into());
                }
                if s.values().iter().any(|v| *v < 0.0) {
                    bad("traffic", "expected demand values >= 0 requests/s".into());
                }
            }
        }
        if !nonneg(self.traffic.scale) {
            bad(
                "traffic.scale",
                format!("expected a factor >= 0, found {}", self.traffic.scale),
            );
        }
        if !nonneg(self.traffic.overdispersion_cv) {
            bad(
                "traffic.overdispersion_cv",
                format!(
                    "expected a value >= 0, found {}",
                    self.traffic.overdispersion_cv
                ),
            );
        }
        if !pos(self.traffic.overdispersion_interval_s) {
            bad(
                "traffic.overdispersion_interval_s",
                format!(
                    "expected a time > 0, found {}",
                    self.traffic.overdispersion_interval_s
                ),
            );
        }
        for (i, b) in self.traffic.bursts.iter().enumerate() {
            if !nonneg(b.at_s) {
                bad(
                    &format!("traffic.bursts[{i}].at_s"),
                    format!("expected a time >= 0, found {}", b.at_s),
                );
            }
            if !pos(b.duration_s) {
                bad(
                    &format!("traffic.bursts[{i}].duration_s"),
                    format!("expected a time > 0, found {}", b.duration_s),
                );
            }
            if !nonneg(b.multiplier) {
                bad(
                    &format!("traffic.bursts[{i}].multiplier"),
                    format!("expected a factor >= 0, found {}", b.multiplier),
                );
            }
        }
        if let Some(r) = &self.traffic.random_bursts {
            if !nonneg(r.per_day) {
                bad(
                    "traffic.random_bursts.per_day",
                    format!("expected a rate >= 0, found {}", r.per_day),
                );
            }
            if !pos(r.duration_s) {
                bad(
                    "traffic.random_bursts.duration_s",
                    format!("expected a time > 0, found {}", r.duration_s),
                );
            }
            if !nonneg(r.multiplier) {
                bad(
                    "traffic.random_bursts.multiplier",
                    format!("expected a factor >= 0, found {}", r.multiplier),
                );
            }
        }
        // A fleet that never has an instance serves nothing: every statistic
        // of the run would be NaN.
        let never_serves = match &self.autoscaler.policy {
            PolicySpec::None => self.fleet.instances == 0,
            PolicySpec::Fixed { replicas } => *replicas == 0,
            PolicySpec::Schedule { steps } => {
                self.fleet.instances == 0 && steps.iter().all(|&(_, n)| n == 0)
            }
            PolicySpec::TargetTracking { max, .. } => *max == 0,
        };
        if never_serves {
            bad(
                "fleet.instances",
                format!(
                    "expected at least 1 instance at some point of the run, found {} at the \
                     start and a policy that never adds one: no request could be served",
                    self.fleet.instances
                ),
            );
        }
        if self.fleet.concurrency == 0 {
            bad(
                "fleet.concurrency",
                "expected at least 1 request at once, found 0".into(),
            );
        }
        for (f, m) in self.fleet.service.problems() {
            bad(&format!("fleet.service.{f}"), m);
        }
        if let Some(s) = &self.fleet.slowdown {
            if !(s.knee.is_finite() && (0.0..1.0).contains(&s.knee)) {
                bad(
                    "fleet.slowdown.knee",
                    format!("expected a fraction in [0, 1), found {}", s.knee),
                );
            }
            if !nonneg(s.factor) {
                bad(
                    "fleet.slowdown.factor",
                    format!("expected a value >= 0, found {}", s.factor),
                );
            }
        }
        if let Some(t) = self.fleet.timeout_s
            && !pos(t)
        {
            bad("fleet.timeout_s", format!("expected a time > 0, found {t}"));
        }
        if self.fleet.zones == 0 {
            bad("fleet.zones", "expected at least 1 zone, found 0".into());
        }
        let p = &self.provisioner;
        if !nonneg(p.lead_time_s) {
            bad(
                "provisioner.lead_time_s",
                format!("expected a time >= 0, found {}", p.lead_time_s),
            );
        }
        if !nonneg(p.lead_jitter_cv) {
            bad(
                "provisioner.lead_jitter_cv",
                format!("expected a value >= 0, found {}", p.lead_jitter_cv),
            );
        }
        if !nonneg(p.image_pull_s) {
            bad(
                "provisioner.image_pull_s",
                format!("expected a time >= 0, found {}", p.image_pull_s),
            );
        }
        if let Some(r) = &p.rate_limit {
            if r.instances == 0 {
                bad(
                    "provisioner.rate_limit.instances",
                    "expected at least 1 instance per batch, found 0".into(),
                );
            }
            if !nonneg(r.per_s) {
                bad(
                    "provisioner.rate_limit.per_s",
                    format!("expected a time >= 0, found {}", r.per_s),
                );
            }
        }
        if !nonneg(self.failures.crash_rate_per_hour) {
            bad(
                "failures.crash_rate_per_hour",
                format!(
                    "expected a rate >= 0, found {}",
                    self.failures.crash_rate_per_hour
                ),
            );
        }
        for (i, z) in self.failures.zone_outages.iter().enumerate() {
            if z.zone >= self.fleet.zones {
                bad(
                    &format!("failures.zone_outages[{i}].zone"),
                    format!(
                        "expected a zone below fleet.zones = {}, found {}",
                        self.fleet.zones, z.zone
                    ),
                );
            }
            if !nonneg(z.at_s) {
                bad(
                    &format!("failures.zone_outages[{i}].at_s"),
                    format!("expected a time >= 0, found {}", z.at_s),
                );
            }
        }
        if let Err(e) = DurationSecs::interval("interval", self.autoscaler.evaluate_every_s) {
            bad("autoscaler.evaluate_every_s", e.to_string());
        }
        if self.traffic.overdispersion_cv > 0.0
            && let Err(e) =
                DurationSecs::interval("interval", self.traffic.overdispersion_interval_s)
        {
            bad("traffic.overdispersion_interval_s", e.to_string());
        }
        if let Some(d) = self.run.duration_s
            && let Err(e) = DurationSecs::try_new("duration", d)
        {
            bad("run.duration_s", e.to_string());
        }
        if self.max_instances() > MAX_REPLICAS {
            bad(
                "fleet.instances",
                format!(
                    "expected at most {MAX_REPLICAS} instances (at the start or asked by the \
                     policy), found {}",
                    self.max_instances()
                ),
            );
        }
        if self.horizon_s().is_infinite() && self.expected_duration_rate() <= 0.0 {
            bad(
                "run.requests",
                "the run stops after run.requests arrivals, but the rate is 0: it would never \
                 end; set run.duration_s or a rate > 0"
                    .into(),
            );
        }
        match &self.autoscaler.policy {
            PolicySpec::TargetTracking {
                metric,
                target,
                min,
                max,
            } => {
                if metric != "utilisation" && metric != "rps_per_instance" {
                    bad(
                        "autoscaler.metric",
                        format!(
                            "expected \"utilisation\" or \"rps_per_instance\", found {metric:?}"
                        ),
                    );
                }
                if !pos(*target) {
                    bad(
                        "autoscaler.target",
                        format!("expected a value > 0, found {target}"),
                    );
                }
                if min > max {
                    bad(
                        "autoscaler.min",
                        format!("expected min <= max, found {min} > {max}"),
                    );
                }
            }
            PolicySpec::Schedule { steps } => {
                if steps.windows(2).any(|w| w[1].0 <= w[0].0) {
                    bad(
                        "autoscaler.steps",
                        "expected steps in strictly increasing at_s".into(),
                    );
                }
                if steps.iter().any(|s| !nonneg(s.0)) {
                    bad("autoscaler.steps", "expected every at_s >= 0".into());
                }
            }
            PolicySpec::None | PolicySpec::Fixed { .. } => {}
        }
        if let Some(d) = self.run.duration_s
            && !pos(d)
        {
            bad("run.duration_s", format!("expected a time > 0, found {d}"));
        }
        if self.run.requests == Some(0) {
            bad(
                "run.requests",
                "expected at least 1 request, found 0".into(),
            );
        }
        if matches!(self.traffic.demand, Demand::Constant { .. })
            && self.run.requests.is_none()
            && self.run.duration_s.is_none()
        {
            // Allowed: defaults to one hour; nothing to report.
        }
        if !nonneg(self.run.warmup_s) {
            bad(
                "run.warmup_s",
                format!("expected a time >= 0, found {}", self.run.warmup_s),
            );
        }
        if let Some(t) = self.run.timeline_step_s
            && !(pos(t) && (t / 60.0).fract() == 0.0)
        {
            bad(
                "run.timeline_step_s",
                format!("expected a positive multiple of 60, found {t}"),
            );
        }
        if !pos(self.slo.p99_ms) {
            bad(
                "slo.p99_ms",
                format!("expected a time > 0, found {}", self.slo.p99_ms),
            );
        }
        if !(self.slo.max_drop_fraction.is_finite()
            && (0.0..=1.0).contains(&self.slo.max_drop_fraction))
        {
            bad(
                "slo.max_drop_fraction",
                format!(
                    "expected a fraction in [0, 1], found {}",
                    self.slo.max_drop_fraction
                ),
            );
        }
        out
    }

    /// Check the scenario.
    ///
    /// # Errors
    /// [`SimError::Invalid`] listing every problem.
    pub fn validate(&self) -> Result<(), SimError> {
        let mut problems = self.problems();
        if problems.is_empty()
            && let Err(e) = self.run.limits.check("this scenario", self.work())
        {
            problems.push(Problem {
                field: "run".into(),
                line: None,
                message: e.to_string(),
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::Invalid {
                source_name: self.name.clone(),
                problems,
            })
        }
    }
}
