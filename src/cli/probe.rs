//! `crest probe`: measure one server's capacity by raising its HAProxy weight
//! on live traffic, then report the knee, the per-instance capacity at the SLO
//! and the cluster's headroom; `crest probe headroom` turns a capacity and a
//! forecast into "how many instances are missing at the crest".
//!
//! Weights are always put back: on success, on error, on Ctrl-C (the probe
//! restores before exiting), and after a crash (the journal written before the
//! first change is read and restored at the next start, or with
//! `--restore-only`).
//!
//! Exit codes: 0 done; 1 failure (nothing changed, or weights could not be
//! restored — the message names the journal); 3 the probe was aborted or
//! cancelled mid-way (weights restored, partial results printed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use crest_core::{Capacity, WallClock};
use crest_haproxy::{HaproxyClient, SocketAddr};
use crest_headroom::capacity::{self, CapacityFit, Headroom};
use crest_headroom::demand::{self, Demand};
use crest_headroom::latency::DEFAULT_PROM_QUERY;
use crest_headroom::{
    LatencySource, LoadgenLatency, NoLatency, ProbeConfig, ProbeController, ProbeReport,
    PrometheusLatency, StopReason,
};
use serde::Serialize;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Table,
    /// JSON for machines.
    Json,
}

/// Arguments of `crest probe`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProbeCmd {
    #[command(subcommand)]
    sub: Option<ProbeSub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum ProbeSub {
    /// Instances needed at a forecast's crest for a measured capacity.
    Headroom(HeadroomArgs),
}

/// Arguments of a probe run.
#[derive(Debug, Args)]
struct RunArgs {
    /// HAProxy runtime API: a unix socket path, or tcp://HOST:PORT.
    #[arg(long, value_name = "SOCKET")]
    haproxy: Option<String>,
    /// Backend name.
    #[arg(long)]
    backend: Option<String>,
    /// Server to probe (its weight is raised).
    #[arg(long)]
    server: Option<String>,
    /// p99 latency objective, ms.
    #[arg(long, default_value_t = 200.0)]
    slo_p99_ms: f64,
    /// Largest acceptable error rate (0..1).
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
    /// Weight increment per step.
    #[arg(long, default_value_t = 20)]
    step: u16,
    /// First weight tried (default: the step).
    #[arg(long)]
    start_weight: Option<u16>,
    /// Highest weight tried (HAProxy: at most 256).
    #[arg(long, default_value_t = 250)]
    max_weight: u16,
    /// Set every other server to this weight during the probe (restored afterwards).
    #[arg(long)]
    peer_weight: Option<u16>,
    /// Measurement time per step, seconds.
    #[arg(long, default_value_t = 5.0)]
    dwell: f64,
    /// Wait after each weight change before measuring, seconds.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Sub-windows per dwell (their spread gives the confidence interval).
    #[arg(long, default_value_t = 5)]
    samples: u32,
    /// Where p99 comes from: `haproxy` (ttime average, not a percentile),
    /// `loadgen:URL` (crest-loadgen's /report) or `prometheus:URL`.
    #[arg(long, default_value = "haproxy", value_name = "SOURCE")]
    latency_from: String,
    /// PromQL for `prometheus:` ({server} and {window} are replaced).
    #[arg(long, default_value = DEFAULT_PROM_QUERY)]
    prom_query: String,
    /// Factor from the query's unit to ms.
    #[arg(long, default_value_t = 1000.0)]
    prom_scale: f64,
    /// Journal file (default: in the temp dir, named after backend and server).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Only restore weights from a pending journal, then exit.
    #[arg(long)]
    restore_only: bool,
    /// Instances serving the backend for the headroom (default: servers up).
    #[arg(long)]
    instances: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Plot throughput and latency against weight (.png or .svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Write the capacity (JSON for `crest plan --capacity`).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Arguments of `crest probe headroom`.
#[derive(Debug, Args)]
struct HeadroomArgs {
    /// Capacity JSON (as `crest probe --output` writes it).
    #[arg(long)]
    capacity: PathBuf,
    /// Forecast CSV (`timestamp,mean,p10,p50,p90`, as `crest forecast` writes it).
    #[arg(long)]
    demand: PathBuf,
    /// Instances now.
    #[arg(long)]
    instances: Option<u32>,
    /// Forecast column: mean, p50, p90, ...
    #[arg(long, default_value = "p90")]
    quantile: String,
    /// Planned utilisation of each instance at the crest.
    #[arg(long, default_value_t = 0.8)]
    target_utilisation: f64,
    /// Requests per second per forecast unit.
    #[arg(long, default_value_t = 1.0)]
    demand_scale: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `crest probe`.
pub fn run(cmd: ProbeCmd) -> anyhow::Result<ExitCode> {
    match cmd.sub {
        Some(ProbeSub::Headroom(a)) => headroom(a),
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("failed to start the async runtime")?;
            rt.block_on(probe(cmd.run))
        }
    }
}

fn journal_path(a: &RunArgs, backend: &str, server: &str) -> PathBuf {
    a.journal.clone().unwrap_or_else(|| {
        let clean = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
        };
        std::env::temp_dir().join(format!(
            "crest-probe-{}-{}.journal",
            clean(backend),
            clean(server)
        ))
    })
}

async fn probe(a: RunArgs) -> anyhow::Result<ExitCode> {
    let (Some(sock), Some(backend), Some(server)) = (
        a.haproxy.as_deref(),
        a.backend.as_deref(),
        a.server.as_deref(),
    ) else {
        eprintln!(
            "crest probe: --haproxy, --backend and --server are required (or use `crest probe headroom`)"
        );
        return Ok(ExitCode::from(2));
    };
    let lb = HaproxyClient::new(SocketAddr::parse(sock));
    let mut cfg = ProbeConfig::new(backend, server, journal_path(&a, backend, server));
    cfg.slo_p99_ms = a.slo_p99_ms;
    cfg.max_error_rate = a.max_error_rate;
    cfg.step = a.step;
    cfg.start_weight = a.start_weight;
    cfg.max_weight = a.max_weight;
    cfg.peer_weight = a.peer_weight;
    cfg.dwell_ms = secs_to_ms(a.dwell, "--dwell")?;
    cfg.settle_ms = secs_to_ms(a.settle, "--settle")?;
    cfg.samples = a.samples;
    let src = a.latency_from.as_str();
    if src == "haproxy" {
        run_with(lb, NoLatency, cfg, &a).await
    } else if let Some(url) = src.strip_prefix("loadgen:") {
        run_with(lb, LoadgenLatency::new(url), cfg, &a).await
    } else if let Some(url) = src.strip_prefix("prometheus:") {
        run_with(
            lb,
            PrometheusLatency::from_url(url, a.prom_query.clone(), a.prom_scale)?,
            cfg,
            &a,
        )
        .await
    } else {
        bail!(
            "failed to parse --latency-from {src:?}: expected haproxy, loadgen:URL or prometheus:URL"
        )
    }
}

fn secs_to_ms(s: f64, flag: &str) -> anyhow::Result<u64> {
    if !(0.0..86_400.0).contains(&s) {
        bail!("failed to accept {flag} {s}: expected seconds in [0, 86400)");
    }
    Ok(Duration::from_secs_f64(s).as_millis() as u64)
}

#[derive(Serialize)]
struct ProbeOutput<'a> {
    report: &'a ProbeReport,
    fit: Option<&'a CapacityFit>,
    capacity: Option<&'a Capacity>,
    headroom: Option<&'a Headroom>,
    haproxy_reloaded: bool,
}

