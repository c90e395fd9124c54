//! `crest sim`: run a what-if scenario file in the simulator and report
//! (table or JSON), optionally with plots.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::LimitArgs;
use anyhow::Context;
use clap::{Args, ValueEnum};
use crest_core::Series;
use crest_sim::config::{ScenarioFile, load_scenario};
use crest_sim::{Demand, LbPolicy, PolicySpec, Replications, Scenario, ServiceDist, SimReport};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Arguments of `crest sim`.
#[derive(Debug, Args)]
pub struct SimCmd {
    /// The scenario (TOML); see examples/mmc.toml and examples/holiday-crest.toml.
    #[arg(long)]
    scenario: PathBuf,
    /// Seed of the (first) replication; the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Independent replications, run in parallel; reports 95 % confidence intervals.
    #[arg(long, default_value_t = 1)]
    replications: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write PNG and SVG charts (demand vs capacity, p99, instances) into this folder.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// `traffic.kind = "history"`: a file (CSV/Parquet) or a bundled dataset name,
/// through crest-datasets; `column` picks a series of a long-format file.
fn history_loader(path: &Path, column: Option<&str>) -> Result<Series, String> {
    let arg = if path.exists() {
        path.display().to_string()
    } else {
        // Not a file next to the scenario: maybe a bundled dataset name.
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let ds = crest_datasets::resolve(&arg).map_err(|e| e.to_string())?;
    let ids: Vec<String> = ds.series.iter().map(|s| s.id().to_string()).collect();
    let picked = match column {
        Some(c) => ds.series.into_iter().find(|s| s.id() == c),
        None => ds.series.into_iter().next(),
    };
    picked.ok_or_else(|| format!("no series {column:?} in {arg} (it has: {})", ids.join(", ")))
}

/// Run `crest sim`.
pub fn run(cmd: SimCmd) -> anyhow::Result<ExitCode> {
    let file: ScenarioFile = load_scenario(&cmd.scenario, Some(&history_loader))?;
    let mut variants = file.variants();
    crest_core::bounds::check_count("--replications", cmd.replications as u64, 1, 10_000)?;
    let mut results = Vec::new();
    for sc in &mut variants {
        sc.run.limits = cmd.limits.limits();
    }
    for sc in &variants {
        let reps = crest_sim::replicate(sc, cmd.seed, cmd.replications)
            .with_context(|| format!("failed to simulate {}", sc.name))?;
        results.push(reps);
    }
    if let Some(dir) = &cmd.plot {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create the plot folder {}", dir.display()))?;
        let firsts: Vec<&SimReport> = results.iter().filter_map(|r| r.runs.first()).collect();
        let stem = format!("sim-{}", file.scenario.name);
        let written = crest_sim::plot::render_reports(&firsts, dir, &stem)?;
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    match cmd.format {
        Format::Json => {
            let v = if results.len() == 1 {
                json_of(&results[0])?
            } else {
                let mut vs = Vec::new();
                for r in &results {
                    vs.push(json_of(r)?);
                }
                serde_json::json!({ "scenario": file.scenario.name, "variants": vs })
            };
            emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
        }
        Format::Table => {
            for (sc, r) in variants.iter().zip(&results) {
                print_table(sc, r);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Write to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// One variant as JSON: the first replication's report at the top level, and
/// with several replications a `replications` object with 95 % intervals.
fn json_of(r: &Replications) -> anyhow::Result<serde_json::Value> {
    let first = r.runs.first().context("no replication ran")?;
    let mut v = serde_json::to_value(first)?;
    if r.replications > 1
        && let Some(obj) = v.as_object_mut()
    {
        obj.insert(
            "replications".into(),
            serde_json::json!({
                "n": r.replications,
                "wall_s": r.wall_s,
                "ci95": r.ci95,
            }),
        );
    }
    Ok(v)
}

/// The closed-form mean wait when the scenario is a textbook queue.
fn theory_wait(sc: &Scenario) -> Option<(&'static str, f64)> {
    let Demand::Constant { rate_per_s } = sc.traffic.demand else {
        return None;
    };
    let plain = sc.lb == LbPolicy::SharedQueue
        && sc.autoscaler.policy == PolicySpec::None
        && sc.traffic.overdispersion_cv == 0.0
        && sc.traffic.bursts.is_empty()
        && sc.traffic.random_bursts.is_none()
        && sc.fleet.slowdown.is_none()
        && sc.fleet.timeout_s.is_none()
        && sc.fleet.max_queue.is_none()
        && sc.failures.crash_rate_per_hour == 0.0
        && sc.failures.zone_outages.is_empty();
    if !plain {
        return None;
    }
    let lambda = rate_per_s * sc.traffic.scale;
    let c = sc.fleet.instances * sc.fleet.concurrency;
    match &sc.fleet.service {
        ServiceDist::Exp { mean_s } => Some((
            "Erlang C",
            crest_sim::theory::mmc_mean_wait(lambda, 1.0 / mean_s, c),
        )),
        ServiceDist::Deterministic { mean_s } if c == 1 => Some((
            "Pollaczek-Khinchine",
            crest_sim::theory::mg1_mean_wait(lambda, *mean_s, 0.0),
        )),
        _ => None,
    }
}

fn print_table(sc: &Scenario, reps: &Replications) {
    let Some(r) = reps.runs.first() else {
        return;
    };
    let ci = |name: &str, v: f64| -> String {
        match reps.ci95.get(name) {
            Some(i) if reps.replications > 1 => format!(
                "{:.4} ± {:.4} (95 %, n={})",
                i.mean, i.half_width, reps.replications
            ),
            _ => format!("{v:.4}"),
        }
    };
    println!(
        "scenario            {} (platform {}, policy {}, mode {:?}, seed {})",
        r.scenario, r.platform, r.policy, r.mode, r.seed
    );
    println!(
        "requests            {} arrived, {} completed, {} dropped ({} refused, {} timed out, {} lost in crashes)",
        r.requests_arrived,
        r.requests_completed,
        r.requests_dropped,
        r.dropped_refused,
        r.dropped_timeout,
        r.dropped_crash
    );
    println!("mean_wait_s         {}", ci("mean_wait_s", r.mean_wait_s));
    if let Some((name, w)) = theory_wait(sc) {
        let m = reps
            .ci95
            .get("mean_wait_s")
            .map_or(r.mean_wait_s, |i| i.mean);
        println!(
            "  {name:<17} {w:.4} (simulated {:+.2} %)",
            100.0 * (m - w) / w
        );
    }
    println!(
        "mean_latency_s      {}",
        ci("mean_latency_s", r.mean_latency_s)
    );
    println!(
        "latency p50/p90/p99 {:.4} / {:.4} / {:.4} s (p99.9 {:.4}, max {:.4}; ±0.1 %)",
        r.p50_latency_s, r.p90_latency_s, r.p99_latency_s, r.p999_latency_s, r.max_latency_s
    );
    println!(
        "slo                 p99 <= {} ms, drops <= {:.3} %: {} of {} minutes violated (replications: {})",
        r.slo.p99_ms,
        r.slo.max_drop_fraction * 100.0,
        r.slo_violation_minutes,
        r.minutes,
        ci("slo_violation_minutes", r.slo_violation_minutes as f64)
    );
    println!(
        "instance_hours      {} (peak {} serving, {} failed, {} scale changes)",
        ci("instance_hours", r.instance_hours),
        r.peak_instances,
        r.instances_failed,
        r.scale_changes
    );
    println!("utilisation         {:.3}", r.utilisation);
    println!(
        "little's law        L={:.4} lambda*W={:.4} (rel. error {:.2e})",
        r.littles_law.l,
        r.littles_law.lambda * r.littles_law.w,
        r.littles_law.relative_error
    );
    println!(
        "speed               {} events, {:.3} s wall, {:.2} M requests/s, {:.2} M events/s (one thread)",
        r.events_processed,
        r.wall_s,
        r.requests_per_wall_s() / 1e6,
        r.events_per_wall_s() / 1e6
    );
    println!();
}
