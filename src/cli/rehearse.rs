//! `crest rehearse`: the README's main job.
//!
//! Take the bundled NYC taxi demand, pick a crest (New Year's Eve 2014 by
//! default: the ball-drop lull and the surge after midnight), forecast it with
//! the data before it only, plan it, and replay three strategies on the
//! *actual* demand of the window:
//!
//! - `static-peak`: a week ahead, provision the forecast's highest quantile
//!   at its peak and hold it (the old VM practice);
//! - `reactive`: HPA-style target tracking alone;
//! - `crest`: the verified plan, followed and corrected by live deviation,
//!   with target tracking as a safety net (`crest_autoscaler::rehearsal`).
//!
//! Taxi trips become requests by `--requests-per-trip` so the fleet is tens of
//! instances. The replay runs on the autoscaler's fluid model (lead time, API
//! rate limit, metrics lag); demand is read as 30-minute steps, as the
//! simulator reads it.
//!
//! Exit codes: 0 report printed, 1 failure (data, forecast, plan).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use crest_autoscaler::planner::{PlannerConfig, Window};
use crest_autoscaler::rehearsal::{RehearsalConfig, StrategyResult, rehearse_fluid, target_met};
use crest_autoscaler::{FluidModel, ReplayReport};
use crest_core::{AppId, Capacity, Forecast, Replicas, Series, Timestamp};

use super::plan::{Format, emit, parse_duration_s, parse_instant, parse_rate, parse_risk};

/// Arguments of `crest rehearse`.
#[derive(Debug, Args)]
pub struct RehearseCmd {
    /// Dataset (bundled name or file) with the demand history.
    #[arg(long, default_value = "nyc_taxi")]
    dataset: String,
    /// The crest: new-year, thanksgiving, christmas, or FROM..TO.
    #[arg(long, default_value = "new-year")]
    crest: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write PNG plots into this directory (rehearse-demand.png, rehearse-fleet.png).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Seed (forecast sampling and the verification gate).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Requests per taxi trip (scales the fleet to tens of instances).
    #[arg(long, default_value_t = 100.0)]
    requests_per_trip: f64,
    /// Per-instance requests per second at the SLO.
    #[arg(long, default_value_t = 50.0)]
    per_instance_qps: f64,
    /// The p99 latency SLO in milliseconds.
    #[arg(long, default_value_t = 200.0)]
    slo_p99_ms: f64,
    /// Demand quantile crest plans for.
    #[arg(long, default_value = "p90")]
    risk: String,
    /// crest's planned utilisation of SLO capacity.
    #[arg(long, default_value_t = 0.9)]
    utilisation: f64,
    /// Reactive baseline's utilisation target (of saturation throughput).
    #[arg(long, default_value_t = 0.6)]
    reactive_target: f64,
    /// Provisioning lead time.
    #[arg(long, default_value = "5m")]
    lead_time: String,
    /// Scale-out API rate limit.
    #[arg(long, default_value = "150/5m")]
    rate: String,
    /// Price of one instance-hour (cost column).
    #[arg(long, default_value_t = 0.10)]
    price: f64,
    /// Scale-in freeze for crest's plan, FROM..TO (or `none`). Default for the
    /// named crests: the holiday night itself (New Year's Eve 20:00 to 04:00),
    /// as operators freeze scale-in around a peak they know is coming.
    #[arg(long, value_name = "FROM..TO")]
    freeze: Option<String>,
    /// Replay engine: the discrete-event simulator, or the planner's fluid model.
    #[arg(long, value_enum, default_value_t = Engine::Sim)]
    engine: Engine,
}

/// Which model the strategies are replayed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// crest-sim: requests, queues, latency percentiles, provisioning.
    Sim,
    /// The autoscaler's fluid model (fast, coarse).
    Fluid,
}

