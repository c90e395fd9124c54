//! `crest rehearse`: the holiday backtest, the README's main job.
//!
//! Parses the flags into [`crest_planning::BacktestSettings`], runs
//! [`crest_planning::backtest`] (every crest of the history: forecast with
//! the data before each decision, plan, gate, replay in crest-sim) and
//! prints the report as a table or JSON, and draws it.
//!
//! Exit codes: 0 report printed, 1 failure (data, calendar, settings).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use crest_planning::backtest::{BacktestReport, BacktestSettings, CrestDetail};

use super::args::{Format, emit, parse_duration_s, parse_rate, parse_replicas, parse_risk};
use super::prom::PromArgs;

/// Arguments of `crest rehearse`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct RehearseCmd {
    /// Demand history: a bundled dataset (nyc_taxi, bike_sharing,
    /// china_load_area1) or a CSV/Parquet file; its first series is used.
    #[arg(
        long,
        default_value = "nyc_taxi",
        value_name = "NAME|FILE",
        conflicts_with = "prometheus"
    )]
    history: String,
    #[command(flatten)]
    prom: Box<PromArgs>,
    /// Holiday calendar: none, us, cn or a calendar file.
    #[arg(long, default_value = "us", value_name = "none|us|cn|FILE")]
    calendar: String,
    /// Crests: auto (every holiday of the calendar inside the data with 8
    /// weeks of history before its window), names from that list
    /// (thanksgiving-day-2014,christmas-day-2014) or FROM..TO date ranges
    /// (TO exclusive), comma-separated.
    #[arg(
        long,
        default_value = "auto",
        value_name = "auto|NAME,...|FROM..TO,..."
    )]
    crests: String,
    /// Data units -> requests per second (e.g. 0.0556 for 100 requests per
    /// taxi trip counted per 30 minutes); auto: the highest value before the
    /// first crest's decisions becomes 40 instances' worth (a single step
    /// over twice both its neighbours, a glitch, is passed over).
    #[arg(
        long,
        default_value = "auto",
        value_name = "K|auto",
        allow_hyphen_values = true
    )]
    scale: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write PNG plots here: one per crest (demand vs capacity) and frontier.png (reactive's curve, crest's point and the floor, per crest).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Seed of the replays and the gate.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Per-instance requests per second at the SLO.
    #[arg(long, default_value_t = 50.0)]
    per_instance_qps: f64,
    /// The p99 latency SLO in milliseconds.
    #[arg(long, default_value_t = 200.0)]
    slo_p99_ms: f64,
    /// Demand quantile crest plans for.
    #[arg(long, default_value = "p90")]
    risk: String,
    /// crest's planned utilisation of SLO capacity (its margin for demand
    /// uncertainty is the forecast quantile and, tracking the level, the
    /// learned level margin, not this).
    #[arg(long, default_value_t = 0.95)]
    utilisation: f64,
    /// Utilisation target (of saturation) of crest's reactive safety net.
    #[arg(long, default_value_t = 0.75)]
    crest_reactive_target: f64,
    /// crest tracks live demand's level both ways (forecast shape scaled to
    /// live demand, with a margin learned from the forecaster's errors on
    /// the ordinary days before the crest); without it live demand only
    /// ever raises the plan.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    track_level: bool,
    /// With --track-level: the quantile of the forecaster's lead-time level
    /// errors (the 7 ordinary days before each crest) crest's margin covers.
    #[arg(long, default_value_t = crest_planning::policy::DEFAULT_LEVEL_QUANTILE)]
    level_quantile: f64,
    /// crest's forecast term also takes in the step after the lead time
    /// when that step's mean rises above the forecast's band (the p90 of the
    /// step before it): a ramp one step early would break through the plan.
    #[arg(long, default_value_t = crest_planning::policy::DEFAULT_EARLY_RAMPS, action = clap::ArgAction::Set)]
    early_ramps: bool,
    /// Utilisation of SLO capacity static peak is sized at.
    #[arg(long, default_value_t = 0.8)]
    static_utilisation: f64,
    /// Reactive baseline's targets (of saturation), one replay each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9"
    )]
    reactive_targets: Vec<f64>,
    /// Provisioning lead time.
    #[arg(long, default_value = "5m")]
    lead_time: String,
    /// Scale-out API rate limit.
    #[arg(long, default_value = "150/5m")]
    rate: String,
    /// Scale-in pace: at most this many instances per decision (crest and reactive).
    #[arg(long, default_value = "5/1m")]
    scale_in_rate: String,
    /// No scale-in within this long of a scale-out (crest and reactive).
    #[arg(long, default_value = "5m")]
    scale_in_cooldown: String,
    /// crest's plan does not scale in when the fleet must be back within
    /// this long (one rule for every crest; 0 turns it off).
    #[arg(long, default_value = "0")]
    scale_in_hold: String,
    /// How long before each day crest decides that day's plan: 1h (day-ahead,
    /// decided at 23:00 the evening before) or e.g. 7d (a week ahead).
    #[arg(long, default_value = "1h")]
    plan_ahead: String,
    /// Fewest instances.
    #[arg(long, default_value_t = 2, value_parser = parse_replicas)]
    min: u32,
    /// Most instances.
    #[arg(long, default_value_t = 10_000, value_parser = parse_replicas)]
    max: u32,
    /// Price of one instance-hour.
    #[arg(long, default_value_t = 0.10)]
    price: f64,
    /// Days of history each forecast sees (0: all of it).
    #[arg(long, default_value_t = 400)]
    history_days: u32,
    /// Quantile scenarios of the gate (plus one empirical scenario per day
    /// of the week before the crest).
    #[arg(long, default_value_t = 20)]
    gate_scenarios: usize,
    /// The gate passes when P(SLO breach) is at most this.
    #[arg(long, default_value_t = 0.05)]
    max_breach: f64,
    /// The gate's stated stress cases on every crest plan: the forecast mean
    /// times K, and every lead time at its p99 (`none`: no stress case).
    #[arg(long, default_value = "surge=1.2,lead=p99")]
    stress: String,
    /// crest-sim mode of every replay and the gate.
    #[arg(long, value_enum, default_value_t = Replay::Fluid)]
    replay: Replay,
}

