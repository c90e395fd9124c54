//! A throwaway Prometheus on 127.0.0.1 for tests and benchmarks: a free
//! port, a temp dir of the caller's, killed on drop. Also backfills history
//! with `promtool tsdb create-blocks-from openmetrics` (one block per 100
//! days: with the default 2 h blocks it takes minutes).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `prometheus` binary, if installed.
pub fn prometheus_binary() -> Option<PathBuf> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The `promtool` binary, if installed.
pub fn promtool_binary() -> Option<PathBuf> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running Prometheus; killed (and waited for) on drop.
#[derive(Debug)]
pub struct LocalPrometheus {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its log file.
    pub log: PathBuf,
}

impl LocalPrometheus {
    /// Start `bin` with `config` (YAML text) and its TSDB in `dir/tsdb`,
    /// plus `extra` flags; waits until `/-/ready` answers 200.
    ///
    /// # Errors
    /// A message with the log's tail when it does not get ready in 30 s.
    pub fn start(bin: &Path, dir: &Path, config: &str, extra: &[&str]) -> Result<Self, String> {
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).map_err(|e| format!("write {}: {e}", cfg.display()))?;
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.join("prometheus.log");
        let logf = std::fs::File::create(&log).map_err(|e| format!("create log: {e}"))?;
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let p = LocalPrometheus {
            child: Some(child),
            addr,
            log,
        };
        // 30 s at most.
        for _ in 0..300 {
            if http_get(addr, "/-/ready").is_ok_and(|(s, _)| s == 200) {
                return Ok(p);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("prometheus never got ready: {}", p.log_tail()))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The last 2,000 bytes of the log.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s[s.len().saturating_sub(2000)..].to_string()
    }

    /// Kill it now (a Prometheus outage in a test).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LocalPrometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Write OpenMetrics text for gauge `name` from `(unix seconds, value)`
/// series (each with its label text, e.g. `job="a"`) and backfill it into
/// `tsdb` with promtool.
///
/// # Errors
/// A message with promtool's output.
pub fn backfill(
    promtool: &Path,
    work: &Path,
    tsdb: &Path,
    name: &str,
    series: &[(String, Vec<(i64, f64)>)],
) -> Result<(), String> {
    let om = work.join("backfill.om");
    let mut text = format!("# TYPE {name} gauge\n");
    for (labels, pts) in series {
        let l = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        for (t, v) in pts {
            text.push_str(&format!("{name}{l} {v} {t}\n"));
        }
    }
    text.push_str("# EOF\n");
    std::fs::write(&om, text).map_err(|e| format!("write {}: {e}", om.display()))?;
    let out = Command::new(promtool)
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=2400h",
        ])
        .arg(&om)
        .arg(tsdb)
        .output()
        .map_err(|e| format!("spawn promtool: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "promtool failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A minimal blocking HTTP/1.0 GET: `(status, body)`.
///
/// # Errors
/// The IO error's text.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad answer: {}", &buf[..buf.len().min(100)]))?;
    let body = buf
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}