/// The simulated instance for a capacity: lognormal service (CV 0.5) with a
/// mean of at most a sixth of the SLO (p99 service ~45 % of it), and as many
/// slots as make saturation 1.2 × the capacity at the SLO (an instance too
/// slow for that gets one slot and a faster service: the given capacity is
/// then conservative). For the rehearsal (50 rps, 200 ms): 2 slots of 33 ms.
pub(crate) fn sim_fleet(instances: u32, cap: &Capacity) -> crest_sim::Fleet {
    let sat = 1.2 * cap.per_instance.get();
    let max_mean_s = cap.slo_p99_ms / 6000.0;
    let slots = (sat * max_mean_s).round().clamp(1.0, 10_000.0);
    crest_sim::Fleet::new(
        instances,
        slots as u32,
        crest_sim::ServiceDist::Lognormal {
            mean_s: (slots / sat).min(max_mean_s),
            cv: 0.5,
        },
    )
}

/// A simulator scenario replaying `demand` (requests/s) from `initial`
/// instances, with the model's API rate limit. Plans are made with the
/// *worst-case* lead time, so the simulated lead times (lognormal, CV 0.2)
/// have their p99 there: mean = lead / 1.6.
pub(crate) fn sim_scenario(
    name: &str,
    demand: Series,
    initial: u32,
    cap: &Capacity,
    model: &FluidModel,
) -> crest_sim::Scenario {
    crest_sim::Scenario::from_demand(demand)
        .with_name(name)
        .with_fleet(sim_fleet(initial, cap))
        .with_provisioner(crest_sim::Provisioner {
            platform: "container".into(),
            lead_time_s: model.lead_time_s as f64 / 1.6,
            lead_jitter_cv: 0.2,
            image_pull_s: 0.0,
            image_changed: false,
            rate_limit: Some(crest_sim::RateLimit {
                instances: model.scale_out_rate.instances,
                per_s: model.scale_out_rate.period_s as f64,
                mode: crest_sim::ApiMode::Async,
            }),
            replace_failed: true,
        })
        .with_mode(crest_sim::Mode::Fluid)
        .with_slo(cap.slo_p99_ms, 0.001)
}

/// The scale-in freeze: `--freeze FROM..TO|none`, else the named crest's own
/// holiday night.
fn freeze_window(cmd: &RehearseCmd) -> anyhow::Result<Option<Window>> {
    let spec = match (cmd.freeze.as_deref(), cmd.crest.as_str()) {
        (Some("none"), _) => return Ok(None),
        (Some(spec), _) => spec,
        (None, "new-year" | "nye") => "2014-12-31T20:00..2015-01-01T04:00",
        (None, _) => return Ok(None),
    };
    let (a, b) = spec
        .split_once("..")
        .with_context(|| format!("failed to read --freeze {spec:?}: expected FROM..TO or none"))?;
    let w = Window {
        from: parse_instant(a)?,
        to: parse_instant(b)?,
    };
    if w.to <= w.from {
        bail!("failed to read --freeze {spec:?}: the end must come after the start");
    }
    Ok(Some(w))
}

/// A named crest window.
fn crest_window(name: &str) -> anyhow::Result<(String, Window)> {
    let w = |a: &str, b: &str| -> anyhow::Result<Window> {
        Ok(Window {
            from: parse_instant(a)?,
            to: parse_instant(b)?,
        })
    };
    Ok(match name {
        "new-year" | "nye" => ("New Year's Eve 2014".into(), w("2014-12-31", "2015-01-02")?),
        "thanksgiving" => ("Thanksgiving 2014".into(), w("2014-11-26", "2014-11-29")?),
        "christmas" => ("Christmas 2014".into(), w("2014-12-24", "2014-12-27")?),
        other => {
            let (a, b) = other.split_once("..").with_context(|| {
                format!("failed to read --crest {other:?}: expected new-year, thanksgiving, christmas or FROM..TO")
            })?;
            (other.to_string(), w(a, b)?)
        }
    })
}

/// The demand history of a dataset (bundled name or file): its first series.
fn load_history(dataset: &str) -> anyhow::Result<Series> {
    let d = crest_datasets::resolve(dataset)
        .with_context(|| format!("failed to load dataset {dataset:?}"))?;
    d.series
        .into_iter()
        .next()
        .with_context(|| format!("dataset {dataset:?} has no series"))
}

/// Forecast `[from, to)` from a history file with the data before `from`.
pub(crate) fn forecast_history(
    history: &Path,
    from: Timestamp,
    to: Timestamp,
    calendar: Option<&str>,
) -> anyhow::Result<Forecast> {
    let series = load_history(&history.to_string_lossy())?;
    forecast_series(&series, from, to, calendar)
}

