//! `crest serve --config FILE`: the alert webhooks and the plan/decision API.
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
    if cmd.check {
        println!(
            "{}: ok (listen {}, state {}, {} rule(s), {} app(s){})",
            cmd.config.display(),
            config.listen,
            config.db_path.display(),
            config.mapping.rules.len(),
            config.mapping.apps.len(),
            if config.mapping.defaults.is_some() {
                ", defaults for others"
            } else {
                ""
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    rt.block_on(crest_server::serve_until_signal(config))?;
    Ok(ExitCode::SUCCESS)
}