async fn run_with<S: LatencySource>(
    lb: HaproxyClient,
    src: S,
    cfg: ProbeConfig,
    a: &RunArgs,
) -> anyhow::Result<ExitCode> {
    let ctl = ProbeController::try_new(lb.clone(), src, WallClock, cfg)
        .context("failed to configure the probe")?;
    if a.restore_only {
        let did = ctl
            .recover()
            .await
            .context("failed to restore weights from the journal")?;
        eprintln!(
            "crest probe: {}",
            if did {
                "weights restored from the journal"
            } else {
                "no pending journal; nothing to restore"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let info_before = lb.info().await.ok();
    let report = ctl
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("probe failed")?;
    let info_after = lb.info().await.ok();
    let reloaded = matches!((&info_before, &info_after), (Some(b), Some(a)) if b.reloaded_since(a));
    if report.recovered_from_journal {
        eprintln!("crest probe: restored weights left by an earlier, interrupted probe first");
    }
    let fit = capacity::fit(&report).ok();
    let cap = fit
        .as_ref()
        .and_then(|f| capacity::to_capacity(&report, f).ok());
    let head = cap.as_ref().map(|c| {
        capacity::headroom(
            c,
            a.instances.unwrap_or(report.servers_up),
            capacity::backend_load(&report),
        )
    });
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&ProbeOutput {
                report: &report,
                fit: fit.as_ref(),
                capacity: cap.as_ref(),
                headroom: head.as_ref(),
                haproxy_reloaded: reloaded,
            })?
        ),
        Format::Table => print_table(&report, fit.as_ref(), head.as_ref(), reloaded),
    }
    if let Some(p) = &a.plot {
        plot(&report, fit.as_ref(), p)
            .with_context(|| format!("failed to plot to {}", p.display()))?;
    }
    if let (Some(out), Some(c)) = (&a.output, &cap) {
        std::fs::write(out, serde_json::to_string_pretty(c)?)
            .with_context(|| format!("failed to write capacity to {}", out.display()))?;
    }
    Ok(match report.stop {
        StopReason::Aborted(_) | StopReason::Cancelled => ExitCode::from(3),
        _ => ExitCode::SUCCESS,
    })
}

fn fmt_ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