const AFTER_HELP: &str = "\
How each strategy decides (every crest, every dataset, one configuration):
  static-peak  sized a week before the window from the forecast made then:
               its highest quantile's peak at --static-utilisation, held.
  reactive     target tracking alone, replayed at every --reactive-targets
               value (its frontier), with the same scale-in stabilisation as
               crest (--scale-in-rate per decision, --scale-in-cooldown).
  crest        each day planned from a forecast made --plan-ahead before
               the day (default 23:00 the evening before) with the data
               before it; followed by a predictive
               policy that tracks live demand's level both ways
               (--track-level): the forecast mean's shape over the next lead
               time, scaled to live demand, times a margin = the
               --level-quantile of how far the forecaster's level moved
               within one lead time on the 7 latest days before the window
               outside every holiday's effect window (looked for up to 28
               days back: another holiday's days off in the week before,
               Mid-Autumn before National Day, are not ordinary days); a
               level below the forecast is expected to climb back at the
               rate fitted on those days (level^r, r in 0..1); inside a
               holiday's window, where the mean blends the models' forecast
               and the holiday analog's, the level is also measured
               against each of the two and the window sized for the
               highest (demand may follow either shape); where the
               step after the lead time rises above the forecast's band
               (its mean over the p90 of the step before), the window
               takes it in too (--early-ramps: a ramp one step early would
               break through the plan); the plan
               is a floor that shrinks with live demand below what it was
               sized for. Target tracking at --crest-reactive-target is a
               safety net that only ever adds instances. No per-crest
               setting or freeze: the only scale-in rule beyond the shared
               stabilisation is --scale-in-hold (off by default).
The gate replays crest's policy (plan, level tracking and net) against
--gate-scenarios draws from its forecast's quantiles (as rough from step to
step as the forecaster's errors on the 7 days before the window), those
errors themselves (one scenario per day) and the --stress cases. Every
replay runs in crest-sim; the mode is in the report's settings. Steps the
history leaves missing inside a window are replayed as the straight line
between the observations around them (never as no demand); stderr names
each crest where that happened and how many steps. The table's last column,
floor ih, is the least any strategy that keeps every step within capacity
could pay: each step's demand at --per-instance-qps, by instances there the
moment it starts. Reactive's cheapest violation-free target over the floor
is the most any strategy could save against it (not in the JSON).";

/// crest-sim mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Replay {
    /// Aggregate flows per step (fast).
    Fluid,
    /// Every request an event (slow on large crests).
    Exact,
}