/// Forecast `[from, to)` from the part of `series` before `from` only, with
/// p10, p50, p90 and p97.5.
pub(crate) fn forecast_series(
    series: &Series,
    from: Timestamp,
    to: Timestamp,
    calendar: Option<&str>,
) -> anyhow::Result<Forecast> {
    let step_ms = series.step_s() * 1000;
    let offset = from.millis() - series.start().millis();
    if offset <= 0 {
        bail!(
            "failed to forecast from {from}: the history starts at {}, so there is nothing before the window",
            series.start()
        );
    }
    let cut = usize::try_from((offset + step_ms - 1) / step_ms)?;
    let before = series.slice(0, cut);
    // The forecast starts where the history stops; skip to `from`.
    let first = before.time_at(before.len());
    let lead = usize::try_from(((from.millis() - first.millis()).max(0)) / step_ms)?;
    let horizon =
        lead + usize::try_from(((to.millis() - from.millis()).max(0) + step_ms - 1) / step_ms)?;
    let cal = crest_datasets::calendar::resolve_calendar(calendar.unwrap_or("none"))
        .with_context(|| format!("failed to load calendar {:?}", calendar.unwrap_or("none")))?;
    let quantiles = [0.1, 0.5, 0.9, 0.975]
        .into_iter()
        .map(crest_core::series::Quantile::try_new)
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = crest_forecast::ForecastConfig::new(horizon)
        .with_calendar(cal)
        .with_quantiles(quantiles);
    let out = crest_forecast::forecast(&before, &cfg)
        .with_context(|| format!("failed to forecast {} steps from {first}", horizon))?;
    super::plan::window(&out.forecast, Some(from), Some(to))
}

/// Multiply a series' values.
fn scaled(s: &Series, k: f64) -> anyhow::Result<Series> {
    Ok(Series::try_new(
        s.id(),
        s.start(),
        s.step_s(),
        s.values().iter().map(|v| v * k).collect(),
    )?)
}

/// The rehearsal's settings from the command line.
fn config(cmd: &RehearseCmd, window: Window) -> anyhow::Result<RehearsalConfig> {
    let cap = Capacity::given(cmd.per_instance_qps, cmd.slo_p99_ms)
        .context("failed to use --per-instance-qps / --slo-p99-ms")?;
    let app = AppId::try_new("taxi-booking")?;
    let mut planner = PlannerConfig::new(app.clone(), "rehearsal");
    planner.risk = parse_risk(&cmd.risk)?;
    planner.target_utilisation = cmd.utilisation;
    planner.lead_time_s = parse_duration_s(&cmd.lead_time)?;
    planner.scale_out_rate = parse_rate(&cmd.rate)?;
    planner.scale_in_rate = parse_rate("5/1m")?;
    planner.min = Replicas(2);
    planner.freeze = freeze_window(cmd)?;
    planner.max = Replicas(10_000);
    let mut model = FluidModel::new(cap.clone());
    model.lead_time_s = planner.lead_time_s;
    model.scale_out_rate = planner.scale_out_rate;
    model.cost_per_instance_hour = cmd.price;
    Ok(RehearsalConfig {
        app,
        capacity: cap,
        model,
        planner,
        reactive_target: cmd.reactive_target,
        crest_reactive_target: 0.75,
        static_utilisation: 0.8,
        window,
    })
}

