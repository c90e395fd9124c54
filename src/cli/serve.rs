//! `crest serve --config FILE`: the alert webhooks and the plan/decision API,
//! and, when the file has `[[app]]` sections, the controller beside them
//! (`crest-controller`: alerts, plans and metrics drive each app's fleet
//! through the `[actuator]`, the `crest scale` config).
//!
//! Thin on purpose: config loading, validation and the server live in
//! `crest-server` (its `run` is what the tests and the benchmark binary call
//! too); this module parses flags, builds the runtime and maps errors to exit
//! codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use crest_server::ServerConfig;

/// Arguments of `crest serve`.
#[derive(Debug, Args)]
pub struct ServeCmd {
    /// Config file (TOML): listen address, token, state database, alert mapping.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Listen address, overriding `server.listen` (127.0.0.1:0 picks a free port;
    /// the chosen one is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Only validate the config: print every problem (field and line) and exit.
    #[arg(long)]
    check: bool,
    /// Controller: print what it would do (the actuator's steps included);
    /// touch no fleet, take no lease, write no controller state.
    #[arg(long)]
    dry_run: bool,
    /// Controller: this instance's name in leases and history (default host:pid).
    #[arg(long, value_name = "NAME")]
    controller_id: Option<String>,
}

/// Run `crest serve`.
///
/// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM) or a passing
/// `--check`, 1 when the config is invalid or the server fails.
pub fn run(cmd: ServeCmd) -> anyhow::Result<ExitCode> {
    let mut config = ServerConfig::load(&cmd.config)?;
    if let Some(l) = cmd.listen {
        config.listen = l;
    }
    let controller = crest_controller::ControllerConfig::load(&cmd.config)?;
    if cmd.check {
        println!(
            "{}: ok (listen {}, state {}, {} rule(s), {} app(s){}, {} controlled app(s))",
            cmd.config.display(),
            config.listen,
            config.db_path.display(),
            config.mapping.rules.len(),
            config.mapping.apps.len(),
            if config.mapping.defaults.is_some() {
                ", defaults for others"
            } else {
                ""
            },
            controller.apps.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    if controller.apps.is_empty() {
        rt.block_on(crest_server::serve_until_signal(config))?;
        return Ok(ExitCode::SUCCESS);
    }
    let holder = cmd.controller_id.unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}:{}", host.trim(), std::process::id())
    });
    let opts = crest_controller::serve::ServeOptions {
        dry_run: cmd.dry_run,
        holder,
    };
    rt.block_on(crest_controller::serve::serve(config, controller, opts))?;
    Ok(ExitCode::SUCCESS)
}
