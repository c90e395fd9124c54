//! The probe controller: step one server's weight up until it saturates,
//! then put every weight back.
//!
//! ```text
//!  recover journal ─▶ read weights ─▶ write journal ─▶ ┌ set weight w ───────────┐
//!                                                      │ settle, then dwell in   │
//!                                                      │ `samples` sub-windows:  │
//!                                                      │ throughput, backlog,    │
//!                                                      │ errors, p99             │
//!                                                      └ stop? ──no──▶ w += step ┘
//!                                                          │yes
//!                      restore + verify weights ◀──────────┘ (also on error / cancel)
//! ```
//!
//! Throughput and offered load come from HAProxy's counters. A server's
//! `req_tot` grows when a request *finishes* (checked on HAProxy 2.6: it
//! plateaus at the server's capacity however much more is sent), so it is
//! the completed throughput — even while a saturated server's backlog grows.
//! The load offered to the server is, by conservation, completions plus the
//! growth of what is still in it (`scur + qcur`).
//!
//! Stop rules, first match wins: error rate above the limit; p99 above the SLO;
//! the knee (backlog grows, or throughput rose less than `knee_gain` of what
//! the weight increase offered) seen twice at the same weight (a knee inside
//! the SLO is re-measured once, so one noisy dwell does not end the probe);
//! max weight. The probe stops at the *first* step that breaches the SLO or
//! the error limit, so the SLO is never breached for more than one dwell.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use crest_core::Clock;
use crest_core::Timestamp;
use crest_core::seams::{LoadBalancer, ServerStats};
use serde::{Deserialize, Serialize};

use crate::HeadroomError;
use crate::journal::{Journal, JournalEntry, restore_weights};
use crate::latency::LatencySource;

/// How to probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Backend name.
    pub backend: String,
    /// The server whose weight is raised.
    pub server: String,
    /// p99 latency objective, ms.
    pub slo_p99_ms: f64,
    /// Largest acceptable error rate (0..1).
    pub max_error_rate: f64,
    /// First weight of the probed server (default: `step`).
    pub start_weight: Option<u16>,
    /// Weight increment per step.
    pub step: u16,
    /// Highest weight tried (HAProxy: at most 256).
    pub max_weight: u16,
    /// Set every other server to this weight first (restored afterwards).
    pub peer_weight: Option<u16>,
    /// Wait after a weight change before measuring, ms.
    pub settle_ms: u64,
    /// Measurement time per step, ms.
    pub dwell_ms: u64,
    /// Sub-windows per dwell (their spread gives the confidence interval).
    pub samples: u32,
    /// Knee: throughput gain below this fraction of the offered gain.
    pub knee_gain: f64,
    /// Saturation: backlog grew by more than this fraction of the requests sent.
    pub backlog_frac: f64,
    /// Keep retrying the restore this long before giving up (journal kept), ms.
    pub restore_timeout_ms: u64,
    /// Journal file.
    pub journal: PathBuf,
}

impl ProbeConfig {
    /// Defaults: SLO 200 ms, 1 % errors, 20 → 250 in steps of 20, 1 s settle + 5 s dwell.
    pub fn new(
        backend: impl Into<String>,
        server: impl Into<String>,
        journal: impl Into<PathBuf>,
    ) -> Self {
        ProbeConfig {
            backend: backend.into(),
            server: server.into(),
            slo_p99_ms: 200.0,
            max_error_rate: 0.01,
            start_weight: None,
            step: 20,
            max_weight: 250,
            peer_weight: None,
            settle_ms: 1000,
            dwell_ms: 5000,
            samples: 5,
            knee_gain: 0.3,
            backlog_frac: 0.03,
            restore_timeout_ms: 30_000,
            journal: journal.into(),
        }
    }