/// Run `crest rehearse`.
pub fn run(cmd: RehearseCmd) -> anyhow::Result<ExitCode> {
    let (crest_name, window) = crest_window(&cmd.crest)?;
    let trips = load_history(&cmd.dataset)?;
    let k = cmd.requests_per_trip / trips.step_s() as f64;
    let forecast_trips = forecast_series(&trips, window.from, window.to, Some("us"))?;
    let mut forecast = forecast_trips.clone();
    super::plan::to_rps(&mut forecast, cmd.requests_per_trip, true);
    let actual = scaled(&trips, k)?;
    let cfg = config(&cmd, window)?;
    let (reports, outcome) = match cmd.engine {
        Engine::Fluid => rehearse_fluid(&cfg, &forecast, &actual).context("failed to rehearse")?,
        Engine::Sim => rehearse_sim(&cfg, &forecast, &actual, cmd.seed)?,
    };
    let results: Vec<StrategyResult> = reports.iter().map(StrategyResult::from).collect();
    let met = target_met(&results);
    let static_ih = results
        .iter()
        .find(|r| r.name == "static-peak")
        .map_or(f64::NAN, |r| r.instance_hours);
    let crest_ih = results
        .iter()
        .find(|r| r.name == "crest")
        .map_or(f64::NAN, |r| r.instance_hours);

    match cmd.format {
        Format::Json => {
            let v = serde_json::json!({
                "crest": crest_name,
                "window": {"from": window.from, "to": window.to},
                "engine": engine_name(cmd.engine),
                "strategies": results,
                "crest_instance_hours_vs_static": crest_ih / static_ih,
                "target_met": met,
                "plan": {
                    "peak": outcome.peak.0,
                    "instance_hours": outcome.instance_hours,
                    "scale_out_starts": outcome.scale_out_starts,
                },
                "settings": {
                    "requests_per_trip": cmd.requests_per_trip,
                    "per_instance_qps": cmd.per_instance_qps,
                    "risk": cfg.planner.risk,
                    "utilisation": cfg.planner.target_utilisation,
                    "reactive_target": cfg.reactive_target,
                    "freeze": cfg.planner.freeze,
                    "lead_time_s": cfg.planner.lead_time_s,
                    "rate": format!("{}/{}s", cfg.planner.scale_out_rate.instances, cfg.planner.scale_out_rate.period_s),
                    "price_per_instance_hour": cmd.price,
                    "seed": cmd.seed,
                },
            });
            emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
        }
        Format::Table => {
            use std::fmt::Write;
            let mut t = String::new();
            writeln!(
                t,
                "rehearsal: {crest_name}, {} to {} ({}, demand as 30-min steps)",
                window.from,
                window.to,
                engine_name(cmd.engine)
            )?;
            writeln!(
                t,
                "{:<12} {:>16} {:>15} {:>10} {:>6} {:>10}",
                "strategy", "SLO-viol. min", "instance-hours", "cost", "peak", "unserved"
            )?;
            for r in &results {
                writeln!(
                    t,
                    "{:<12} {:>16.1} {:>15.1} {:>10.2} {:>6} {:>9.3}%",
                    r.name,
                    r.slo_violation_minutes,
                    r.instance_hours,
                    r.cost,
                    r.peak_instances,
                    r.unserved_fraction * 100.0
                )?;
            }
            writeln!(
                t,
                "crest uses {:.0} % of static peak's instance-hours; target {}",
                100.0 * crest_ih / static_ih,
                match met {
                    Some(true) => "met",
                    Some(false) => "NOT met",
                    None => "unknown",
                }
            )?;
            emit(&t)?;
        }
    }
    if let Some(dir) = &cmd.plot {
        plot(
            dir,
            &forecast,
            &actual,
            &reports,
            window,
            cmd.per_instance_qps,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Sim => "simulator",
        Engine::Fluid => "fluid model",
    }
}

/// The part of `s` inside `w`.
pub(crate) fn window_of(s: &Series, w: Window) -> anyhow::Result<Series> {
    let step_ms = s.step_s() * 1000;
    let i0 = usize::try_from((w.from.millis() - s.start().millis()).max(0) / step_ms)?;
    let i1 =
        usize::try_from(((w.to.millis() - s.start().millis()).max(0) + step_ms - 1) / step_ms)?;
    let part = s.slice(i0, i1);
    if part.is_empty() {
        bail!(
            "the window {} to {} is outside the data ({} to {})",
            w.from,
            w.to,
            s.start(),
            s.end().map_or_else(|| "?".into(), |t| t.to_string())
        );
    }
    Ok(part)
}

/// The three strategies replayed in the discrete-event simulator.
fn rehearse_sim(
    cfg: &RehearsalConfig,
    forecast: &Forecast,
    actual: &Series,
    seed: u64,
) -> anyhow::Result<(Vec<ReplayReport>, crest_autoscaler::planner::PlanOutcome)> {
    let demand = window_of(actual, cfg.window)?;
    let at_start = demand.values().first().copied().unwrap_or(0.0);
    let (strategies, outcome) = crest_autoscaler::rehearsal::strategies(cfg, forecast, at_start)
        .context("failed to build the strategies")?;
    let mut out = Vec::new();
    for s in strategies {
        let sc = sim_scenario(
            &s.name,
            demand.clone(),
            s.initial,
            &cfg.capacity,
            &cfg.model,
        );
        let r = crest_sim::run_with_policy(&sc, s.policy, s.plan, seed)
            .with_context(|| format!("failed to simulate {}", s.name))?;
        out.push(from_sim(&s.name, &r, cfg.model.cost_per_instance_hour));
    }
    Ok((out, outcome))
}

/// A simulator report in the replay's shape (for the table, JSON and plots).
pub(crate) fn from_sim(name: &str, r: &crest_sim::SimReport, price: f64) -> ReplayReport {
    ReplayReport {
        policy: name.to_string(),
        slo_violation_minutes: r.slo_violation_minutes as f64,
        instance_hours: r.instance_hours,
        cost: r.instance_hours * price,
        peak_instances: r.peak_instances,
        unserved_fraction: if r.requests_arrived > 0 {
            r.requests_dropped as f64 / r.requests_arrived as f64
        } else {
            0.0
        },
        timeline: r
            .timeline
            .iter()
            .map(|p| crest_autoscaler::replay::ReplayPoint {
                at: Timestamp(p.at_ms),
                demand_rps: p.demand,
                serving: p.instances,
                provisioned: p.instances + p.starting,
                desired: p.desired,
            })
            .collect(),
    }
}

/// Draw the forecast against reality, and each strategy's capacity.
fn plot(
    dir: &Path,
    forecast: &Forecast,
    actual: &Series,
    reports: &[ReplayReport],
    window: Window,
    per_instance: f64,
) -> anyhow::Result<()> {
    use crest_plot::{Band, Chart, Line};
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let secs = |t: Timestamp| t.secs() as f64;
    let in_window = |t: Timestamp| t >= window.from && t < window.to;
    let actual_pts: Vec<(f64, f64)> = actual
        .iter()
        .filter(|(t, _)| in_window(*t))
        .flat_map(|(t, v)| {
            let end = t.add_secs(actual.step_s());
            [(secs(t), v), (secs(end), v)]
        })
        .collect();
    let mut demand = Chart::new("Demand: forecast (made before the crest) vs what happened")
        .time_axis()
        .y_label("requests / s")
        .line(Line::new("actual", actual_pts.clone()));
    let mid = |i: usize| secs(forecast.time_at(i)) + forecast.step_s as f64 / 2.0;
    if let (Some(lo), Some(hi)) = (
        forecast.quantiles.keys().next(),
        forecast.quantiles.keys().last(),
    ) {
        let (pl, ph) = (&forecast.quantiles[lo], &forecast.quantiles[hi]);
        demand = demand.band(Band {
            label: format!("forecast {}..{}", lo.column_name(), hi.column_name()),
            points: (0..forecast.horizon())
                .map(|i| (mid(i), pl[i], ph[i]))
                .collect(),
        });
    }
    demand = demand.line(Line::new(
        "forecast mean",
        (0..forecast.horizon())
            .map(|i| (mid(i), forecast.mean[i]))
            .collect(),
    ));
    let path = dir.join("rehearse-demand.png");
    crest_plot::render(&[demand], &path, (1100, 450))
        .with_context(|| format!("failed to draw {}", path.display()))?;

    let mut panels = Vec::new();
    for r in reports {
        let cap = |n: u32| f64::from(n) * per_instance;
        let serving: Vec<(f64, f64)> = r
            .timeline
            .iter()
            .map(|p| (secs(p.at), cap(p.serving)))
            .collect();
        panels.push(
            Chart::new(format!(
                "{}: {:.0} SLO-violation minutes, {:.0} instance-hours",
                r.policy, r.slo_violation_minutes, r.instance_hours
            ))
            .time_axis()
            .y_label("requests / s")
            .line(Line::new("demand", actual_pts.clone()))
            .line(Line::new("serving capacity at SLO", serving).stepped()),
        );
    }
    let path = dir.join("rehearse-fleet.png");
    crest_plot::render(&panels, &path, (1100, 900))
        .with_context(|| format!("failed to draw {}", path.display()))?;
    eprintln!("plots written to {}", dir.display());
    Ok(())
}