fn print_table(r: &ProbeReport, fit: Option<&CapacityFit>, h: Option<&Headroom>, reloaded: bool) {
    println!(
        "probe {}/{} (SLO p99 {} ms, errors <= {:.2} %, latency from {})",
        r.backend,
        r.server,
        r.slo_p99_ms,
        100.0 * r.max_error_rate,
        r.latency_source
    );
    println!(
        "{:>6} {:>6} {:>9} {:>9} {:>8} {:>8} {:>7} {:>4}",
        "weight", "share", "offered/s", "served/s", "p50 ms", "p99 ms", "err %", "sat"
    );
    for s in &r.steps {
        println!(
            "{:>6} {:>6.3} {:>9.1} {:>9.1} {:>8} {:>8} {:>7.2} {:>4}{}",
            s.weight,
            s.share,
            s.offered_rps,
            s.throughput_rps,
            fmt_ms(s.p50_ms),
            fmt_ms(s.latency_ms),
            100.0 * s.error_rate,
            if s.saturated { "yes" } else { "" },
            if s.slo_breached { "  > SLO" } else { "" }
        );
    }
    let stop = match &r.stop {
        StopReason::Aborted(m) => format!("aborted: {m}"),
        other => format!("{other:?}").to_lowercase(),
    };
    println!(
        "stopped: {stop}; knee at weight {}",
        r.knee_weight.map_or("-".into(), |w| w.to_string())
    );
    println!(
        "weights restored: {} ({} servers); probe took {:.1} s; SLO breached in {} step(s)",
        r.weights_restored,
        r.original_weights.len(),
        r.duration_s,
        r.slo_breach_steps
    );
    if reloaded {
        println!("warning: haproxy was reloaded during the probe (runtime weights were reset)");
    }
    match fit {
        Some(f) => {
            let ci = f.interval.map_or(String::new(), |(lo, hi)| {
                format!(" (95 % CI {lo:.1} .. {hi:.1})")
            });
            println!(
                "capacity per instance at the SLO: {:.1} req/s{ci} [{:?}]",
                f.per_instance_rps, f.method
            );
            if let Some(mu) = f.saturation_rps {
                println!(
                    "saturation throughput: {mu:.1} req/s; fitted p99 = {:.1} + {:.1} / ({mu:.1} - load) ms",
                    f.base_ms, f.k
                );
            }
        }
        None => println!("capacity: not enough good steps to estimate"),
    }
    if let Some(h) = h {
        println!(
            "cluster: {} instances x capacity = {:.1} req/s; load {:.1} req/s; headroom {:.1} %",
            h.instances,
            h.cluster_capacity_rps,
            h.load_rps,
            100.0 * h.headroom
        );
    }
}

fn plot(r: &ProbeReport, fit: Option<&CapacityFit>, path: &Path) -> anyhow::Result<()> {
    use crest_plot::{Chart, Line};
    let pts = |f: &dyn Fn(&crest_headroom::StepResult) -> f64| -> Vec<(f64, f64)> {
        r.steps
            .iter()
            .map(|s| (f64::from(s.weight), f(s)))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let mut tp = Chart::new(format!(
        "probe {}/{}: throughput vs weight",
        r.backend, r.server
    ))
    .x_label("weight")
    .y_label("requests/s")
    .line(Line::new("served", pts(&|s| s.throughput_rps)).with_markers())
    .line(Line::new("offered", pts(&|s| s.offered_rps)).with_markers());
    if let Some(f) = fit {
        let cap = f.per_instance_rps;
        tp = tp.line(Line::new(
            format!("capacity at SLO {cap:.1}/s"),
            pts(&|_| cap),
        ));
    }
    let slo = r.slo_p99_ms;
    let mut lat = Chart::new("latency vs weight")
        .x_label("weight")
        .y_label("ms")
        .line(Line::new("p99", pts(&|s| s.latency_ms)).with_markers())
        .line(Line::new("SLO", pts(&|_| slo)));
    if let Some(k) = r.knee_weight {
        tp = tp.marker(f64::from(k), "knee");
        lat = lat.marker(f64::from(k), "knee");
    }
    crest_plot::render(&[tp, lat], path, (900, 700))?;
    Ok(())
}

fn headroom(a: HeadroomArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.capacity)
        .with_context(|| format!("failed to read capacity file {}", a.capacity.display()))?;
    let cap: Capacity = serde_json::from_str(&text).with_context(|| {
        format!(
            "failed to parse capacity file {} (expected the JSON `crest probe --output` writes)",
            a.capacity.display()
        )
    })?;
    let d = Demand::read_csv(&a.demand, &a.quantile)?;
    let ans =
        demand::instances_needed(&cap, &d, a.demand_scale, a.target_utilisation, a.instances)?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&ans)?),
        Format::Table => {
            println!(
                "crest ({}) at {}: {:.1} req/s",
                ans.column, ans.crest_at, ans.crest_rps
            );
            println!(
                "capacity {:.1} req/s per instance at {:.0} % utilisation -> {} instances needed",
                ans.per_instance_rps,
                100.0 * ans.target_utilisation,
                ans.needed
            );
            if let (Some(c), Some(m), Some(h)) = (ans.current, ans.missing, ans.headroom_at_crest) {
                let verdict = match m {
                    m if m > 0 => format!("{m} missing"),
                    0 => "exactly enough".to_string(),
                    m => format!("{} surplus", -m),
                };
                println!(
                    "now {c} instances: {verdict}; headroom at the crest {:.1} %",
                    100.0 * h
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
