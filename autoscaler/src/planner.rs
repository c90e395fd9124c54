//! The holiday planner: forecast + capacity + constraints → [`ScalingPlan`].
//!
//! Everything here is a pure function of its inputs (same input, same plan).
//! The planner works on a fine time grid (`resolution_s`, refined so the API
//! rate limit adds at least one instance per grid step) in four passes:
//!
//! ```text
//!  forecast @ risk quantile (max over each grid step) ──► serving need s[k] = ceil(demand / (capacity × util)), clipped to [min, max]
//!  lead time      q[k] = max s[k .. k+lead]   (ask early: instances serve `lead` after the request)
//!  rate limit     u[k] = max(q[k], u[k+1] - up_per_step)   (backward: start the ramp early enough)
//!  hold           no scale-in if the fleet must be back within `scale_in_hold_s`
//!  freeze         u[k] = max(u[k], u[k-1]) inside the freeze window (no scale-in)
//!  scale-in rate  u[k] = max(u[k], u[k-1] - down_per_step)   (forward: shrink slowly)
//! ```
//!
//! With a batched API (launches go out once per rate period) the lead time
//! grows by one period: a request may wait that long for its batch.
//!
//! The plan starts before the forecast does, early enough to ramp from the
//! current fleet to the peak under the rate limit and the lead time, so
//! capacity is *ready* when the crest arrives rather than requested then.
//! A budget (instance-hours) scales the planned demand down until the plan
//! fits, and the outcome says so: a plan over budget is never silent.

use crest_core::StepSecs;
use crest_core::bounds::{MAX_DURATION_S, MAX_RATE_PERIOD_S, MAX_REPLICAS};
use crest_core::{
    AppId, Capacity, Forecast, PlanReason, PlanStep, Replicas, ScalingPlan, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::AutoscalerError;
use crate::replay::step_value;

/// At most `instances` per `period_s` (an API rate limit or a scale-in pace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Instances per period (> 0).
    pub instances: u32,
    /// The period in seconds (> 0).
    pub period_s: i64,
}

impl RateLimit {
    /// `instances` per `period_s`.
    pub fn new(instances: u32, period_s: i64) -> Self {
        RateLimit {
            instances,
            period_s,
        }
    }
}

/// A time window `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start (inclusive).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
}

/// Everything the planner needs besides the forecast and the capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannerConfig {
    /// The app planned.
    pub app: AppId,
    /// The plan's id.
    pub plan_id: String,
    /// Quantile of demand to plan for (e.g. 0.9).
    pub risk: f64,
    /// Highest planned utilisation of an instance's SLO capacity (0..1], e.g. 0.8.
    pub target_utilisation: f64,
    /// Seconds from asking for an instance to it serving.
    pub lead_time_s: i64,
    /// Scale-out API rate limit.
    pub scale_out_rate: RateLimit,
    /// Scale-in pace.
    pub scale_in_rate: RateLimit,
    /// Lower bound.
    pub min: Replicas,
    /// Upper bound.
    pub max: Replicas,
    /// Instance-hour budget for the whole plan, if any.
    pub budget_instance_hours: Option<f64>,
    /// No scale-in inside this window.
    pub freeze: Option<Window>,
    /// The fleet when the plan is made (what serves before the forecast starts).
    pub current: Replicas,
    /// Grid resolution in seconds (refined automatically for fast rate limits).
    pub resolution_s: i64,
    /// Do not scale in if the fleet has to be back at the same size within
    /// this many seconds (no flapping in the plan).
    #[serde(default)]
    pub scale_in_hold_s: i64,
    /// The scheduler API sends launches in batches once per rate period, so a
    /// request may wait up to one period before it goes out: plan for it.
    #[serde(default)]
    pub batched_api: bool,
}

