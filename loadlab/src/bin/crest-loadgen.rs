//! `crest-loadgen`: open-loop HTTP load at a fixed rate; prints a JSON report
//! at the end and can serve live reports at `--report-listen`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use crest_loadlab::loadgen::{self, Arrivals, LoadGenConfig};

/// Send METHOD URL at RATE requests per second, open loop.
#[derive(Debug, Parser)]
#[command(name = "crest-loadgen")]
struct Args {
    /// Target URL (http:// only).
    url: String,
    /// Aggregate requests per second.
    #[arg(long)]
    rate: f64,
    /// Seconds to run (0: until Ctrl-C).
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request body.
    #[arg(long)]
    body: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Request timeout, ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Group results by this response header (e.g. x-crest-server).
    #[arg(long)]
    group_header: Option<String>,
    /// Poisson arrivals from this seed (default: constant spacing).
    #[arg(long)]
    poisson_seed: Option<u64>,
    /// Serve `GET /report[?reset=true]` here (e.g. 127.0.0.1:9100).
    #[arg(long)]
    report_listen: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = Args::parse();
    match run(a).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crest-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let url: hyper::Uri = a
        .url
        .parse()
        .map_err(|e| format!("failed to parse url {:?}: {e}", a.url))?;
    let mut cfg = LoadGenConfig::get(url, a.rate);
    cfg.method = a
        .method
        .parse()
        .map_err(|e| format!("failed to parse method {:?}: {e}", a.method))?;
    cfg.body = a.body.unwrap_or_default().into();
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("failed to parse header {h:?}: expected 'Name: value'"))?;
        cfg.headers
            .push((k.trim().to_string(), v.trim().to_string()));
    }
    cfg.timeout = Duration::from_millis(a.timeout_ms);
    cfg.group_header = a.group_header;
    if let Some(seed) = a.poisson_seed {
        cfg.arrivals = Arrivals::Poisson { seed };
    }
    if a.duration_s > 0.0 {
        cfg.duration = Some(Duration::from_secs_f64(a.duration_s));
    }
    let timeout = cfg.timeout;
    let h = loadgen::spawn(cfg)?;
    if let Some(addr) = a.report_listen {
        let l = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!(
            "crest-loadgen: reports at http://{}/report",
            l.local_addr()?
        );
        tokio::spawn(loadgen::serve_reports(l, h.clone(), std::future::pending()));
    }
    let wait = async {
        if a.duration_s > 0.0 {
            #[allow(clippy::disallowed_methods)] // a load generator runs in real time
            tokio::time::sleep(Duration::from_secs_f64(a.duration_s) + timeout).await;
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    tokio::select! {
        _ = wait => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    h.stop();
    println!("{}", serde_json::to_string(&h.total())?);
    Ok(())
}
