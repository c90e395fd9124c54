//! `crest plan`: forecast + capacity + constraints → a verified scaling plan.
//!
//! The planning itself is `crest_autoscaler::plan` (pure); this module reads
//! the inputs, prints the plan as a table (or JSON), draws it, and runs the
//! verification gate (`crest_planning::gate::run_gate`): the plan replayed
//! against Monte Carlo draws from the forecast's quantiles, the forecaster's
//! own errors on comparable past days (`--empirical`, measured by
//! `crest_planning::gate::comparable_errors` and written into the document so
//! `crest run` replays them again) and stated stress cases (`--stress`). A
//! plan that fails the gate is not written to `--output` (so `crest run`
//! never sees it) unless `--force`.
//!
//! Exit codes: 0 plan made (and passed the gate if `--verify`), 1 bad input or
//! failure, 2 usage, 3 the plan failed the verification gate (nothing written
//! without `--force`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::args::{
    Format, emit, parse_duration_s, parse_instant, parse_rate, parse_replicas, parse_risk,
};
use super::prom::PromArgs;
use crest_autoscaler::planner::{PlanOutcome, PlannerConfig, Window};
use crest_autoscaler::{EmpiricalErrors, FluidModel, GateConfig, GateReport, PlanDocument};
use crest_core::{AppId, Capacity, Forecast, PlanReason, Replicas, Timestamp};

/// Arguments of `crest plan` (boxed: they are many, and the command enum
/// should stay small).
#[derive(Debug, Args)]
pub struct PlanCmd {
    #[command(flatten)]
    args: Box<PlanArgs>,
}

/// The flags of `crest plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// History to forecast from (CSV/Parquet, or a bundled dataset name);
    /// the window to plan is --from DATE --to DATE (exclusive), e.g.
    /// 2014-11-27 and 2014-11-30.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["forecast", "prometheus"])]
    history: Option<PathBuf>,
    /// A ready forecast (JSON, as `crest forecast --format json` writes it)
    /// instead of `--history`.
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    forecast: Option<PathBuf>,
    #[command(flatten)]
    prom: PromArgs,
    /// With --prometheus: plan this long after the pulled history (1d, 12h).
    #[arg(long, value_name = "DUR", default_value = "1d")]
    plan_for: String,
    /// Holiday calendar for the forecast: cn, us, or a file.
    #[arg(long, value_name = "cn|us|FILE")]
    calendar: Option<String>,
    /// Measured capacity (JSON, as `crest probe` writes it).
    #[arg(long, value_name = "FILE", conflicts_with = "per_instance_qps")]
    capacity: Option<PathBuf>,
    /// Per-instance requests per second at the SLO (instead of `--capacity`).
    #[arg(long, value_name = "N")]
    per_instance_qps: Option<f64>,
    /// The p99 latency SLO in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 200.0)]
    slo_p99_ms: f64,
    /// Demand quantile to plan for: p90, p97.5, 0.9, ...
    #[arg(long, default_value = "p90")]
    risk: String,
    /// Highest planned utilisation of an instance's SLO capacity.
    #[arg(long, default_value_t = 0.8)]
    utilisation: f64,
    /// Requests per unit of the forecast (e.g. API calls per order).
    #[arg(long, default_value_t = 1.0)]
    requests_per_unit: f64,
    /// The forecast counts per step (true) rather than per second.
    #[arg(long)]
    per_step: bool,
    /// Provisioning lead time: ask this long before an instance must serve (30s, 5m, 1h).
    #[arg(long, default_value = "5m")]
    lead_time: String,
    /// Scale-out API rate limit, instances per period (150/5m).
    #[arg(long, default_value = "150/5m")]
    rate: String,
    /// Scale-in pace, instances per period.
    #[arg(long, default_value = "10/1m")]
    scale_in_rate: String,
    /// Lower bound on instances.
    #[arg(long, default_value_t = 1, value_parser = parse_replicas)]
    min: u32,
    /// Upper bound on instances.
    #[arg(long, default_value_t = 10_000, value_parser = parse_replicas)]
    max: u32,
    /// Instances serving now (default: the need at the forecast's start).
    #[arg(long)]
    current: Option<u32>,
    /// Instance-hour budget for the plan.
    #[arg(long, value_name = "HOURS")]
    budget: Option<f64>,
    /// No scale-in inside FROM..TO (dates or instants).
    #[arg(long, value_name = "FROM..TO")]
    freeze: Option<String>,
    /// The app planned.
    #[arg(long, default_value = "app")]
    app: String,
    /// Write the plan document (plan + inputs + verdict) here.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Draw demand and the plan (.png or .svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Replay the plan against Monte Carlo demand scenarios before accepting it.
    #[arg(long)]
    verify: bool,
    /// Write the plan even if it fails the gate.
    #[arg(long)]
    force: bool,
    /// Monte Carlo scenarios for `--verify`: draws between the forecast's
    /// quantiles, as rough from step to step as the forecaster's errors on
    /// the comparable days of --empirical (a step correlation of 0.95
    /// without them).
    #[arg(long, default_value_t = 100)]
    scenarios: usize,
    /// Seed for the scenarios.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The gate passes when P(SLO breach) is at most this.
    #[arg(long, default_value_t = 0.05)]
    max_breach: f64,
    /// What the gate replays scenarios on: the discrete-event simulator, or
    /// the planner's fluid model (fast; many scenarios).
    #[arg(long, value_enum, default_value_t = GateEngine::Sim)]
    engine: GateEngine,
    /// Stated stress cases the plan must survive with no SLO breach:
    /// `surge=K` replays the forecast mean × K, `lead=p99` replays the
    /// forecast mean with every provisioning lead time at its p99 (the
    /// --lead-time the plan was made for, no jitter); `none` for neither.
    #[arg(long, value_name = "surge=K,lead=p99|none", default_value = crest_planning::gate::StressCases::DEFAULT)]
    stress: String,
    /// Empirical gate scenarios: the forecast mean × the forecaster's own
    /// day-ahead errors on comparable past days of the history (the same
    /// holiday's window in earlier years when the window is in a holiday
    /// window, else the 7 days before it). `auto` with --history or
    /// --prometheus; `none` to skip. A sampled kind fails when more than
    /// --max-breach of its scenarios breach.
    #[arg(long, value_enum, default_value_t = Empirical::Auto)]
    empirical: Empirical,
}