impl PlannerConfig {
    /// Defaults: p90, 80 % utilisation, 5 min lead, 150 instances / 5 min out
    /// (the talk's figure), 10 / min in, bounds [1, 10 000], 60 s grid.
    pub fn new(app: AppId, plan_id: impl Into<String>) -> Self {
        PlannerConfig {
            app,
            plan_id: plan_id.into(),
            risk: 0.9,
            target_utilisation: 0.8,
            lead_time_s: 300,
            scale_out_rate: RateLimit::new(150, 300),
            scale_in_rate: RateLimit::new(10, 60),
            min: Replicas(1),
            max: Replicas(10_000),
            budget_instance_hours: None,
            freeze: None,
            current: Replicas(1),
            resolution_s: 60,
            scale_in_hold_s: 1800,
            batched_api: true,
        }
    }

    /// Check every setting.
    ///
    /// # Errors
    /// [`AutoscalerError`] naming the first invalid setting.
    pub fn validate(&self) -> Result<(), AutoscalerError> {
        if !(self.risk > 0.0 && self.risk < 1.0) {
            return Err(AutoscalerError::setting(
                "planner risk",
                "a quantile in (0, 1)",
                self.risk,
            ));
        }
        if !(self.target_utilisation > 0.0 && self.target_utilisation <= 1.0) {
            return Err(AutoscalerError::setting(
                "planner target utilisation",
                "a fraction in (0, 1]",
                self.target_utilisation,
            ));
        }
        if !(0..=MAX_DURATION_S).contains(&self.lead_time_s) {
            return Err(AutoscalerError::setting(
                "planner lead time",
                "seconds in 0..=3162240000 (a century)",
                self.lead_time_s,
            ));
        }
        if self.max.0 > MAX_REPLICAS || self.current.0 > MAX_REPLICAS {
            return Err(AutoscalerError::setting(
                "planner replicas (max, current)",
                "at most 100000",
                format!("max {}, current {}", self.max, self.current),
            ));
        }
        if StepSecs::try_new("planner resolution", self.resolution_s).is_err() {
            return Err(AutoscalerError::setting(
                "planner resolution",
                "seconds in 1..=31622400 (a year)",
                self.resolution_s,
            ));
        }
        if self.lead_time_s < 0 {
            return Err(AutoscalerError::setting(
                "planner lead time",
                "seconds >= 0",
                self.lead_time_s,
            ));
        }
        for (what, r) in [
            ("planner scale-out rate", self.scale_out_rate),
            ("planner scale-in rate", self.scale_in_rate),
        ] {
            if r.instances == 0 || r.period_s <= 0 || r.period_s > MAX_RATE_PERIOD_S {
                return Err(AutoscalerError::setting(
                    what,
                    "instances > 0 per period_s in 1..=86400 (a day)",
                    format!("{} per {} s", r.instances, r.period_s),
                ));
            }
        }
        if self.min > self.max {
            return Err(AutoscalerError::Bounds {
                min: self.min.0,
                max: self.max.0,
            });
        }
        if let Some(b) = self.budget_instance_hours
            && !(b.is_finite() && b > 0.0)
        {
            return Err(AutoscalerError::setting(
                "planner budget",
                "instance-hours > 0",
                b,
            ));
        }
        if self.scale_in_hold_s < 0 {
            return Err(AutoscalerError::setting(
                "planner scale-in hold",
                "seconds >= 0",
                self.scale_in_hold_s,
            ));
        }
        if self.resolution_s <= 0 {
            return Err(AutoscalerError::setting(
                "planner resolution",
                "seconds > 0",
                self.resolution_s,
            ));
        }
        Ok(())
    }
}

/// Why a grid point has the value it has (before compression to steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    Demand,
    Min,
    Max,
    Lead,
    Ramp,
    Hold,
    Freeze,
    ScaleIn,
}