    /// Check the values; reports every problem at once.
    ///
    /// # Errors
    /// [`HeadroomError::Config`] naming the first bad field (all are listed in `why`).
    pub fn validate(&self) -> Result<(), HeadroomError> {
        let mut bad: Vec<(&'static str, String, &'static str)> = Vec::new();
        if !(self.slo_p99_ms.is_finite() && self.slo_p99_ms > 0.0) {
            bad.push((
                "slo_p99_ms",
                self.slo_p99_ms.to_string(),
                "expected a positive number of ms",
            ));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            bad.push((
                "max_error_rate",
                self.max_error_rate.to_string(),
                "expected 0..=1",
            ));
        }
        if self.step == 0 {
            bad.push(("step", "0".into(), "expected at least 1"));
        }
        if self.max_weight == 0 || self.max_weight > 256 {
            bad.push((
                "max_weight",
                self.max_weight.to_string(),
                "expected 1..=256",
            ));
        }
        if self
            .start_weight
            .is_some_and(|s| s == 0 || s > self.max_weight)
        {
            bad.push((
                "start_weight",
                format!("{:?}", self.start_weight),
                "expected 1..=max_weight",
            ));
        }
        if self.peer_weight.is_some_and(|p| p > 256) {
            bad.push((
                "peer_weight",
                format!("{:?}", self.peer_weight),
                "expected 0..=256",
            ));
        }
        if self.dwell_ms < 100 {
            bad.push((
                "dwell_ms",
                self.dwell_ms.to_string(),
                "expected at least 100 ms",
            ));
        }
        if self.samples == 0 || u64::from(self.samples) > self.dwell_ms / 50 {
            bad.push((
                "samples",
                self.samples.to_string(),
                "expected 1..=dwell_ms/50",
            ));
        }
        match bad.first() {
            None => Ok(()),
            Some((field, value, why)) => Err(HeadroomError::Config {
                field,
                value: value.clone(),
                why,
            }),
        }
    }

    /// The weights tried, in order.
    pub fn schedule(&self) -> Vec<u16> {
        let mut w = self.start_weight.unwrap_or(self.step).max(1);
        let mut out = Vec::new();
        while w < self.max_weight {
            out.push(w);
            w = w.saturating_add(self.step.max(1));
        }
        out.push(self.max_weight);
        out
    }
}

/// One measured step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// Weight of the probed server.
    pub weight: u16,
    /// Its share of the backend's total weight.
    pub share: f64,
    /// Requests per second sent to it (completed plus backlog growth).
    pub offered_rps: f64,
    /// Requests per second it completed (`req_tot` delta).
    pub throughput_rps: f64,
    /// Throughput of each sub-window.
    pub samples_rps: Vec<f64>,
    /// Growth of its in-flight + queued requests over the dwell.
    pub backlog_growth: f64,
    /// Requests per second of the whole backend.
    pub backend_rps: f64,
    /// p50 latency from the latency source, ms (NaN if unknown).
    pub p50_ms: f64,
    /// p99 latency from the latency source, ms (NaN if unknown).
    pub p99_ms: f64,
    /// HAProxy's `ttime` average at the end of the dwell, ms.
    pub ttime_avg_ms: f64,
    /// Failed fraction (5xx, connection and response errors per completed request).
    pub error_rate: f64,
    /// Whether its backlog grew (it could not keep up).
    pub saturated: bool,
    /// The latency compared to the SLO (p99, or `ttime` when p99 is unknown).
    pub latency_ms: f64,
    /// Whether the latency exceeded the SLO.
    pub slo_breached: bool,
}