fn settings(cmd: &RehearseCmd) -> anyhow::Result<BacktestSettings> {
    let mut s = BacktestSettings::new(&cmd.history, &cmd.calendar, &cmd.crests);
    s.scale =
        match cmd.scale.trim() {
            "auto" => None,
            k => Some(k.parse::<f64>().with_context(|| {
                format!("failed to read --scale {k:?}: expected a number or auto")
            })?),
        };
    s.per_instance_qps = cmd.per_instance_qps;
    s.slo_p99_ms = cmd.slo_p99_ms;
    s.risk = parse_risk(&cmd.risk)?;
    s.utilisation = cmd.utilisation;
    s.crest_reactive_target = cmd.crest_reactive_target;
    s.track_level = cmd.track_level;
    s.level_quantile = cmd.level_quantile;
    s.early_ramps = cmd.early_ramps;
    s.static_utilisation = cmd.static_utilisation;
    s.reactive_targets = cmd.reactive_targets.clone();
    s.lead_time_s = parse_duration_s(&cmd.lead_time)?;
    s.scale_out_rate = parse_rate(&cmd.rate)?;
    s.scale_in_rate = parse_rate(&cmd.scale_in_rate)?;
    s.scale_in_cooldown_s = parse_duration_s(&cmd.scale_in_cooldown)?;
    s.scale_in_hold_s = parse_duration_s(&cmd.scale_in_hold)?;
    s.decision_lead_s = parse_duration_s(&cmd.plan_ahead)?;
    s.min = cmd.min;
    s.max = cmd.max;
    s.price = cmd.price;
    s.seed = cmd.seed;
    s.history_days = cmd.history_days;
    s.gate_scenarios = cmd.gate_scenarios;
    s.max_breach = cmd.max_breach;
    s.gate_stress = cmd.stress.clone();
    s.replay = match cmd.replay {
        Replay::Fluid => crest_planning::SimMode::Fluid,
        Replay::Exact => crest_planning::SimMode::Exact,
    };
    Ok(s)
}