/// A plan and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOutcome {
    /// The plan.
    pub plan: ScalingPlan,
    /// Grid start.
    pub grid_start: Timestamp,
    /// Grid step in seconds.
    pub grid_step_s: i64,
    /// Planned demand (rps at the risk quantile, after any budget scaling) per
    /// grid point; 0 before the forecast starts.
    pub demand_rps: Vec<f64>,
    /// Serving instances needed per grid point (clipped to the bounds).
    pub needed: Vec<u32>,
    /// Desired instances per grid point (the plan, uncompressed).
    pub desired: Vec<u32>,
    /// Instance-hours of the plan over the grid.
    pub instance_hours: f64,
    /// Largest desired fleet.
    pub peak: Replicas,
    /// When the first scale-out is asked for, if any.
    pub scale_out_starts: Option<Timestamp>,
    /// Factor (< 1) the demand was scaled by to fit the budget, if it was.
    pub budget_factor: Option<f64>,
    /// Grid points where `max` was below the need (capacity short by design).
    pub capped_points: usize,
    /// The quantile actually used (nearest available when the exact one is missing).
    pub quantile: f64,
}

/// The demand path at quantile `q`: the exact path, else linear interpolation
/// between the neighbouring quantiles (the mean stands in for 0.5 if missing),
/// else the nearest extreme path.
///
/// # Errors
/// [`AutoscalerError::Forecast`] when the forecast is empty or has non-finite values.
pub fn demand_at(forecast: &Forecast, q: f64) -> Result<Vec<f64>, AutoscalerError> {
    if forecast.horizon() == 0 {
        return Err(AutoscalerError::Forecast {
            reason: "the forecast has no steps".into(),
        });
    }
    let mut levels: Vec<(f64, &[f64])> = forecast
        .quantiles
        .iter()
        .map(|(k, v)| (k.level(), v.as_slice()))
        .collect();
    if !levels.iter().any(|(l, _)| (*l - 0.5).abs() < 1e-9) {
        levels.push((0.5, forecast.mean.as_slice()));
        levels.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let path: Vec<f64> = if let Some((_, p)) = levels.iter().find(|(l, _)| (*l - q).abs() < 1e-9) {
        p.to_vec()
    } else {
        let hi = levels.iter().position(|(l, _)| *l > q);
        match hi {
            Some(0) => levels[0].1.to_vec(),
            None => levels[levels.len() - 1].1.to_vec(),
            Some(i) => {
                let (l0, p0) = levels[i - 1];
                let (l1, p1) = levels[i];
                let w = (q - l0) / (l1 - l0);
                p0.iter().zip(p1).map(|(a, b)| a + w * (b - a)).collect()
            }
        }
    };
    if let Some(i) = path.iter().position(|v| !v.is_finite()) {
        return Err(AutoscalerError::Forecast {
            reason: format!("the demand path at quantile {q} has a non-finite value at step {i}"),
        });
    }
    Ok(path.into_iter().map(|v| v.max(0.0)).collect())
}

/// The grid the planner works on and the rates per grid step.
#[derive(Debug, Clone, Copy)]
struct Grid {
    step_s: i64,
    lead_steps: usize,
    up: u32,
    down: u32,
}

fn grid(cfg: &PlannerConfig) -> Grid {
    // Refine the grid so the rate limit adds >= 1 instance per step.
    let r = cfg.scale_out_rate;
    let mut step_s = cfg.resolution_s;
    if i64::from(r.instances) * step_s < r.period_s {
        step_s = (r.period_s + i64::from(r.instances) - 1) / i64::from(r.instances);
    }
    let per = |rl: RateLimit| {
        let v = i64::from(rl.instances) * step_s / rl.period_s;
        u32::try_from(v.max(1)).unwrap_or(u32::MAX)
    };
    let batch_wait_s = if cfg.batched_api { r.period_s } else { 0 };
    let lead_s = cfg.lead_time_s + batch_wait_s;
    let lead_steps = usize::try_from((lead_s + step_s - 1) / step_s).unwrap_or(0);
    Grid {
        step_s,
        lead_steps,
        up: per(r),
        down: per(cfg.scale_in_rate),
    }
}

/// Plan a crest.
///
/// # Errors
/// [`AutoscalerError`] for invalid settings or an unusable forecast.
pub fn plan(
    forecast: &Forecast,
    capacity: &Capacity,
    cfg: &PlannerConfig,
) -> Result<PlanOutcome, AutoscalerError> {
    cfg.validate()?;
    let demand = demand_at(forecast, cfg.risk)?;
    let mut out = plan_with_demand(forecast, &demand, capacity, cfg, None)?;
    if let Some(budget) = cfg.budget_instance_hours
        && out.instance_hours > budget
    {
        // Bisect the demand scale so the plan fits the budget.
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        let mut best = None;
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            let scaled: Vec<f64> = demand.iter().map(|d| d * mid).collect();
            let o = plan_with_demand(forecast, &scaled, capacity, cfg, Some(mid))?;
            if o.instance_hours <= budget {
                lo = mid;
                best = Some(o);
            } else {
                hi = mid;
            }
        }
        out = match best {
            Some(o) => o,
            None => plan_with_demand(forecast, &vec![0.0; demand.len()], capacity, cfg, Some(0.0))?,
        };
    }
    Ok(out)
}