/// Why the probe stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum StopReason {
    /// p99 above the SLO.
    Slo,
    /// Error rate above the limit.
    ErrorRate,
    /// Throughput stopped rising with weight.
    Knee,
    /// The maximum weight was reached without saturating.
    MaxWeight,
    /// Cancelled (Ctrl-C).
    Cancelled,
    /// An error ended the probe (weights were still restored).
    Aborted(String),
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Backend probed.
    pub backend: String,
    /// Server probed.
    pub server: String,
    /// The SLO used.
    pub slo_p99_ms: f64,
    /// Error limit used.
    pub max_error_rate: f64,
    /// Where latency came from.
    pub latency_source: String,
    /// Weights before the probe.
    pub original_weights: BTreeMap<String, u16>,
    /// Servers up at the start.
    pub servers_up: u32,
    /// Measured steps.
    pub steps: Vec<StepResult>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Weight at which it stopped because of saturation or SLO, if it did.
    pub knee_weight: Option<u16>,
    /// Steps whose latency breached the SLO (at most one by construction).
    pub slo_breach_steps: u32,
    /// Whether original weights were restored and verified.
    pub weights_restored: bool,
    /// Whether a previous probe's journal was found and restored first.
    pub recovered_from_journal: bool,
    /// Start (epoch ms).
    pub started_ms: i64,
    /// Wall time of the probe, s.
    pub duration_s: f64,
}

/// Drives one probe through a [`LoadBalancer`], reading latency from `S`.
#[derive(Debug)]
pub struct ProbeController<L, S, C> {
    lb: L,
    latency: S,
    clock: C,
    cfg: ProbeConfig,
}

#[derive(Debug, Clone, Copy, Default)]
struct Snap {
    at: Timestamp,
    sent: u64,
    inflight: u64,
    errors: u64,
    backend_sent: u64,
    ttime: u64,
}

impl<L: LoadBalancer, S: LatencySource, C: Clock> ProbeController<L, S, C> {
    /// A controller (validates the config).
    ///
    /// # Errors
    /// [`HeadroomError::Config`] for a bad config.
    pub fn try_new(lb: L, latency: S, clock: C, cfg: ProbeConfig) -> Result<Self, HeadroomError> {
        cfg.validate()?;
        Ok(ProbeController {
            lb,
            latency,
            clock,
            cfg,
        })
    }

    /// The config.
    pub fn config(&self) -> &ProbeConfig {
        &self.cfg
    }

    /// The load balancer.
    pub fn lb(&self) -> &L {
        &self.lb
    }

    /// Restore weights left over by a crashed probe (if its journal exists).
    /// Returns whether there was something to restore.
    ///
    /// # Errors
    /// [`HeadroomError::RestoreFailed`] (journal kept) or journal IO errors.
    pub async fn recover(&self) -> Result<bool, HeadroomError> {
        let j = Journal::new(&self.cfg.journal);
        match j.read()? {
            None => Ok(false),
            Some(e) => {
                self.restore_with_retry(&j, &e).await?;
                Ok(true)
            }
        }
    }

    async fn restore_with_retry(&self, j: &Journal, e: &JournalEntry) -> Result<(), HeadroomError> {
        let deadline =
            self.clock.now().0 + i64::try_from(self.cfg.restore_timeout_ms).unwrap_or(i64::MAX / 2);
        let mut delay = 100i64;
        loop {
            match restore_weights(&self.lb, e).await {
                Ok(()) => return j.clear(),
                Err(err) => {
                    let now = self.clock.now().0;
                    if now >= deadline {
                        return Err(HeadroomError::RestoreFailed {
                            backend: e.backend.clone(),
                            message: error_chain(&err),
                            journal: j.path().display().to_string(),
                        });
                    }
                    self.clock
                        .sleep_until(Timestamp((now + delay).min(deadline)))
                        .await;
                    delay = (delay * 2).min(2000);
                }
            }
        }
    }