/// Whether `crest plan --verify` adds empirical scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Empirical {
    /// From the history when there is one.
    Auto,
    /// Quantile draws and stress cases only.
    None,
}

/// The model the verification gate replays scenarios on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateEngine {
    /// crest-sim (requests, queues, latency; about a second per 2-day scenario).
    Sim,
    /// The autoscaler's fluid model (milliseconds per scenario).
    Fluid,
}

/// Run the verification gate ([`crest_planning::gate::run_gate`]) on a plan
/// document's own forecast, empirical errors, model and gate settings
/// (crest-sim in fluid mode, or the planner's fluid model).
pub(crate) fn run_gate(engine: GateEngine, doc: &PlanDocument) -> anyhow::Result<GateReport> {
    let engine = match engine {
        GateEngine::Fluid => crest_planning::gate::GateEngine::Planner,
        GateEngine::Sim => crest_planning::gate::GateEngine::Sim(crest_planning::SimMode::Fluid),
    };
    crest_planning::gate::run_gate(doc, engine).context("failed to verify the plan")
}

/// Read the capacity from `--capacity FILE` or `--per-instance-qps N`.
pub(crate) fn load_capacity(
    file: Option<&Path>,
    qps: Option<f64>,
    slo_ms: f64,
) -> anyhow::Result<Capacity> {
    match (file, qps) {
        (Some(f), _) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("failed to read capacity file {}", f.display()))?;
            let c: Capacity = serde_json::from_str(&text).with_context(|| {
                format!(
                    "failed to parse capacity file {} (expected the JSON `crest probe` writes)",
                    f.display()
                )
            })?;
            if c.per_instance.get() <= 0.0 {
                bail!(
                    "failed to use capacity file {}: per_instance must be > 0",
                    f.display()
                );
            }
            Ok(c)
        }
        (None, Some(q)) => Capacity::given(q, slo_ms)
            .with_context(|| format!("failed to use --per-instance-qps {q} --slo-p99-ms {slo_ms}")),
        (None, None) => bail!("no capacity: pass --capacity FILE or --per-instance-qps N"),
    }
}

