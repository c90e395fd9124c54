//! `crest-webhook-load`: an open-loop load generator for crest's Alertmanager
//! webhook, and the read-back check that follows a restart.
//!
//! Open loop: request `i` is due at `start + i / rate`, whether or not earlier
//! ones have been answered, and its latency is measured from when it was
//! *due*, not from when a connection became free — so a stalled server shows
//! up in the percentiles instead of silently slowing the sender down
//! (coordinated omission). Each payload is a distinct Alertmanager v4 body
//! (its own labels, hence its own fingerprint), so each must make exactly one
//! decision.
//!
//! ```text
//! crest-webhook-load send  --addr 127.0.0.1:PORT --rate 2000 --count 20000 --run-id R > sent.json
//! (restart the server)
//! crest-webhook-load check --addr 127.0.0.1:PORT --sent sent.json   # one JSON line
//! ```
//!
//! Loopback only: it refuses any address that is not 127.0.0.0/8 or ::1.

#![allow(clippy::disallowed_methods)] // a load generator measures wall time by nature

use std::collections::BTreeMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Parser, Subcommand};
use crest_server::client::HttpClient;
use crest_server::payload::label_fingerprint;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(about = "Open-loop load generator for crest's Alertmanager webhook (loopback only)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Send distinct Alertmanager payloads at a fixed rate; print one JSON line.
    Send(SendArgs),
    /// Read /v1/decisions back and count the sent alerts recorded; print one JSON line.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct SendArgs {
    /// Server address (loopback).
    #[arg(long)]
    addr: SocketAddr,
    /// Environment variable holding the bearer token.
    #[arg(long, default_value = "CREST_TOKEN")]
    token_env: String,
    /// Requests per second.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Number of payloads (one alert each).
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Most connections (and requests in flight) at once.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Number of distinct apps the alerts spread over (`bench-0` .. `bench-N-1`).
    #[arg(long, default_value_t = 50)]
    apps: u64,
    /// Tags every alert (label `run`), so runs against one database stay distinct.
    #[arg(long, default_value = "run-1")]
    run_id: String,
    /// SIGKILL this process (the server) once `--kill-after-acks` answers
    /// came back, with the requests still in flight (crash test).
    #[arg(long, requires = "kill_after_acks")]
    kill_pid: Option<u32>,
    /// How many acknowledged alerts before the kill.
    #[arg(long, requires = "kill_pid")]
    kill_after_acks: Option<u64>,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Server address (loopback).
    #[arg(long)]
    addr: SocketAddr,
    /// The JSON line `send` printed.
    #[arg(long)]
    sent: PathBuf,
    /// Which server binary was measured (copied into the output).
    #[arg(long, default_value = "unspecified")]
    server_label: String,
}

/// What `send` prints (and `check` reads back).
#[derive(Debug, Serialize, Deserialize)]
struct SendReport {
    alerts_sent: u64,
    alerts_acknowledged: u64,
    errors: u64,
    decisions_in_responses: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    target_rate_per_s: f64,
    rate_per_s: f64,
    duration_s: f64,
    connections_opened: u64,
    unauthorized_rejected: bool,
    run_id: String,
    apps: u64,
    unauthorized_fingerprint: String,
    /// Upper bound of the server-side latency bucket holding the 99th
    /// percentile (crest's own `crest_http_request_duration_seconds`, request
    /// received → response ready, commit included): what the server itself
    /// spent, apart from the client's and the scheduler's share.
    #[serde(default)]
    server_p99_ms_at_most: Option<f64>,
    /// The index of every alert answered 2xx (`check` looks each one up).
    #[serde(default)]
    acknowledged: Vec<u64>,
    /// Requests in flight when `--kill-pid` was killed.
    #[serde(default)]
    in_flight_at_kill: Option<u64>,
}

/// The bucket bound (ms) under which 99 % of the alert requests finished,
/// from the server's Prometheus-format histogram.
fn server_p99_ms(metrics: &str) -> Option<f64> {
    let route = "route=\"alerts_alertmanager\"";
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let mut count = None;
    for line in metrics.lines() {
        if !line.contains(route) {
            continue;
        }
        let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
        if line.starts_with("crest_http_request_duration_seconds_count") {
            count = Some(value);
        } else if line.starts_with("crest_http_request_duration_seconds_bucket") {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, value));
        }
    }
    let count = count?;
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
        .iter()
        .find(|(_, c)| *c >= 0.99 * count)
        .map(|(le, _)| le * 1000.0)
        .filter(|v| v.is_finite())
}