/// Run `crest rehearse`.
pub fn run(cmd: RehearseCmd) -> anyhow::Result<ExitCode> {
    let mut s = settings(&cmd)?;
    cmd.prom.check_unused(false)?;
    let inputs = match cmd.prom.load_one("rehearse")? {
        Some(series) => {
            s.history = format!(
                "prometheus {}",
                cmd.prom.query.as_deref().unwrap_or_default()
            );
            crest_planning::backtest::with_calendar(series, &cmd.calendar)?
        }
        None => crest_planning::backtest::load(&cmd.history, &cmd.calendar)?,
    };
    let (report, details) =
        crest_planning::backtest(&inputs, &s).context("failed to run the backtest")?;
    for (c, d) in report.crests.iter().zip(&details) {
        if d.filled_steps > 0 {
            eprintln!(
                "note: {}: {} missing step(s) of the actual demand filled by linear interpolation for the replays",
                c.name, d.filled_steps
            );
        }
    }
    match cmd.format {
        Format::Json => emit(&format!("{}\n", serde_json::to_string(&report)?))?,
        Format::Table => emit(&table(&report, &details)?)?,
    }
    if let Some(dir) = &cmd.plot {
        plot(dir, &report, &details)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn table(r: &BacktestReport, details: &[CrestDetail]) -> anyhow::Result<String> {
    use std::fmt::Write;
    let s = &r.settings;
    let mut t = String::new();
    // The crest column fits the longest name (at least the header's 28).
    let w = r.crests.iter().map(|c| c.name.len()).fold(28, usize::max);
    writeln!(
        t,
        "backtest: {} ({} calendar), {} crest{}, scale {:.4} rps per unit, replayed in {}",
        s.history,
        s.calendar,
        r.crests.len(),
        if r.crests.len() == 1 { "" } else { "s" },
        s.scale.unwrap_or(f64::NAN),
        s.replay.label()
    )?;
    writeln!(
        t,
        "{:<w$} {:<23} {:>13} {:>13} {:>7} {:>6} {:>16} {:>15} {:>8}",
        "crest",
        "window",
        "static min/ih",
        "crest min/ih",
        "% stat",
        "gate",
        "reactive@crest",
        "reactive 0-viol",
        "floor ih"
    )?;
    let pair = |v: f64, ih: f64| format!("{v:.0}/{ih:.0}");
    for (c, d) in r.crests.iter().zip(details) {
        let at = c.reactive_at_crest_level().map_or("none".into(), |p| {
            format!("{:.0} ih @{:.2}", p.instance_hours, p.target)
        });
        let zero = c
            .reactive
            .iter()
            .filter(|p| p.slo_violation_minutes == 0.0)
            .min_by(|a, b| a.instance_hours.total_cmp(&b.instance_hours))
            .map_or("none".into(), |p| {
                format!("{:.0} ih @{:.2}", p.instance_hours, p.target)
            });
        writeln!(
            t,
            "{:<w$} {:<23} {:>13} {:>13} {:>6.0}% {:>6} {:>16} {:>15} {:>8.0}",
            c.name,
            format!("{}..{}", c.from, c.to),
            pair(
                c.static_peak.slo_violation_minutes,
                c.static_peak.instance_hours
            ),
            pair(c.crest.slo_violation_minutes, c.crest.instance_hours),
            100.0 * c.share_of_static(),
            format!(
                "{:.2}{}",
                c.crest.gate.p_breach,
                if c.crest.gate.passed { "" } else { "!" }
            ),
            at,
            zero,
            d.floor_instance_hours
        )?;
    }
    let (st, cr) = (&r.total.static_peak, &r.total.crest);
    let floor: f64 = details.iter().map(|d| d.floor_instance_hours).sum();
    writeln!(
        t,
        "{:<w$} {:<23} {:>13} {:>13} {:>6.0}% {:>6} {:>16} {:>15} {:>8.0}",
        "total",
        "",
        pair(st.slo_violation_minutes, st.instance_hours),
        pair(cr.slo_violation_minutes, cr.instance_hours),
        100.0 * cr.instance_hours / st.instance_hours,
        "",
        "",
        "",
        floor
    )?;
    let below = r.crests.iter().filter(|c| c.on_or_below_frontier()).count();
    let zero = r
        .crests
        .iter()
        .filter(|c| c.crest.slo_violation_minutes == 0.0)
        .count();
    let passed = r.crests.iter().filter(|c| c.crest.gate.passed).count();
    writeln!(
        t,
        "crest: 0 violation minutes on {zero}/{n} crests, on or below reactive's frontier on {below}/{n}, gate passed on {passed}/{n} (! = failed)",
        n = r.crests.len()
    )?;
    writeln!(
        t,
        "min/ih = SLO-violation minutes / instance-hours; reactive@crest = reactive's cheapest target with at most crest's violation minutes"
    )?;
    // No floor (no demand and no minimum fleet): nothing to be over.
    let over = if floor > 0.0 {
        format!("{:.0} %", 100.0 * (cr.instance_hours / floor - 1.0))
    } else {
        "-".into()
    };
    writeln!(
        t,
        "floor ih = each step's demand at --per-instance-qps by instances there at once: no strategy that keeps every step within capacity pays less (crest pays {over} over it)"
    )?;
    Ok(t)
}

fn plot(dir: &Path, r: &BacktestReport, details: &[CrestDetail]) -> anyhow::Result<()> {
    use crest_plot::{Chart, Line};
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let per = r.settings.per_instance_qps;
    for (c, d) in r.crests.iter().zip(details) {
        let secs = |t: crest_core::Timestamp| t.secs() as f64;
        let demand: Vec<(f64, f64)> = d
            .demand
            .iter()
            .flat_map(|(t, v)| [(secs(t), v), (secs(t.add_secs(d.demand.step_s())), v)])
            .collect();
        let mut chart = Chart::new(format!("{}: demand vs serving capacity at the SLO", c.name))
            .time_axis()
            .y_label("requests / s")
            .line(Line::new("demand", demand));
        for rep in &d.replays {
            let pts = rep
                .timeline
                .iter()
                .map(|p| (secs(p.at), f64::from(p.serving) * per))
                .collect();
            chart = chart.line(
                Line::new(
                    format!(
                        "{} ({:.0} min, {:.0} ih)",
                        rep.policy, rep.slo_violation_minutes, rep.instance_hours
                    ),
                    pts,
                )
                .stepped(),
            );
        }
        let path = dir.join(format!("{}.png", c.name.replace("..", "_")));
        crest_plot::render(&[chart], &path, (1100, 450))
            .with_context(|| format!("failed to draw {}", path.display()))?;
    }
    let panels: Vec<Chart> = r
        .crests
        .iter()
        .zip(details)
        .map(|(c, d)| {
            let st = c.static_peak.instance_hours.max(1e-9);
            let curve: Vec<(f64, f64)> = c
                .reactive
                .iter()
                .map(|p| (p.slo_violation_minutes, 100.0 * p.instance_hours / st))
                .collect();
            // The floor across the frontier's width: what no strategy that
            // keeps every step within capacity gets under.
            let right = curve
                .iter()
                .map(|p| p.0)
                .fold(c.crest.slo_violation_minutes, f64::max)
                .max(1.0);
            let floor = 100.0 * d.floor_instance_hours / st;
            Chart::new(c.name.clone())
                .x_label("SLO-violation minutes")
                .y_label("% of static-peak instance-hours")
                .line(Line::new("reactive (targets)", curve).with_markers())
                .line(Line::new(
                    "floor (least within capacity)",
                    vec![(0.0, floor), (right, floor)],
                ))
                .line(
                    Line::new(
                        "crest",
                        vec![(
                            c.crest.slo_violation_minutes,
                            100.0 * c.crest.instance_hours / st,
                        )],
                    )
                    .with_markers(),
                )
        })
        .collect();
    let path = dir.join("frontier.png");
    let rows = u32::try_from(panels.len()).unwrap_or(1).max(1);
    crest_plot::render(&panels, &path, (900, 260 * rows))
        .with_context(|| format!("failed to draw {}", path.display()))?;
    eprintln!("plots written to {}", dir.display());
    Ok(())
}
