//! `crest-testserver`: one or more test servers with a known saturation point
//! (`workers / service time`), for probes and benches.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crest_loadlab::server::{self, TestServerConfig};

/// Serve HTTP as an FCFS queue of WORKERS workers of SERVICE_MS each.
#[derive(Debug, Parser)]
#[command(name = "crest-testserver")]
struct Args {
    /// Listen addresses (one server each), e.g. 127.0.0.1:8081.
    #[arg(long, required = true)]
    listen: Vec<String>,
    /// Name prefix; servers are named PREFIX0, PREFIX1, ... (sent in x-crest-server).
    #[arg(long, default_value = "s")]
    name_prefix: String,
    /// Workers per server.
    #[arg(long, default_value_t = 4)]
    workers: u32,
    /// Service time per request, ms.
    #[arg(long, default_value_t = 20.0)]
    service_ms: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    if !(a.service_ms.is_finite() && a.service_ms > 0.0) {
        eprintln!("crest-testserver: --service-ms must be positive");
        return ExitCode::from(2);
    }
    let mut tasks = Vec::new();
    for (i, addr) in a.listen.iter().enumerate() {
        let l = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("crest-testserver: failed to bind {addr}: {e}");
                return ExitCode::from(1);
            }
        };
        let cfg = TestServerConfig {
            name: format!("{}{i}", a.name_prefix),
            workers: a.workers,
            service_time: Duration::from_secs_f64(a.service_ms / 1000.0),
        };
        eprintln!(
            "crest-testserver: {} on {addr}, true capacity {:.1} req/s",
            cfg.name,
            cfg.capacity_rps()
        );
        tasks.push(tokio::spawn(server::run(l, cfg, async {
            let _ = tokio::signal::ctrl_c().await;
        })));
    }
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("crest-testserver: {e}");
                return ExitCode::from(1);
            }
            Err(e) => {
                eprintln!("crest-testserver: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
