//! `crest scale`: bring an app to N replicas (0 to remove them all) through
//! the configured backends (containerd + CNI), journaling every step, or print
//! what would be done with `--dry-run`.
//!
//! With a `[mesos]` section instead of `[containerd]` the app runs as tasks of
//! crest's Mesos framework (`crest_actuator::mesos::cli`): each run fails over
//! with the framework id kept in the journal, waits until exactly N tasks
//! run and disconnects without tearing the framework down. (Tested against a
//! protocol-level double of the master, not a real one.) `--dry-run` still
//! prints the containerd fleet's steps.
//!
//! Every run first reconciles the journal with what the backends hold, so
//! re-running after a crash (even kill -9) finishes or undoes half-done work
//! instead of duplicating or leaking anything. The report is one JSON line on
//! stdout; exit code 1 when any instance failed, or runs but has not passed
//! the balancer's health check within `fleet.health_wait_ms`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::args::parse_replicas;
use anyhow::Context;
use clap::Args;
use crest_actuator::config::ScaleConfig;
use crest_core::AppId;

/// Arguments of `crest scale`.
#[derive(Debug, Args)]
pub struct ScaleCmd {
    /// The app (e.g. `web`).
    pub app: String,
    /// Desired number of replicas (0 removes them all; at most 100000).
    #[arg(value_parser = parse_replicas)]
    pub replicas: u32,
    /// Backend configuration (TOML: [containerd] or [mesos], [network], [fleet], journal).
    /// In [mesos], `user` (the Unix user tasks run as on the agents) defaults
    /// to the user running crest; `failover_timeout_s` to a week (docs/mesos.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The SQLite journal (overrides the config's `journal`).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Plan id to label new containers with.
    #[arg(long)]
    pub plan: Option<String>,
    /// Print the steps that would be taken; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: how many instances to pretend already run.
    #[arg(long, default_value_t = 0, value_parser = parse_replicas)]
    pub from: u32,
    /// Mesos: drop the framework id saved in the journal before scaling, so a
    /// new framework registers. Only after the master ended the old one
    /// ("Framework has been removed" / "failed over"): its tasks are not adopted.
    #[arg(long)]
    pub forget_framework: bool,
}

/// Run `crest scale`.
pub fn run(cmd: ScaleCmd) -> anyhow::Result<ExitCode> {
    let app = AppId::try_new(cmd.app.clone()).context("invalid app id")?;
    let cfg = match &cmd.config {
        Some(p) => ScaleConfig::load(p)?,
        None => ScaleConfig::default(),
    };
    let rt = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    if cmd.dry_run {
        let (report, lines) = rt.block_on(crest_actuator::config::scale_dry(
            &cfg,
            &app,
            cmd.from,
            cmd.replicas,
            cmd.plan.as_deref(),
        ))?;
        for l in lines {
            println!("would: {l}");
        }
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if cfg.containerd.is_none() && cfg.mesos.is_none() {
        anyhow::bail!(
            "nothing to scale through: expected a [containerd] or a [mesos] section in the config for a real scale (or use --dry-run)"
        );
    }
    let journal = cmd
        .journal
        .clone()
        .or_else(|| cfg.journal.clone())
        .context("no journal: pass --journal PATH or set `journal` in the config")?;
    if cmd.forget_framework && cfg.mesos.is_none() {
        anyhow::bail!("--forget-framework needs a [mesos] section in the config");
    }
    if let Some(mesos) = &cfg.mesos {
        if cmd.forget_framework {
            match crest_actuator::mesos::forget_framework(mesos, &journal)? {
                Some(id) => eprintln!(
                    "crest scale: forgot mesos framework {id} (journal {}, key {}); registering a new one",
                    journal.display(),
                    mesos.framework_id_key()
                ),
                None => {
                    eprintln!("crest scale: no mesos framework id was saved; registering a new one")
                }
            }
        }
        let report = rt.block_on(crest_actuator::mesos::scale_mesos(
            mesos,
            &journal,
            &app,
            cmd.replicas,
            cmd.plan.as_deref(),
        ))?;
        println!("{}", serde_json::to_string(&report)?);
        if report.failed.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!(
            "crest scale: {} of {} tasks running on mesos: {}",
            report.running,
            report.to,
            report
                .failed
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return Ok(ExitCode::from(1));
    }
    let report = rt.block_on(crest_actuator::config::scale_real(
        &cfg,
        &journal,
        &app,
        cmd.replicas,
        cmd.plan.as_deref(),
    ))?;
    println!("{}", serde_json::to_string(&report)?);
    if report.failed.is_empty() && report.unhealthy.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !report.failed.is_empty() {
        eprintln!(
            "crest scale: {} instance(s) failed; {} of {} running",
            report.failed.len(),
            report.running,
            report.to
        );
    }
    if !report.unhealthy.is_empty() {
        eprintln!(
            "crest scale: {} new instance(s) running but not passing the balancer's health \
             check (kept; fleet.health_wait_ms to wait longer): {}",
            report.unhealthy.len(),
            report.unhealthy.join(", ")
        );
    }
    Ok(ExitCode::from(1))
}