fn labels(run_id: &str, apps: u64, i: u64) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("alertname".to_string(), "CrestBenchLatency".to_string());
    l.insert("app".to_string(), format!("bench-{}", i % apps.max(1)));
    l.insert("severity".to_string(), "page".to_string());
    l.insert("run".to_string(), run_id.to_string());
    l.insert("seq".to_string(), i.to_string());
    l
}

/// A distinct Alertmanager v4 body, shaped like the captured fixtures.
fn payload(labels: &BTreeMap<String, String>, i: u64) -> (String, String) {
    let fp = label_fingerprint(labels);
    let labels_json = serde_json::to_string(labels).unwrap_or_else(|_| "{}".into());
    // Fixed base time: the same run gives the same bytes.
    let start_ms = 1_800_000_000_000_i64 + i64::try_from(i).unwrap_or(0);
    let starts_at = chrono::DateTime::from_timestamp_millis(start_ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    let body = format!(
        r#"{{"receiver":"crest","status":"firing","alerts":[{{"status":"firing","labels":{labels_json},"annotations":{{"summary":"bench"}},"startsAt":"{starts_at}","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"{fp}"}}],"groupLabels":{{}},"commonLabels":{labels_json},"commonAnnotations":{{"summary":"bench"}},"externalURL":"http://127.0.0.1:9093","version":"4","groupKey":"{{}}:{{}}","truncatedAlerts":0}}"#
    );
    (fp, body)
}

fn ensure_loopback(addr: SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to send to {addr}: this generator only targets loopback addresses"
        ))
    }
}

const PATH: &str = "/v1/alerts/alertmanager";