fn plan_with_demand(
    forecast: &Forecast,
    demand: &[f64],
    capacity: &Capacity,
    cfg: &PlannerConfig,
    budget_factor: Option<f64>,
) -> Result<PlanOutcome, AutoscalerError> {
    let g = grid(cfg);
    let min = cfg.min.0;
    let max = cfg.max.0;
    let need_of = |d: f64| -> (u32, Why) {
        let n = capacity.instances_for(d, cfg.target_utilisation);
        if n > max {
            (max, Why::Max)
        } else if n < min {
            (min, Why::Min)
        } else {
            (n, Why::Demand)
        }
    };
    let peak_need = demand.iter().map(|d| need_of(*d).0).max().unwrap_or(min);
    let current = cfg.current.0.clamp(min, max);
    // Start early enough to ramp from the current fleet to the peak.
    let ramp_steps = peak_need.saturating_sub(current).div_ceil(g.up) as usize;
    let pre_steps = g.lead_steps + ramp_steps + 1;
    let f_start = forecast.start;
    let f_end = forecast.time_at(forecast.horizon());
    let grid_start = f_start.add_secs(-(pre_steps as i64) * g.step_s);
    let span_ms = f_end.millis() - grid_start.millis();
    let n = usize::try_from(span_ms / (g.step_s * 1000))
        .unwrap_or(0)
        .max(1);
    let t_of = |k: usize| grid_start.add_secs(k as i64 * g.step_s);

    let mut demand_rps = Vec::with_capacity(n);
    let mut needed = Vec::with_capacity(n);
    let mut why = Vec::with_capacity(n);
    let mut capped = 0;
    for k in 0..n {
        let t = t_of(k);
        let (d, (s, w)) = if t < f_start {
            (0.0, (current, Why::Min))
        } else {
            // The largest step value over [t, t + grid): covers demand read
            // as steps and, a fortiori, linear between step midpoints.
            let a = step_value(demand, f_start, forecast.step_s, t);
            let b = step_value(
                demand,
                f_start,
                forecast.step_s,
                t.add_millis(g.step_s * 1000 - 1),
            );
            let d = a.max(b);
            (d, need_of(d))
        };
        if w == Why::Max {
            capped += 1;
        }
        demand_rps.push(d);
        needed.push(s);
        why.push(w);
    }

    // Lead time: q[k] = max s[k ..= k + lead] (sliding-window max).
    let mut u = sliding_max(&needed, g.lead_steps);
    for k in 0..n {
        if u[k] > needed[k] {
            why[k] = Why::Lead;
        }
    }
    // Rate limit, backward: be at most `up` below the next step.
    for k in (0..n.saturating_sub(1)).rev() {
        let floor = u[k + 1].saturating_sub(g.up);
        if floor > u[k] {
            u[k] = floor;
            why[k] = Why::Ramp;
        }
    }
    // Hold, freeze and scale-in pace only ever raise values; the pace pass can
    // create a new scale-in that the hold would forbid, so iterate to the
    // fixpoint (it converges: values only rise and are bounded by the peak).
    let hold_steps = usize::try_from(cfg.scale_in_hold_s / g.step_s).unwrap_or(0);
    for _ in 0..1000 {
        let mut changed = false;
        // Hold: no scale-in when the fleet must be back up within the hold.
        if hold_steps > 0 {
            let ahead = sliding_max(&u, hold_steps);
            for k in 1..n {
                if u[k] < u[k - 1] {
                    let keep = u[k - 1].min(ahead[k]);
                    if keep > u[k] {
                        u[k] = keep;
                        why[k] = Why::Hold;
                        changed = true;
                    }
                }
            }
        }
        // Freeze: no scale-in inside the window.
        if let Some(fw) = cfg.freeze {
            for k in 1..n {
                let t = t_of(k);
                if t >= fw.from && t < fw.to && u[k] < u[k - 1] {
                    u[k] = u[k - 1];
                    why[k] = Why::Freeze;
                    changed = true;
                }
            }
        }
        // Scale-in pace, forward.
        for k in 1..n {
            let floor = u[k - 1].saturating_sub(g.down);
            if floor > u[k] {
                u[k] = floor;
                why[k] = Why::ScaleIn;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // Compress into steps where the desired count changes.
    let mut steps = Vec::new();
    for k in 0..n {
        let freeze_starts = why[k] == Why::Freeze && (k == 0 || why[k - 1] != Why::Freeze);
        if k > 0 && u[k] == u[k - 1] && !freeze_starts {
            continue;
        }
        let reason = match why[k] {
            Why::Demand => PlanReason::Forecast {
                demand_rps: demand_rps[k],
                quantile: cfg.risk,
            },
            Why::Min if k == 0 || t_of(k) < f_start => PlanReason::Baseline,
            Why::Min => PlanReason::Bound {
                which: "min".into(),
            },
            Why::Max => PlanReason::Bound {
                which: "max".into(),
            },
            Why::Lead => PlanReason::LeadTime {
                lead_s: g.lead_steps as i64 * g.step_s,
            },
            Why::Ramp => PlanReason::LeadTime {
                lead_s: g.lead_steps as i64 * g.step_s
                    + i64::try_from(k.abs_diff(first_reach(&u, k))).unwrap_or(0) * g.step_s,
            },
            Why::Hold => PlanReason::Bound {
                which: "scale-in hold".into(),
            },
            Why::Freeze => PlanReason::Freeze,
            Why::ScaleIn => PlanReason::Bound {
                which: "scale-in rate".into(),
            },
        };
        let reason = match (budget_factor, &reason) {
            (Some(_), PlanReason::Forecast { .. }) => PlanReason::Bound {
                which: "budget".into(),
            },
            _ => reason,
        };
        steps.push(PlanStep {
            at: t_of(k),
            replicas: Replicas(u[k]),
            reason,
        });
    }
    let plan = ScalingPlan::try_new(cfg.app.clone(), cfg.plan_id.clone(), steps).map_err(|e| {
        AutoscalerError::Forecast {
            reason: format!("internal plan construction: {e}"),
        }
    })?;
    let instance_hours = u.iter().map(|&x| f64::from(x)).sum::<f64>() * g.step_s as f64 / 3600.0;
    let scale_out_starts = (1..n).find(|&k| u[k] > u[k - 1]).map(t_of);
    Ok(PlanOutcome {
        plan,
        grid_start,
        grid_step_s: g.step_s,
        demand_rps,
        needed,
        desired: u.clone(),
        instance_hours,
        peak: Replicas(u.iter().copied().max().unwrap_or(0)),
        scale_out_starts,
        budget_factor,
        capped_points: capped,
        quantile: cfg.risk,
    })
}

/// `out[k] = max(v[k ..= k + w])`, clamped at the end (monotonic deque).
fn sliding_max(v: &[u32], w: usize) -> Vec<u32> {
    let n = v.len();
    let mut out = Vec::with_capacity(n);
    let mut dq: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut next = 0;
    for k in 0..n {
        let hi = (k + w).min(n.saturating_sub(1));
        while next <= hi {
            while dq.back().is_some_and(|&j| v[j] <= v[next]) {
                dq.pop_back();
            }
            dq.push_back(next);
            next += 1;
        }
        while dq.front().is_some_and(|&j| j < k) {
            dq.pop_front();
        }
        out.push(dq.front().map_or(v[k], |&j| v[j]));
    }
    out
}

/// Grid steps from `k` until the ramp it belongs to reaches its top.
fn first_reach(u: &[u32], k: usize) -> usize {
    let mut j = k;
    while j + 1 < u.len() && u[j + 1] > u[j] {
        j += 1;
    }
    j
}

/// Serving instances over the grid if `desired` is executed, from `initial`
/// serving instances, by an actuator that adds at most `up` instances per grid step, each serving `lead_steps`
/// after it was asked for, and removes instances at once.
///
/// The planner's own model of the world; [`plan`]'s guarantee is that this
/// meets `needed` everywhere (property-tested), and the simulator checks the
/// same plan against a far richer model.
pub fn serving_under(
    desired: &[u32],
    initial: u32,
    up_per_step: u32,
    lead_steps: usize,
) -> Vec<u32> {
    let mut serving = vec![0_u32; desired.len()];
    // launched[k]: instances asked for at grid k.
    let mut pipeline = std::collections::VecDeque::<(usize, u32)>::new();
    let mut running: u32 = initial;
    let mut starting: u32 = 0;
    for (k, &want) in desired.iter().enumerate() {
        while let Some(&(ready, m)) = pipeline.front() {
            if ready > k {
                break;
            }
            pipeline.pop_front();
            starting -= m;
            running += m;
        }
        let total = running + starting;
        if want > total {
            let add = (want - total).min(up_per_step);
            if lead_steps == 0 {
                running += add;
            } else {
                starting += add;
                pipeline.push_back((k + lead_steps, add));
            }
        } else if want < total {
            // Cancel starts first, then stop running instances.
            let mut cut = total - want;
            while cut > 0 {
                let Some(back) = pipeline.back_mut() else {
                    break;
                };
                let c = cut.min(back.1);
                back.1 -= c;
                starting -= c;
                cut -= c;
                if back.1 == 0 {
                    pipeline.pop_back();
                }
            }
            running -= cut.min(running);
        }
        serving[k] = running;
    }
    serving
}

/// The planner's grid parameters for a config: (grid step s, scale-out per
/// step, lead in steps) — what [`serving_under`] needs to replay a plan.
pub fn grid_params(cfg: &PlannerConfig) -> (i64, u32, usize) {
    let g = grid(cfg);
    (g.step_s, g.up, g.lead_steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crest_core::series::Quantile;
    use proptest::prelude::*;

    const H: i64 = 3600;

    fn forecast(mean: Vec<f64>, spread: f64) -> Forecast {
        let mut q = BTreeMap::new();
        q.insert(
            Quantile::try_new(0.1).unwrap(),
            mean.iter().map(|m| m * (1.0 - spread)).collect(),
        );
        q.insert(
            Quantile::try_new(0.9).unwrap(),
            mean.iter().map(|m| m * (1.0 + spread)).collect(),
        );
        Forecast::try_new("orders", Timestamp::from_secs(100 * H), H, mean, q).unwrap()
    }

    fn cfg() -> PlannerConfig {
        let mut c = PlannerConfig::new(AppId::try_new("app").unwrap(), "p");
        c.scale_out_rate = RateLimit::new(10, 300);
        c.scale_in_rate = RateLimit::new(5, 300);
        c.lead_time_s = 600;
        c.min = Replicas(2);
        c.max = Replicas(500);
        c.current = Replicas(2);
        c
    }

    fn check_ready(o: &PlanOutcome, c: &PlannerConfig) {
        let (_, up, lead) = grid_params(c);
        let serving = serving_under(&o.desired, c.current.0.clamp(c.min.0, c.max.0), up, lead);
        for (k, (s, n)) in serving.iter().zip(&o.needed).enumerate() {
            assert!(
                s >= n,
                "at grid {k} ({}) serving {s} < needed {n}",
                o.grid_start.add_secs(k as i64 * o.grid_step_s)
            );
        }
    }

    #[test]
    fn crest_is_ready_before_it_arrives() {
        // Quiet, then a 10× crest for 3 hours, then quiet.
        let mut mean = vec![100.0; 24];
        for m in &mut mean[10..13] {
            *m = 1000.0;
        }
        let cap = Capacity::given(10.0, 200.0).unwrap();
        let c = cfg();
        let o = plan(&forecast(mean, 0.2), &cap, &c).unwrap();
        // p90 = 1.2 × 1000 rps at 8 rps per instance = 150 instances.
        assert_eq!(o.peak, Replicas(150));
        let crest = Timestamp::from_secs(110 * H + 1800);
        assert_eq!(o.plan.desired_at(crest), Some(Replicas(150)));
        // The ramp (15 → 150 at 10 / 5 min, plus 10 min lead) starts > 2 h early.
        let start = o.scale_out_starts.unwrap();
        assert!(start < Timestamp::from_secs(100 * H), "{start}");
        let first_crest_ramp = o
            .plan
            .steps()
            .iter()
            .find(|s| s.at > Timestamp::from_secs(105 * H) && s.replicas.0 > 15)
            .unwrap();
        assert!(first_crest_ramp.at <= crest.add_secs(-(600 + 13 * 300)));
        assert!(matches!(
            first_crest_ramp.reason,
            PlanReason::LeadTime { .. }
        ));
        check_ready(&o, &c);
        // After the crest the fleet shrinks at 5 per 5 min, not at once.
        let after = o
            .plan
            .desired_at(Timestamp::from_secs(113 * H + 600))
            .unwrap();
        assert!(after.0 > 15 && after.0 < 150, "{after}");
    }

    #[test]
    fn freeze_holds_scale_in() {
        let mut mean = vec![100.0; 24];
        for m in &mut mean[10..13] {
            *m = 1000.0;
        }
        let cap = Capacity::given(10.0, 200.0).unwrap();
        let mut c = cfg();
        c.freeze = Some(Window {
            from: Timestamp::from_secs(109 * H),
            to: Timestamp::from_secs(118 * H),
        });
        let o = plan(&forecast(mean, 0.2), &cap, &c).unwrap();
        assert_eq!(
            o.plan.desired_at(Timestamp::from_secs(117 * H)),
            Some(Replicas(150))
        );
        assert!(o.plan.desired_at(Timestamp::from_secs(123 * H)).unwrap().0 < 150);
        assert!(
            o.plan
                .steps()
                .iter()
                .any(|s| s.reason == PlanReason::Freeze)
        );
    }

    #[test]
    fn budget_scales_the_plan_down_and_says_so() {
        let mean: Vec<f64> = (0..24).map(|i| 1100.0 - 25.0 * f64::from(i)).collect();
        let cap = Capacity::given(10.0, 200.0).unwrap();
        let mut c = cfg();
        let full = plan(&forecast(mean.clone(), 0.2), &cap, &c).unwrap();
        c.budget_instance_hours = Some(full.instance_hours / 2.0);
        let o = plan(&forecast(mean, 0.2), &cap, &c).unwrap();
        assert!(o.instance_hours <= full.instance_hours / 2.0);
        assert!(o.budget_factor.unwrap() < 1.0);
        assert!(o.plan.steps().iter().any(|s| s.reason
            == PlanReason::Bound {
                which: "budget".into()
            }));
    }

    #[test]
    fn quantile_interpolation() {
        let f = forecast(vec![100.0], 0.2);
        assert_eq!(demand_at(&f, 0.9).unwrap(), vec![120.0]);
        assert!((demand_at(&f, 0.7).unwrap()[0] - 110.0).abs() < 1e-9);
        assert_eq!(demand_at(&f, 0.99).unwrap(), vec![120.0]);
        assert!(demand_at(&forecast(vec![], 0.1), 0.9).is_err());
        assert!(demand_at(&forecast(vec![f64::NAN], 0.1), 0.9).is_err());
    }

    #[test]
    fn invalid_config_is_rejected() {
        let cap = Capacity::given(10.0, 200.0).unwrap();
        let mut c = cfg();
        c.risk = 1.5;
        assert!(plan(&forecast(vec![1.0], 0.1), &cap, &c).is_err());
        let mut c = cfg();
        c.min = Replicas(9);
        c.max = Replicas(3);
        assert!(plan(&forecast(vec![1.0], 0.1), &cap, &c).is_err());
    }

    fn arb_case() -> impl Strategy<Value = (Vec<f64>, PlannerConfig, f64)> {
        (
            prop::collection::vec(0.0..5000.0_f64, 1..30),
            1u32..50,
            60i64..1200,
            0i64..1800,
            0u32..5,
            5u32..400,
            0u32..300,
            1.0..50.0_f64,
        )
            .prop_map(|(mean, up, per, lead, min, span, cur, cap)| {
                let mut c = cfg();
                c.scale_out_rate = RateLimit::new(up, per);
                c.lead_time_s = lead;
                c.min = Replicas(min);
                c.max = Replicas(min + span);
                c.current = Replicas(cur);
                (mean, c, cap)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn bounds_hold((mean, c, cap) in arb_case()) {
            let o = plan(&forecast(mean, 0.3), &Capacity::given(cap, 200.0).unwrap(), &c).unwrap();
            for s in o.plan.steps() {
                prop_assert!(c.min <= s.replicas && s.replicas <= c.max);
            }
        }

        #[test]
        fn capacity_is_ready_in_time((mean, c, cap) in arb_case()) {
            let o = plan(&forecast(mean, 0.3), &Capacity::given(cap, 200.0).unwrap(), &c).unwrap();
            check_ready(&o, &c);
        }

        #[test]
        fn more_demand_never_fewer_replicas(
            (mean, c, cap) in arb_case(),
            extra in prop::collection::vec(0.0..2000.0_f64, 30),
        ) {
            let capacity = Capacity::given(cap, 200.0).unwrap();
            let more: Vec<f64> = mean.iter().zip(&extra).map(|(m, e)| m + e).collect();
            let a = plan(&forecast(mean, 0.3), &capacity, &c).unwrap();
            let b = plan(&forecast(more, 0.3), &capacity, &c).unwrap();
            // Compare at every instant either plan changes.
            for t in a.plan.steps().iter().chain(b.plan.steps()).map(|s| s.at) {
                let da = a.plan.desired_at(t).unwrap_or(c.current);
                let db = b.plan.desired_at(t).unwrap_or(c.current);
                prop_assert!(db >= da, "at {}: {} < {}", t, db, da);
            }
        }

        #[test]
        fn no_flapping((mean, c, cap) in arb_case()) {
            let o = plan(&forecast(mean, 0.3), &Capacity::given(cap, 200.0).unwrap(), &c).unwrap();
            let hold = usize::try_from(c.scale_in_hold_s / o.grid_step_s).unwrap();
            let u = &o.desired;
            for k in 1..u.len() {
                if u[k] < u[k - 1] {
                    let back = u[k..=(k + hold).min(u.len() - 1)].iter().max().unwrap();
                    prop_assert!(*back < u[k - 1], "scale-in at {} undone within the hold", k);
                }
            }
        }

        #[test]
        fn same_input_same_plan((mean, c, cap) in arb_case()) {
            let capacity = Capacity::given(cap, 200.0).unwrap();
            let f = forecast(mean, 0.3);
            prop_assert_eq!(plan(&f, &capacity, &c).unwrap(), plan(&f, &capacity, &c).unwrap());
        }
    }
}