/// Read a forecast JSON file.
pub(crate) fn load_forecast(path: &Path) -> anyhow::Result<Forecast> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read forecast {}", path.display()))?;
    let f: Forecast = serde_json::from_str(&text).with_context(|| {
        format!(
            "failed to parse forecast {} (expected crest's Forecast JSON)",
            path.display()
        )
    })?;
    // Re-check invariants the deserialiser does not.
    Forecast::try_new(
        f.series_id.clone(),
        f.start,
        f.step_s,
        f.mean.clone(),
        f.quantiles.clone(),
    )
    .with_context(|| format!("invalid forecast {}", path.display()))?;
    Ok(f)
}

/// Convert forecast units into requests per second, in place.
pub(crate) fn to_rps(f: &mut Forecast, requests_per_unit: f64, per_step: bool) {
    let k = requests_per_unit / if per_step { f.step_s as f64 } else { 1.0 };
    crest_planning::forecast::scale_forecast(f, k);
}

/// Cut a forecast to `[from, to)`.
pub(crate) fn window(
    f: &Forecast,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> anyhow::Result<Forecast> {
    Ok(crest_planning::forecast::window(f, from, to)?)
}

/// A short human text for a reason.
pub(crate) fn reason_text(r: &PlanReason) -> String {
    match r {
        PlanReason::Baseline => "baseline".into(),
        PlanReason::Forecast {
            demand_rps,
            quantile,
        } => {
            format!(
                "forecast p{} demand {:.0} rps",
                quantile * 100.0,
                demand_rps
            )
        }
        PlanReason::LeadTime { lead_s } => {
            format!("ahead of demand: {} min lead time + ramp", lead_s / 60)
        }
        PlanReason::Freeze => "freeze: no scale-in".into(),
        PlanReason::Calendar { name } => format!("calendar: {name}"),
        PlanReason::Alert { name } => format!("alert: {name}"),
        PlanReason::Bound { which } => format!("bound: {which}"),
        PlanReason::Reactive {
            metric,
            value,
            target,
        } => {
            format!("{metric} {value:.2} vs target {target:.2}")
        }
        PlanReason::Manual { note } => note.clone(),
        _ => "other".into(),
    }
}

/// The model and gate for a planner config.
pub(crate) fn model_for(cap: &Capacity, cfg: &PlannerConfig) -> FluidModel {
    let mut m = FluidModel::new(cap.clone());
    m.lead_time_s = cfg.lead_time_s;
    m.scale_out_rate = cfg.scale_out_rate;
    m.tick_s = 60;
    m.evaluate_every_s = 60;
    m
}

/// Draw the forecast band, the planned demand and the plan.
pub(crate) fn plot_plan(
    path: &Path,
    forecast: &Forecast,
    outcome: &PlanOutcome,
    cap: &Capacity,
) -> anyhow::Result<()> {
    use crest_plot::{Band, Chart, Line};
    let secs = |t: Timestamp| t.secs() as f64;
    let mean: Vec<(f64, f64)> = forecast
        .mean
        .iter()
        .enumerate()
        .map(|(i, v)| (secs(forecast.time_at(i)) + forecast.step_s as f64 / 2.0, *v))
        .collect();
    let mut demand = Chart::new("Forecast demand and the capacity the plan provides")
        .time_axis()
        .y_label("requests / s")
        .line(Line::new("forecast mean", mean));
    let levels: Vec<_> = forecast.quantiles.keys().copied().collect();
    if let (Some(lo), Some(hi)) = (levels.first(), levels.last())
        && lo != hi
    {
        let (pl, ph) = (&forecast.quantiles[lo], &forecast.quantiles[hi]);
        demand = demand.band(Band {
            label: format!("{}..{}", lo.column_name(), hi.column_name()),
            points: (0..forecast.horizon())
                .map(|i| {
                    (
                        secs(forecast.time_at(i)) + forecast.step_s as f64 / 2.0,
                        pl[i],
                        ph[i],
                    )
                })
                .collect(),
        });
    }
    let grid_t = |k: usize| secs(outcome.grid_start) + (k as i64 * outcome.grid_step_s) as f64;
    let served: Vec<(f64, f64)> = outcome
        .desired
        .iter()
        .enumerate()
        .map(|(k, n)| (grid_t(k), f64::from(*n) * cap.per_instance.get()))
        .collect();
    demand = demand.line(Line::new("planned capacity at SLO", served).stepped());
    let desired: Vec<(f64, f64)> = outcome
        .desired
        .iter()
        .enumerate()
        .map(|(k, n)| (grid_t(k), f64::from(*n)))
        .collect();
    let needed: Vec<(f64, f64)> = outcome
        .needed
        .iter()
        .enumerate()
        .map(|(k, n)| (grid_t(k), f64::from(*n)))
        .collect();
    let mut fleet = Chart::new("Plan: instances asked for vs serving instances needed")
        .time_axis()
        .y_label("instances")
        .line(Line::new("plan (desired)", desired).stepped())
        .line(Line::new("needed at the risk quantile", needed).stepped());
    if let Some(t) = outcome.scale_out_starts {
        fleet = fleet.marker(secs(t), "scale-out starts");
    }
    crest_plot::render(&[demand, fleet], path, (1100, 800))
        .with_context(|| format!("failed to draw {}", path.display()))?;
    Ok(())
}

/// The forecaster's errors on comparable past days of `series` for the
/// window `[from, to)`, when the gate runs and wants them.
fn empirical_for(
    cmd: &PlanArgs,
    series: &crest_core::Series,
    calendar: &crest_core::Calendar,
    from: Timestamp,
    to: Timestamp,
) -> anyhow::Result<Option<EmpiricalErrors>> {
    if !cmd.verify || cmd.empirical == Empirical::None {
        return Ok(None);
    }
    let e = crest_planning::gate::comparable_errors(
        series,
        calendar,
        from,
        to,
        &crest_planning::gate::ComparableDays::default(),
    )
    .context("failed to measure the forecaster's errors on comparable past days")?;
    Ok(Some(e))
}

/// Obtain the forecast from the command's inputs, in requests per second,
/// and the forecaster's errors on comparable past days (for the gate).
fn obtain_forecast(cmd: &PlanArgs) -> anyhow::Result<(Forecast, Option<EmpiricalErrors>)> {
    cmd.prom.check_unused(true)?;
    if let Some(series) = cmd.prom.load_one("plan")? {
        let calendar =
            crest_datasets::calendar::resolve_calendar(cmd.calendar.as_deref().unwrap_or("none"))
                .with_context(|| format!("failed to load calendar {:?}", cmd.calendar))?;
        let mut f = crest_planning::forecast::forecast_after(
            &series,
            parse_duration_s(&cmd.plan_for)?,
            &calendar,
        )?;
        let empirical = empirical_for(cmd, &series, &calendar, f.start, f.time_at(f.horizon()))?;
        to_rps(&mut f, cmd.requests_per_unit, cmd.per_step);
        return Ok((f, empirical));
    }
    let from = cmd.prom.from.as_deref().map(parse_instant).transpose()?;
    let to = cmd.prom.to.as_deref().map(parse_instant).transpose()?;
    let mut empirical = None;
    let mut f = match (&cmd.forecast, &cmd.history) {
        (Some(path), _) => load_forecast(path)?,
        (None, Some(history)) => {
            let from = from.context("--history needs --from (the window's first day)")?;
            let to = to.context("--history needs --to (the window's end)")?;
            let inputs = crest_planning::backtest::load(
                &history.to_string_lossy(),
                cmd.calendar.as_deref().unwrap_or("none"),
            )?;
            empirical = empirical_for(cmd, &inputs.series, &inputs.calendar, from, to)?;
            crest_planning::forecast::forecast_window(
                &inputs.series,
                from,
                from,
                to,
                &inputs.calendar,
                0,
                crest_forecast::FinalFit::Linfa,
            )?
        }
        (None, None) => {
            bail!("nothing to plan from: pass --history FILE, --forecast FILE or --prometheus URL")
        }
    };
    to_rps(&mut f, cmd.requests_per_unit, cmd.per_step);
    Ok((window(&f, from, to)?, empirical))
}

/// Run `crest plan`.
pub fn run(cmd: PlanCmd) -> anyhow::Result<ExitCode> {
    let cmd = *cmd.args;
    let risk = parse_risk(&cmd.risk)?;
    let cap = load_capacity(
        cmd.capacity.as_deref(),
        cmd.per_instance_qps,
        cmd.slo_p99_ms,
    )?;
    let stress =
        crest_planning::gate::StressCases::parse(&cmd.stress).context("failed to read --stress")?;
    let (forecast, empirical) = obtain_forecast(&cmd)?;
    let app =
        AppId::try_new(cmd.app.clone()).with_context(|| format!("invalid --app {:?}", cmd.app))?;
    let mut cfg = PlannerConfig::new(app.clone(), format!("{}-{}", app, forecast.start.secs()));
    cfg.risk = risk;
    cfg.target_utilisation = cmd.utilisation;
    cfg.lead_time_s = parse_duration_s(&cmd.lead_time)?;
    cfg.scale_out_rate = parse_rate(&cmd.rate)?;
    cfg.scale_in_rate = parse_rate(&cmd.scale_in_rate)?;
    cfg.min = Replicas(cmd.min);
    cfg.max = Replicas(cmd.max);
    cfg.budget_instance_hours = cmd.budget;
    cfg.current = Replicas(cmd.current.unwrap_or_else(|| {
        let d0 = crest_autoscaler::planner::demand_at(&forecast, risk)
            .ok()
            .and_then(|p| p.first().copied())
            .unwrap_or(0.0);
        // Not `clamp`: it panics on min > max, which `validate` reports.
        cap.instances_for(d0, cmd.utilisation)
            .max(cmd.min)
            .min(cmd.max)
    }));
    if let Some(fz) = &cmd.freeze {
        let (a, b) = fz
            .split_once("..")
            .with_context(|| format!("failed to read --freeze {fz:?}: expected FROM..TO"))?;
        cfg.freeze = Some(Window {
            from: parse_instant(a)?,
            to: parse_instant(b)?,
        });
    }
    let outcome = crest_autoscaler::plan(&forecast, &cap, &cfg).context("failed to plan")?;
    let model = model_for(&cap, &cfg);
    let mut gate = GateConfig {
        scenarios: cmd.scenarios.max(1),
        seed: cmd.seed,
        max_breach_probability: cmd.max_breach,
        ..GateConfig::default()
    };
    let learned_rho = empirical
        .as_ref()
        .and_then(|e| crest_autoscaler::scenarios::rho_from_errors(&e.profiles));
    gate.rho = learned_rho.unwrap_or(gate.rho);
    stress.apply(&mut gate);
    let mut doc = PlanDocument::new(
        &outcome,
        forecast.clone(),
        cap.clone(),
        cfg,
        model.clone(),
        gate,
    );
    doc.empirical = empirical;
    let verdict = if cmd.verify {
        let r = run_gate(cmd.engine, &doc)?;
        doc.verification = Some(r.clone());
        Some(r)
    } else {
        None
    };
    let failed = verdict.as_ref().is_some_and(|r| !r.passed);
    doc.forced = failed && cmd.force;

    match cmd.format {
        Format::Json => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json_report(&doc, &outcome))?
        ))?,
        Format::Table => print_table(&doc, &outcome, verdict.as_ref(), learned_rho.is_some())?,
    }
    if let Some(p) = &cmd.plot {
        plot_plan(p, &forecast, &outcome, &cap)?;
        eprintln!("plot written to {}", p.display());
    }
    if failed && !cmd.force {
        let failed_kinds = verdict.as_ref().map(GateReport::failed_kinds);
        eprintln!(
            "verification gate failed: P(SLO breach) {:.3} (gate {:.3}){}; plan not written (use --force to override)",
            verdict.as_ref().map_or(1.0, |r| r.breach_probability),
            cmd.max_breach,
            failed_kinds
                .filter(|k| !k.is_empty())
                .map(|k| format!("; breaches: {k}"))
                .unwrap_or_default()
        );
        return Ok(ExitCode::from(3));
    }
    if let Some(out) = &cmd.output {
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(out, text).with_context(|| format!("failed to write {}", out.display()))?;
        eprintln!("plan written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn json_report(doc: &PlanDocument, o: &PlanOutcome) -> serde_json::Value {
    serde_json::json!({
        "plan": doc.plan,
        "peak": o.peak.0,
        "instance_hours": o.instance_hours,
        "scale_out_starts": o.scale_out_starts,
        "budget_factor": o.budget_factor,
        "capped_points": o.capped_points,
        "quantile": o.quantile,
        "verification": doc.verification,
        "empirical_source": doc.empirical.as_ref().map(|e| &e.source),
        "forced": doc.forced,
    })
}

/// Rows of the condensed plan table: runs of steps with the same kind of
/// reason moving in one direction become one row "a -> b".
pub(crate) fn condensed_rows(doc: &PlanDocument) -> Vec<(Timestamp, Timestamp, u32, u32, String)> {
    let steps = doc.plan.steps();
    let mut rows: Vec<(Timestamp, Timestamp, u32, u32, String)> = Vec::new();
    let mut prev: Option<u32> = None;
    let mut dir_of_row: Vec<i8> = Vec::new();
    for s in steps {
        let text = reason_text(&s.reason);
        let kind = text
            .split(':')
            .next()
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap_or("")
            .to_string();
        let dir = match prev {
            Some(p) if s.replicas.0 > p => 1,
            Some(p) if s.replicas.0 < p => -1,
            _ => 0,
        };
        let merge = rows.last().is_some_and(|r| {
            let rk =
                r.4.split(':')
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("");
            rk == kind && dir != 0 && dir_of_row.last().is_some_and(|d| *d == dir || *d == 0)
        });
        if merge {
            if let (Some(r), Some(d)) = (rows.last_mut(), dir_of_row.last_mut()) {
                r.1 = s.at;
                r.3 = s.replicas.0;
                if text != r.4 && kind == "forecast" {
                    r.4 = format!("forecast p{} demand", doc.planner.risk * 100.0);
                }
                *d = dir;
            }
        } else {
            rows.push((s.at, s.at, s.replicas.0, s.replicas.0, text));
            dir_of_row.push(0);
        }
        prev = Some(s.replicas.0);
    }
    rows
}

fn print_table(
    doc: &PlanDocument,
    o: &PlanOutcome,
    verdict: Option<&GateReport>,
    rho_learned: bool,
) -> anyhow::Result<()> {
    use std::fmt::Write;
    let fmt = doc.forecast.time_format;
    let mut t = String::new();
    let rows = condensed_rows(doc);
    writeln!(
        t,
        "plan {} for {}: {} steps ({} rows below; --format json lists every step)",
        doc.plan.id,
        doc.plan.app,
        doc.plan.steps().len(),
        rows.len()
    )?;
    writeln!(
        t,
        "{:<20} {:<20} {:>11}  reason",
        "from", "until", "instances"
    )?;
    for (a, b, n0, n1, why) in &rows {
        let until = if a == b { String::new() } else { b.format(fmt) };
        let n = if n0 == n1 {
            n0.to_string()
        } else {
            format!("{n0} -> {n1}")
        };
        writeln!(t, "{:<20} {:<20} {:>11}  {}", a.format(fmt), until, n, why)?;
    }
    writeln!(t)?;
    writeln!(t, "peak instances        {}", o.peak.0)?;
    writeln!(t, "instance-hours        {:.1}", o.instance_hours)?;
    if let Some(s) = o.scale_out_starts {
        writeln!(t, "scale-out starts      {}", s.format(fmt))?;
    }
    if let Some(f) = o.budget_factor {
        writeln!(
            t,
            "budget                demand scaled by {f:.3} to fit the budget"
        )?;
    }
    if o.capped_points > 0 {
        writeln!(
            t,
            "max bound             need exceeds --max for {} min",
            o.capped_points as i64 * o.grid_step_s / 60
        )?;
    }
    if let Some(r) = verdict {
        writeln!(t)?;
        writeln!(
            t,
            "verification ({} engine, {} scenarios): P(SLO breach) {:.3} (gate {:.3}) -> {}",
            r.engine,
            r.scenarios,
            r.breach_probability,
            r.max_breach_probability,
            if r.passed { "PASS" } else { "FAIL" }
        )?;
        writeln!(
            t,
            "  violation minutes mean {:.1}, p95 {:.1}; instance-hours mean {:.1}; cost mean {:.1}",
            r.mean_violation_minutes, r.p95_violation_minutes, r.mean_instance_hours, r.mean_cost
        )?;
        for k in &r.kinds {
            writeln!(
                t,
                "  {:<12} {:>3}/{:<3} breached (max {:.0} violation min; {}) {}",
                k.kind,
                k.breaches,
                k.scenarios,
                k.max_violation_minutes,
                if k.stress {
                    "stress case: none may breach"
                } else {
                    "sample"
                },
                if k.passed { "ok" } else { "FAIL" }
            )?;
        }
        writeln!(
            t,
            "  quantile draws: step correlation {:.3} ({})",
            doc.gate.rho,
            if rho_learned {
                "as rough as the empirical errors"
            } else {
                "default: no empirical errors to learn it from"
            }
        )?;
        if let Some(e) = &doc.empirical {
            writeln!(t, "  empirical scenarios: {}", e.source)?;
        }
    }
    emit(&t)
}