async fn send(a: SendArgs) -> Result<SendReport, String> {
    ensure_loopback(a.addr)?;
    if !(a.rate > 0.0 && a.rate <= 100_000.0) {
        return Err(format!("--rate must be in (0, 100000], found {}", a.rate));
    }
    let token = std::env::var(&a.token_env).map_err(|_| {
        format!(
            "environment variable {} (the token) is not set",
            a.token_env
        )
    })?;

    // The unauthorized probe: a valid body with a wrong token and with none must both be 401.
    let probe_labels = labels(&format!("{}-unauthorized", a.run_id), a.apps, 0);
    let (unauth_fp, probe) = payload(&probe_labels, 0);
    let mut c = HttpClient::connect(a.addr)
        .await
        .map_err(|e| e.to_string())?;
    let (s1, _) = c
        .post(PATH, Some("wrong-token-0123456789"), probe.clone())
        .await
        .map_err(|e| e.to_string())?;
    let (s2, _) = c.post(PATH, None, probe).await.map_err(|e| e.to_string())?;
    let unauthorized_rejected = s1.as_u16() == 401 && s2.as_u16() == 401;

    let pool: Arc<Mutex<Vec<HttpClient>>> = Arc::new(Mutex::new(vec![c]));
    let permits = Arc::new(Semaphore::new(a.connections.max(1)));
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let stats = Arc::new(Mutex::new((0u64, 0u64, 0u64, 0u64))); // ok, errors, decisions, opened
    let acked: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let killed: Arc<Mutex<Option<u64>>> = Arc::new(Mutex::new(None));
    let kill = a.kill_pid.zip(a.kill_after_acks);
    let last_done = Arc::new(Mutex::new(Instant::now()));
    let token: Arc<str> = token.into();

    // Build every body first so the send loop does no formatting.
    let bodies: Vec<String> = (0..a.count)
        .map(|i| payload(&labels(&a.run_id, a.apps, i), i).1)
        .collect();
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let (pool, permits, hist, stats, last_done, token) = (
            Arc::clone(&pool),
            Arc::clone(&permits),
            Arc::clone(&hist),
            Arc::clone(&stats),
            Arc::clone(&last_done),
            Arc::clone(&token),
        );
        let (acked, in_flight, killed) = (
            Arc::clone(&acked),
            Arc::clone(&in_flight),
            Arc::clone(&killed),
        );
        let index = i as u64;
        let addr = a.addr;
        tasks.push(tokio::spawn(async move {
            let Ok(_permit) = permits.acquire().await else {
                return;
            };
            let pooled = pool.lock().ok().and_then(|mut p| p.pop());
            let mut conn = match pooled {
                Some(c) if c.is_open() => c,
                _ => match HttpClient::connect(addr).await {
                    Ok(c) => {
                        if let Ok(mut s) = stats.lock() {
                            s.3 += 1;
                        }
                        c
                    }
                    Err(_) => {
                        if let Ok(mut s) = stats.lock() {
                            s.1 += 1;
                        }
                        return;
                    }
                },
            };
            in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = conn.post(PATH, Some(&token), body).await;
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            let now = Instant::now();
            let us = u64::try_from(now.duration_since(due).as_micros()).unwrap_or(u64::MAX);
            let (ok, decisions) = match &result {
                Ok((status, b)) if status.is_success() => {
                    let n = serde_json::from_slice::<serde_json::Value>(b)
                        .ok()
                        .and_then(|v| v.get("decisions").and_then(|d| d.as_array()).map(Vec::len))
                        .unwrap_or(0);
                    (true, n as u64)
                }
                _ => (false, 0),
            };
            if let Ok(mut h) = hist.lock() {
                let _ = h.record(us.max(1));
            }
            if let Ok(mut s) = stats.lock() {
                if ok {
                    s.0 += 1;
                } else {
                    s.1 += 1;
                }
                s.2 += decisions;
            }
            if ok && let Ok(mut v) = acked.lock() {
                v.push(index);
                // The crash test: SIGKILL with the other requests in flight.
                if let Some((pid, after)) = kill
                    && v.len() as u64 == after
                    && let Ok(mut k) = killed.lock()
                    && k.is_none()
                {
                    *k = Some(in_flight.load(std::sync::atomic::Ordering::SeqCst));
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &pid.to_string()])
                        .status();
                }
            }
            if let Ok(mut l) = last_done.lock() {
                *l = (*l).max(now);
            }
            if result.is_ok()
                && conn.is_open()
                && let Ok(mut p) = pool.lock()
            {
                p.push(conn);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let end = last_done
        .lock()
        .map(|l| *l)
        .unwrap_or_else(|_| Instant::now());
    let server_p99 = match HttpClient::connect(a.addr).await {
        Ok(mut c) => match c.get("/metrics").await {
            Ok((_, body)) => server_p99_ms(&String::from_utf8_lossy(&body)),
            Err(_) => None,
        },
        Err(_) => None,
    };
    let h = hist
        .lock()
        .map_err(|_| "histogram lock poisoned".to_string())?;
    let (ok, errors, decisions, opened) = *stats
        .lock()
        .map_err(|_| "stats lock poisoned".to_string())?;
    let duration = end.duration_since(start).as_secs_f64();
    let mut acknowledged = acked
        .lock()
        .map(|v| v.clone())
        .map_err(|_| "ack lock poisoned".to_string())?;
    acknowledged.sort_unstable();
    let in_flight_at_kill = killed.lock().ok().and_then(|k| *k);
    let ms = |q: f64| (h.value_at_quantile(q) as f64 / 1000.0 * 1000.0).round() / 1000.0;
    Ok(SendReport {
        alerts_sent: a.count,
        alerts_acknowledged: ok,
        errors,
        decisions_in_responses: decisions,
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: (h.max() as f64 / 1000.0 * 1000.0).round() / 1000.0,
        target_rate_per_s: a.rate,
        rate_per_s: if duration > 0.0 {
            (ok as f64 / duration * 10.0).round() / 10.0
        } else {
            0.0
        },
        duration_s: (duration * 1000.0).round() / 1000.0,
        connections_opened: opened + 1,
        unauthorized_rejected,
        run_id: a.run_id,
        apps: a.apps,
        unauthorized_fingerprint: unauth_fp,
        server_p99_ms_at_most: server_p99,
        acknowledged,
        in_flight_at_kill,
    })
}

async fn check(a: CheckArgs) -> Result<BenchResult, String> {
    ensure_loopback(a.addr)?;
    let text = std::fs::read_to_string(&a.sent)
        .map_err(|e| format!("failed to read {}: {e}", a.sent.display()))?;
    let sent: SendReport = serde_json::from_str(text.trim())
        .map_err(|e| format!("failed to parse {}: {e}", a.sent.display()))?;
    let expected: HashSet<String> = (0..sent.alerts_sent)
        .map(|i| label_fingerprint(&labels(&sent.run_id, sent.apps, i)))
        .collect();
    let mut c = HttpClient::connect(a.addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut recorded = HashSet::new();
    let mut unauthorized_recorded = false;
    let mut after = 0i64;
    loop {
        let (status, body) = c
            .get(&format!("/v1/decisions?limit=1000&after={after}"))
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("GET /v1/decisions answered {status}"));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("bad /v1/decisions body: {e}"))?;
        for d in v["decisions"].as_array().into_iter().flatten() {
            let fp = d["fingerprint"].as_str().unwrap_or_default();
            if expected.contains(fp) {
                recorded.insert(fp.to_string());
            }
            if fp == sent.unauthorized_fingerprint {
                unauthorized_recorded = true;
            }
        }
        match v["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    // By id: every acknowledged alert must be there (older reports without
    // the list fall back to counting).
    let lost_after_ack = if sent.acknowledged.is_empty() {
        sent.alerts_acknowledged
            .saturating_sub(recorded.len() as u64)
    } else {
        sent.acknowledged
            .iter()
            .filter(|i| {
                !recorded.contains(&label_fingerprint(&labels(&sent.run_id, sent.apps, **i)))
            })
            .count() as u64
    };
    let recorded = recorded.len() as u64;
    Ok(BenchResult {
        alerts_sent: sent.alerts_sent,
        alerts_recorded: recorded,
        p99_ms: sent.p99_ms,
        rate_per_s: sent.rate_per_s,
        unauthorized_rejected: sent.unauthorized_rejected && !unauthorized_recorded,
        alerts_acknowledged: sent.alerts_acknowledged,
        lost_after_ack,
        in_flight_at_kill: sent.in_flight_at_kill,
        errors: sent.errors,
        p50_ms: sent.p50_ms,
        p90_ms: sent.p90_ms,
        p999_ms: sent.p999_ms,
        max_ms: sent.max_ms,
        target_rate_per_s: sent.target_rate_per_s,
        duration_s: sent.duration_s,
        connections_opened: sent.connections_opened,
        server_p99_ms_at_most: sent.server_p99_ms_at_most,
        server: a.server_label,
    })
}

/// The benchmark's one output line (field order as the issue asks, then details).
#[derive(Debug, Serialize)]
struct BenchResult {
    alerts_sent: u64,
    alerts_recorded: u64,
    p99_ms: f64,
    rate_per_s: f64,
    unauthorized_rejected: bool,
    alerts_acknowledged: u64,
    /// Acknowledged alerts missing after the restart, looked up by id.
    lost_after_ack: u64,
    /// Requests in flight when the server was killed (a crash-test run).
    #[serde(skip_serializing_if = "Option::is_none")]
    in_flight_at_kill: Option<u64>,
    errors: u64,
    p50_ms: f64,
    p90_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    target_rate_per_s: f64,
    duration_s: f64,
    connections_opened: u64,
    server_p99_ms_at_most: Option<f64>,
    server: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let out = rt.block_on(async {
        match cli.cmd {
            Cmd::Send(a) => send(a)
                .await
                .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string())),
            Cmd::Check(a) => check(a)
                .await
                .and_then(|r| serde_json::to_string(&r).map_err(|e| e.to_string())),
        }
    });
    match out {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crest_server::payload::{Source, parse};

    #[test]
    fn payloads_are_valid_distinct_and_reproducible() {
        let mut seen = HashSet::new();
        for i in 0..200 {
            let l = labels("r1", 7, i);
            let (fp, body) = payload(&l, i);
            let ev = parse(Source::Alertmanager, body.as_bytes()).unwrap();
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].fingerprint, fp);
            assert_eq!(ev[0].labels["app"], format!("bench-{}", i % 7));
            assert!(seen.insert(fp));
            assert_eq!(payload(&l, i).1, body, "same run, same bytes");
        }
    }

    #[test]
    fn server_p99_from_the_histogram() {
        let text = "crest_http_request_duration_seconds_bucket{le=\"0.0008\",route=\"alerts_alertmanager\"} 90\n\
                    crest_http_request_duration_seconds_bucket{le=\"0.0016\",route=\"alerts_alertmanager\"} 99\n\
                    crest_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"alerts_alertmanager\"} 100\n\
                    crest_http_request_duration_seconds_count{route=\"alerts_alertmanager\"} 100\n\
                    crest_http_request_duration_seconds_count{route=\"healthz\"} 5\n";
        assert_eq!(server_p99_ms(text), Some(1.6));
        assert_eq!(server_p99_ms("nothing"), None);
    }

    #[test]
    fn only_loopback_targets() {
        assert!(ensure_loopback("127.0.0.1:80".parse().unwrap()).is_ok());
        assert!(ensure_loopback("[::1]:80".parse().unwrap()).is_ok());
        assert!(ensure_loopback("10.0.0.1:80".parse().unwrap()).is_err());
    }
}