    /// Run the probe until a stop rule fires, an error occurs or `cancel`
    /// resolves; in every case the original weights are restored (and
    /// verified) before returning.
    ///
    /// # Errors
    /// Errors before any weight was changed (unknown server, socket down),
    /// and [`HeadroomError::RestoreFailed`] when weights could not be put
    /// back (the journal is kept for the next start). Errors *during* the
    /// steps end the probe with [`StopReason::Aborted`] after restoring.
    pub async fn run(
        &self,
        cancel: impl Future<Output = ()> + Send,
    ) -> Result<ProbeReport, HeadroomError> {
        let started = self.clock.now();
        let recovered = self.recover().await?;
        let cfg = &self.cfg;
        let servers = self
            .lb
            .servers(&cfg.backend)
            .await
            .map_err(|e| HeadroomError::lb(format!("read backend {}", cfg.backend), e))?;
        if !servers.iter().any(|s| s.name == cfg.server) {
            return Err(HeadroomError::NoSuchServer {
                backend: cfg.backend.clone(),
                server: cfg.server.clone(),
                known: servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
        let original: BTreeMap<String, u16> =
            servers.iter().map(|s| (s.name.clone(), s.weight)).collect();
        let servers_up =
            u32::try_from(servers.iter().filter(|s| is_up(s)).count()).unwrap_or(u32::MAX);
        let entry = JournalEntry {
            version: 1,
            backend: cfg.backend.clone(),
            server: cfg.server.clone(),
            original: original.clone(),
            started_ms: started.0,
        };
        let journal = Journal::new(&cfg.journal);
        journal.write(&entry)?;

        let mut steps = Vec::new();
        let outcome = {
            let work = self.steps(&original, &mut steps);
            tokio::pin!(work);
            tokio::pin!(cancel);
            tokio::select! {
                r = &mut work => r,
                () = &mut cancel => Ok(StopReason::Cancelled),
            }
        };
        let stop = match outcome {
            Ok(s) => s,
            Err(e) => StopReason::Aborted(error_chain(&e)),
        };
        self.restore_with_retry(&journal, &entry).await?;
        let knee_weight = match stop {
            StopReason::Slo | StopReason::Knee | StopReason::ErrorRate => {
                steps.last().map(|s| s.weight)
            }
            _ => None,
        };
        let slo_breach_steps =
            u32::try_from(steps.iter().filter(|s| s.slo_breached).count()).unwrap_or(u32::MAX);
        Ok(ProbeReport {
            backend: cfg.backend.clone(),
            server: cfg.server.clone(),
            slo_p99_ms: cfg.slo_p99_ms,
            max_error_rate: cfg.max_error_rate,
            latency_source: self.latency.name(),
            original_weights: original,
            servers_up,
            steps,
            stop,
            knee_weight,
            slo_breach_steps,
            weights_restored: true,
            recovered_from_journal: recovered,
            started_ms: started.0,
            duration_s: (self.clock.now().0 - started.0) as f64 / 1000.0,
        })
    }

    async fn steps(
        &self,
        original: &BTreeMap<String, u16>,
        out: &mut Vec<StepResult>,
    ) -> Result<StopReason, HeadroomError> {
        let cfg = &self.cfg;
        let mut expected = original.clone();
        if let Some(pw) = cfg.peer_weight {
            for name in original.keys().filter(|n| **n != cfg.server) {
                self.set(name, pw).await?;
                expected.insert(name.clone(), pw);
            }
        }
        for w in cfg.schedule() {
            self.set(&cfg.server, w).await?;
            expected.insert(cfg.server.clone(), w);
            // The step before this weight: the reference for the knee rule.
            let reference = out.last().cloned();
            let mut confirmed = false;
            loop {
                let step = self.measure(w, &expected).await?;
                let slo = step.slo_breached;
                let err = step.error_rate > cfg.max_error_rate;
                let knee =
                    step.saturated || reference.as_ref().is_some_and(|p| self.knee(p, &step));
                out.push(step);
                if err {
                    return Ok(StopReason::ErrorRate);
                }
                if slo {
                    return Ok(StopReason::Slo);
                }
                if !knee {
                    break;
                }
                // A knee inside the SLO is confirmed by a repeat at the same weight
                // (one noisy dwell is not a knee); the repeat also narrows the interval.
                if confirmed {
                    return Ok(StopReason::Knee);
                }
                confirmed = true;
            }
        }
        Ok(StopReason::MaxWeight)
    }

    /// Throughput rose by less than `knee_gain` of the extra load offered since `p`.
    fn knee(&self, p: &StepResult, step: &StepResult) -> bool {
        let offered_gain = step.offered_rps - p.throughput_rps;
        let gain = step.throughput_rps - p.throughput_rps;
        offered_gain > 0.05 * p.throughput_rps.max(1.0) && gain < self.cfg.knee_gain * offered_gain
    }

    async fn set(&self, server: &str, w: u16) -> Result<(), HeadroomError> {
        self.lb
            .set_weight(&self.cfg.backend, server, w)
            .await
            .map_err(|e| {
                HeadroomError::lb(
                    format!("set weight of {}/{server} to {w}", self.cfg.backend),
                    e,
                )
            })
    }

    async fn snap(
        &self,
        expected: &BTreeMap<String, u16>,
    ) -> Result<(Snap, Vec<ServerStats>), HeadroomError> {
        let cfg = &self.cfg;
        let servers = self
            .lb
            .servers(&cfg.backend)
            .await
            .map_err(|e| HeadroomError::lb(format!("read backend {}", cfg.backend), e))?;
        // A reload (or another operator) resets weights: the measurements would lie.
        for s in &servers {
            if let Some(&w) = expected.get(&s.name)
                && s.weight != w
            {
                return Err(HeadroomError::WeightsChanged {
                    server: s.name.clone(),
                    expected: w,
                    found: s.weight,
                });
            }
        }
        let t = servers
            .iter()
            .find(|s| s.name == cfg.server)
            .ok_or_else(|| HeadroomError::NoSuchServer {
                backend: cfg.backend.clone(),
                server: cfg.server.clone(),
                known: servers
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            })?;
        let snap = Snap {
            at: self.clock.now(),
            sent: t.req_tot,
            inflight: t.scur + t.qcur,
            errors: t.hrsp_5xx + t.econ + t.eresp,
            // completions plus what is in flight: its delta is the arrivals.
            backend_sent: servers.iter().map(|s| s.req_tot + s.scur + s.qcur).sum(),
            ttime: t.ttime_ms,
        };
        Ok((snap, servers))
    }

    async fn measure(
        &self,
        w: u16,
        expected: &BTreeMap<String, u16>,
    ) -> Result<StepResult, HeadroomError> {
        let cfg = &self.cfg;
        let t0 = self.clock.now();
        self.clock
            .sleep_until(Timestamp(t0.0 + ms(cfg.settle_ms)))
            .await;
        let (first, servers) = self.snap(expected).await?;
        let target = servers.iter().find(|s| s.name == cfg.server);
        if let Some(t) = target
            && !is_up(t)
        {
            return Err(HeadroomError::Lb {
                what: format!("keep probing {}/{}", cfg.backend, cfg.server),
                source: crest_core::seams::SeamError::new(
                    "haproxy",
                    crest_core::seams::SeamErrorKind::Unavailable,
                    format!("server status is {}", t.status),
                ),
            });
        }
        let total_w: f64 = servers
            .iter()
            .filter(|s| is_up(s))
            .map(|s| f64::from(s.weight))
            .sum();
        self.latency.begin().await?;
        let sub = ms(cfg.dwell_ms) / i64::from(cfg.samples);
        let mut prev = first;
        let mut samples = Vec::with_capacity(cfg.samples as usize);
        let mut rising = 0u32;
        for i in 1..=i64::from(cfg.samples) {
            self.clock
                .sleep_until(Timestamp(first.at.0 + sub * i))
                .await;
            let (s, _) = self.snap(expected).await?;
            let dt = (s.at.0 - prev.at.0) as f64 / 1000.0;
            if dt > 0.0 {
                samples.push(completed(&prev, &s) / dt);
            }
            if s.inflight > prev.inflight {
                rising += 1;
            }
            prev = s;
        }
        let last = prev;
        let dt = ((last.at.0 - first.at.0) as f64 / 1000.0).max(1e-3);
        let lat = self.latency.end(&cfg.server, dt).await?;
        let done = last.sent.saturating_sub(first.sent) as f64;
        let growth = last.inflight as f64 - first.inflight as f64;
        let sent = (done + growth).max(0.0);
        let errors = last.errors.saturating_sub(first.errors) as f64;
        let mut error_rate = if done > 0.0 {
            (errors / done).min(1.0)
        } else if errors > 0.0 {
            1.0
        } else {
            0.0
        };
        if let (Some(c), Some(e)) = (lat.count, lat.errors)
            && c + e > 0
        {
            error_rate = error_rate.max(e as f64 / (c + e) as f64);
        }
        let latency_ms = if lat.p99_ms.is_finite() {
            lat.p99_ms
        } else {
            last.ttime as f64
        };
        Ok(StepResult {
            weight: w,
            share: if total_w > 0.0 {
                f64::from(w) / total_w
            } else {
                f64::NAN
            },
            offered_rps: sent / dt,
            throughput_rps: completed(&first, &last) / dt,
            samples_rps: samples,
            backlog_growth: growth,
            backend_rps: last.backend_sent.saturating_sub(first.backend_sent) as f64 / dt,
            p50_ms: lat.p50_ms,
            p99_ms: lat.p99_ms,
            ttime_avg_ms: last.ttime as f64,
            error_rate,
            // A saturated server's backlog grows steadily: by more than a fraction of what
            // was sent, and in most sub-windows (one noisy snapshot is not a trend).
            saturated: growth > (cfg.backlog_frac * sent).max(3.0) && 2 * rising > cfg.samples,
            latency_ms,
            slo_breached: latency_ms > cfg.slo_p99_ms,
        })
    }
}

/// Requests completed between two snapshots (`req_tot` counts finished requests).
fn completed(a: &Snap, b: &Snap) -> f64 {
    b.sent.saturating_sub(a.sent) as f64
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX / 4)
}

fn is_up(s: &ServerStats) -> bool {
    s.status.starts_with("UP") || s.status == "no check"
}

use crest_core::error_chain;

#[cfg(test)]
mod tests {
    //! The controller against a fluid-model balancer in virtual time: fast,
    //! deterministic checks of the stop rules, the knee confirmation, the
    //! restore paths and the reload detection (the real-HAProxy versions are
    //! in `tests/e2e_probe.rs`).

    use std::sync::{Arc, Mutex};

    use crest_core::VirtualClock;
    use crest_core::seams::{SeamError, SeamErrorKind, ServerAdminState};

    use super::*;
    use crate::latency::LatencyWindow;

    #[derive(Clone)]
    struct SimClock(Arc<VirtualClock>);

    impl Clock for SimClock {
        fn now(&self) -> Timestamp {
            self.0.now()
        }
        fn sleep_until(&self, t: Timestamp) -> impl Future<Output = ()> + Send {
            self.0.sleep_until(t)
        }
    }

    struct Server {
        name: String,
        weight: u16,
        mu: f64,
        backlog: f64,
        done: f64,
    }

    struct World {
        at: i64,
        rate: f64,
        servers: Vec<Server>,
        /// LB calls fail while the clock is in this window (ms).
        down: Option<(i64, i64)>,
        /// At this time the weights reset to 10 (a reload).
        reload_at: Option<i64>,
    }

    #[derive(Clone)]
    struct FluidLb {
        clock: SimClock,
        w: Arc<Mutex<World>>,
    }

    impl FluidLb {
        fn new(clock: SimClock, mus: &[f64], rate: f64) -> Self {
            let servers = mus
                .iter()
                .enumerate()
                .map(|(i, mu)| Server {
                    name: format!("s{i}"),
                    weight: 10,
                    mu: *mu,
                    backlog: 0.0,
                    done: 0.0,
                })
                .collect();
            let at = clock.now().0;
            FluidLb {
                clock,
                w: Arc::new(Mutex::new(World {
                    at,
                    rate,
                    servers,
                    down: None,
                    reload_at: None,
                })),
            }
        }

        /// Advance the fluid model to now; fail if the balancer is "down".
        fn tick(&self) -> Result<std::sync::MutexGuard<'_, World>, SeamError> {
            let now = self.clock.now().0;
            let mut w = self.w.lock().unwrap();
            let dt = (now - w.at) as f64 / 1000.0;
            w.at = now;
            if let Some(r) = w.reload_at.filter(|r| now >= *r) {
                let _ = r;
                w.reload_at = None;
                w.servers.iter_mut().for_each(|s| s.weight = 10);
            }
            let total: f64 = w.servers.iter().map(|s| f64::from(s.weight)).sum();
            let rate = w.rate;
            for s in &mut w.servers {
                let arr = rate * f64::from(s.weight) / total * dt;
                let served = (s.backlog + arr).min(s.mu * dt);
                s.backlog += arr - served;
                s.done += served;
            }
            if w.down.is_some_and(|(a, b)| now >= a && now < b) {
                return Err(SeamError::new(
                    "sim",
                    SeamErrorKind::Unavailable,
                    "socket gone",
                ));
            }
            Ok(w)
        }

        fn weights(&self) -> Vec<u16> {
            self.w
                .lock()
                .unwrap()
                .servers
                .iter()
                .map(|s| s.weight)
                .collect()
        }
    }

    impl LoadBalancer for FluidLb {
        async fn servers(&self, _b: &str) -> Result<Vec<ServerStats>, SeamError> {
            let w = self.tick()?;
            Ok(w.servers
                .iter()
                .map(|s| ServerStats {
                    name: s.name.clone(),
                    weight: s.weight,
                    status: "UP".into(),
                    scur: s.backlog.round() as u64,
                    req_tot: s.done.round() as u64,
                    ..ServerStats::default()
                })
                .collect())
        }
        async fn set_weight(&self, _b: &str, server: &str, weight: u16) -> Result<(), SeamError> {
            let mut w = self.tick()?;
            let s = w.servers.iter_mut().find(|s| s.name == server).unwrap();
            s.weight = weight;
            Ok(())
        }
        async fn set_state(
            &self,
            _b: &str,
            _s: &str,
            _st: ServerAdminState,
        ) -> Result<(), SeamError> {
            Ok(())
        }
        async fn add_server(&self, _b: &str, _s: &str, _a: &str) -> Result<(), SeamError> {
            Ok(())
        }
        async fn remove_server(&self, _b: &str, _s: &str) -> Result<(), SeamError> {
            Ok(())
        }
    }

    /// p99 = 20 ms + queueing delay of the backlog.
    struct FluidLatency(FluidLb);

    impl LatencySource for FluidLatency {
        fn name(&self) -> String {
            "fluid".into()
        }
        async fn begin(&self) -> Result<(), HeadroomError> {
            Ok(())
        }
        async fn end(&self, server: &str, _w: f64) -> Result<LatencyWindow, HeadroomError> {
            let w = self.0.w.lock().unwrap();
            let s = w.servers.iter().find(|s| s.name == server).unwrap();
            let p99 = 20.0 + 1000.0 * s.backlog / s.mu;
            Ok(LatencyWindow {
                p50_ms: p99 / 2.0,
                p99_ms: p99,
                count: None,
                errors: None,
            })
        }
    }

    fn setup(
        rate: f64,
    ) -> (
        tempfile::TempDir,
        FluidLb,
        ProbeController<FluidLb, FluidLatency, SimClock>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock(Arc::new(VirtualClock::new(Timestamp(1_000_000))));
        let lb = FluidLb::new(clock.clone(), &[200.0, 200.0, 200.0, 200.0], rate);
        let mut cfg = ProbeConfig::new("app", "s0", dir.path().join("j.json"));
        cfg.slo_p99_ms = 250.0;
        cfg.step = 15;
        cfg.samples = 4;
        cfg.dwell_ms = 2000;
        cfg.settle_ms = 500;
        let ctl =
            ProbeController::try_new(lb.clone(), FluidLatency(lb.clone()), clock, cfg).unwrap();
        (dir, lb, ctl)
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn finds_the_knee_and_restores() {
        let (_d, lb, ctl) = setup(280.0);
        let r = block_on(ctl.run(std::future::pending())).unwrap();
        assert!(
            matches!(r.stop, StopReason::Knee | StopReason::Slo),
            "{:?}",
            r.stop
        );
        assert!(r.slo_breach_steps <= 1);
        assert!(r.weights_restored);
        assert_eq!(lb.weights(), vec![10, 10, 10, 10]);
        assert!(
            Journal::new(&ctl.config().journal)
                .read()
                .unwrap()
                .is_none()
        );
        let fit = crate::capacity::fit(&r).unwrap();
        assert!(
            (fit.per_instance_rps - 200.0).abs() < 4.0,
            "{fit:?} {:#?}",
            r.steps
        );
        // Same world, same steps: deterministic.
        let (_d2, _lb2, ctl2) = setup(280.0);
        let r2 = block_on(ctl2.run(std::future::pending())).unwrap();
        assert_eq!(r.steps, r2.steps);
    }

    #[test]
    fn light_load_reaches_max_weight_without_a_knee() {
        let (_d, lb, ctl) = setup(100.0);
        let r = block_on(ctl.run(std::future::pending())).unwrap();
        assert_eq!(r.stop, StopReason::MaxWeight);
        assert_eq!(r.steps.last().unwrap().weight, 250);
        assert_eq!(lb.weights(), vec![10, 10, 10, 10]);
    }

    #[test]
    fn balancer_outage_aborts_and_restores_when_it_returns() {
        let (_d, lb, ctl) = setup(280.0);
        lb.w.lock().unwrap().down = Some((1_003_000, 1_006_000));
        let r = block_on(ctl.run(std::future::pending())).unwrap();
        assert!(
            matches!(r.stop, StopReason::Aborted(ref m) if m.contains("socket gone")),
            "{:?}",
            r.stop
        );
        assert!(r.weights_restored);
        assert_eq!(lb.weights(), vec![10, 10, 10, 10]);
    }

    #[test]
    fn outage_longer_than_the_restore_timeout_keeps_the_journal() {
        let (_d, lb, ctl) = setup(280.0);
        lb.w.lock().unwrap().down = Some((1_003_000, 1_100_000));
        let e = block_on(ctl.run(std::future::pending())).unwrap_err();
        assert!(matches!(e, HeadroomError::RestoreFailed { .. }), "{e}");
        let pending = Journal::new(&ctl.config().journal).read().unwrap().unwrap();
        assert_eq!(
            pending.original.values().copied().collect::<Vec<_>>(),
            vec![10, 10, 10, 10]
        );
        // Next start, balancer back: the journal is restored first.
        ctl.clock.0.advance_to(Timestamp(1_200_000));
        assert!(block_on(ctl.recover()).unwrap());
        assert_eq!(lb.weights(), vec![10, 10, 10, 10]);
    }

    #[test]
    fn reload_is_noticed() {
        let (_d, lb, ctl) = setup(280.0);
        lb.w.lock().unwrap().reload_at = Some(1_004_000);
        let r = block_on(ctl.run(std::future::pending())).unwrap();
        assert!(
            matches!(r.stop, StopReason::Aborted(ref m) if m.contains("reloaded")),
            "{:?}",
            r.stop
        );
        assert_eq!(lb.weights(), vec![10, 10, 10, 10]);
    }

    #[test]
    fn schedule_and_validation() {
        let mut c = ProbeConfig::new("b", "s", "/tmp/j");
        assert_eq!(c.schedule().first(), Some(&20));
        assert_eq!(c.schedule().last(), Some(&250));
        c.max_weight = 300;
        assert!(c.validate().is_err());
        c.max_weight = 250;
        c.samples = 0;
        assert!(c.validate().is_err());
    }
}
