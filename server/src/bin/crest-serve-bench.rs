//! `crest-serve-bench --config FILE [--listen ADDR]`: the very `run` that
//! `crest serve` calls, in a binary of this crate alone, so that
//! `scripts/bench-webhook.sh` can build it in release without building the
//! whole `crest` binary (whose release build compiles polars for ~15 min).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use crest_server::ServerConfig;

/// Serve crest's webhooks and API (benchmark build of `crest serve`).
#[derive(Debug, Parser)]
struct Args {
    /// Config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Listen address, overriding `server.listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match ServerConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(crest_server::serve_until_signal(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
