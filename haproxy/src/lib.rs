//! # crest-haproxy
//!
//! A client for HAProxy's runtime API (the `stats socket`), and the
//! production [`LoadBalancer`] of crest: the headroom probe steps weights
//! through it and the actuator registers and drains containers through it.
//!
//! ```text
//!   HaproxyClient ──"set weight be/s1 40\n"──▶ stats socket (unix or tcp)
//!        ▲                                        │
//!        └──────────── one answer, then EOF ◀─────┘
//! ```
//!
//! Every command opens a fresh connection (HAProxy's non-interactive mode
//! answers one command and closes), so a reload or a vanished socket shows up
//! as a typed [`HaproxyError`] on the next call, never as a stale connection.
//!
//! Traps worth knowing (see `parse.rs`): weights are integers 0–256;
//! `rtime`/`ttime` are averages over the last 1,024 requests, not
//! percentiles; every runtime change vanishes on a reload — compare
//! [`ProcessInfo`] before and after to notice.
//!
//! Start reading at [`HaproxyClient`].
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

mod error;
pub mod parse;
pub mod process;

use std::path::PathBuf;
use std::time::Duration;

use crest_core::seams::{LoadBalancer, SeamError, ServerAdminState, ServerStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use error::HaproxyError;
pub use parse::{ProcessInfo, ServerStateRow, StatRow};

/// Where the runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddr {
    /// A unix socket path (`stats socket /run/haproxy.sock level admin`).
    Unix(PathBuf),
    /// A TCP address (`stats socket ipv4@127.0.0.1:9999 level admin`).
    Tcp(String),
}

impl SocketAddr {
    /// `tcp://HOST:PORT` or `HOST:PORT` (numeric IP) is TCP; anything else a unix path.
    pub fn parse(s: &str) -> SocketAddr {
        if let Some(t) = s.strip_prefix("tcp://") {
            return SocketAddr::Tcp(t.to_string());
        }
        if s.parse::<std::net::SocketAddr>().is_ok() {
            return SocketAddr::Tcp(s.to_string());
        }
        SocketAddr::Unix(PathBuf::from(s.strip_prefix("unix://").unwrap_or(s)))
    }
}

impl std::fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketAddr::Unix(p) => write!(f, "{}", p.display()),
            SocketAddr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Options of a dynamic server (`add server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddServer {
    /// `ip:port`.
    pub addr: String,
    /// Initial weight (0–256).
    pub weight: u16,
    /// Enable health checks (`check` + `enable health`).
    pub check: bool,
    /// Health-check interval in ms (`inter`), when checking.
    pub check_inter_ms: Option<u32>,
    /// Leave the server in maintenance after adding (HAProxy's default); otherwise it is made ready.
    pub keep_in_maint: bool,
    /// With checks: start DOWN (and ready, whatever `keep_in_maint` says), so
    /// that no traffic comes before `rise` checks pass, checking every this
    /// many ms while down (`downinter`). HAProxy otherwise puts a server
    /// leaving maintenance straight UP, and sends it requests until `fall`
    /// checks have failed.
    pub start_down_inter_ms: Option<u32>,
}

impl AddServer {
    /// A server at `addr` with weight 1, no checks, made ready after adding.
    pub fn new(addr: impl Into<String>) -> Self {
        AddServer {
            addr: addr.into(),
            weight: 1,
            check: false,
            check_inter_ms: None,
            keep_in_maint: false,
            start_down_inter_ms: None,
        }
    }

    /// Set the weight.
    pub fn with_weight(mut self, w: u16) -> Self {
        self.weight = w;
        self
    }

    /// Enable health checks every `inter_ms`.
    pub fn with_check(mut self, inter_ms: u32) -> Self {
        self.check = true;
        self.check_inter_ms = Some(inter_ms);
        self
    }

    /// Leave the server in maintenance.
    pub fn in_maint(mut self) -> Self {
        self.keep_in_maint = true;
        self
    }

    /// With checks: start DOWN and check every `down_inter_ms` until UP.
    pub fn starting_down(mut self, down_inter_ms: u32) -> Self {
        self.start_down_inter_ms = Some(down_inter_ms);
        self
    }
}

/// A client of one HAProxy runtime API socket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HaproxyClient {
    addr: SocketAddr,
    timeout: Duration,
}

/// The largest answer read (a `show stat` of thousands of servers fits).
const MAX_ANSWER: usize = 64 << 20;

impl HaproxyClient {
    /// A client of the socket at `addr` with a 5 s timeout per command.
    pub fn new(addr: SocketAddr) -> Self {
        HaproxyClient {
            addr,
            timeout: Duration::from_secs(5),
        }
    }

    /// Change the per-command timeout.
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The socket address.
    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    /// Send one raw command and return HAProxy's whole answer.
    ///
    /// # Errors
    /// [`HaproxyError::Io`] / [`HaproxyError::Timeout`] when the socket cannot be
    /// reached; [`HaproxyError::InvalidArgument`] for a command with a newline.
    pub async fn command(&self, cmd: &str) -> Result<String, HaproxyError> {
        if cmd.contains(['\n', '\r', ';']) {
            return Err(HaproxyError::InvalidArgument {
                what: "command",
                value: cmd.to_string(),
                why: "newlines and ';' would smuggle a second command",
            });
        }
        let fut = self.exchange(cmd);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|source| HaproxyError::Io {
                addr: self.addr.to_string(),
                command: cmd.to_string(),
                source,
            }),
            Err(_) => Err(HaproxyError::Timeout {
                addr: self.addr.to_string(),
                command: cmd.to_string(),
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }

    async fn exchange(&self, cmd: &str) -> std::io::Result<String> {
        let line = format!("{cmd}\n");
        let mut buf = Vec::new();
        match &self.addr {
            SocketAddr::Unix(p) => {
                let mut s = tokio::net::UnixStream::connect(p).await?;
                s.write_all(line.as_bytes()).await?;
                (&mut s)
                    .take(MAX_ANSWER as u64)
                    .read_to_end(&mut buf)
                    .await?;
            }
            SocketAddr::Tcp(a) => {
                let mut s = tokio::net::TcpStream::connect(a.as_str()).await?;
                s.write_all(line.as_bytes()).await?;
                (&mut s)
                    .take(MAX_ANSWER as u64)
                    .read_to_end(&mut buf)
                    .await?;
            }
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Send a command whose success is an empty answer or one of `ok`.
    async fn action(&self, cmd: &str, ok: &[&str]) -> Result<String, HaproxyError> {
        let ans = self.command(cmd).await?;
        let t = ans.trim();
        if t.is_empty() || ok.iter().any(|o| t.starts_with(o)) {
            return Ok(t.to_string());
        }
        let message = t.to_string();
        let lower = message.to_ascii_lowercase();
        if lower.contains("no such")
            || lower.contains("unknown backend")
            || lower.contains("not found")
        {
            Err(HaproxyError::NotFound {
                command: cmd.to_string(),
                message,
            })
        } else {
            Err(HaproxyError::Refused {
                command: cmd.to_string(),
                message,
            })
        }
    }

    /// Every row of `show stat` (frontends, backends, servers).
    ///
    /// # Errors
    /// Socket errors; [`HaproxyError::Parse`] for an unexpected field set.
    pub async fn show_stat(&self) -> Result<Vec<StatRow>, HaproxyError> {
        let ans = self.command("show stat").await?;
        parse::parse_show_stat(&ans)
    }

    /// The server rows of one backend (errors with NotFound if the backend has no rows).
    ///
    /// # Errors
    /// As [`Self::show_stat`], plus [`HaproxyError::NotFound`] for an unknown backend.
    pub async fn backend_rows(&self, backend: &str) -> Result<Vec<StatRow>, HaproxyError> {
        check_name("backend", backend)?;
        let rows = self.show_stat().await?;
        let mut found = false;
        let mut out = Vec::new();
        for r in rows {
            if r.pxname == backend {
                found = true;
                if r.is_server() {
                    out.push(r);
                }
            }
        }
        if !found {
            return Err(HaproxyError::NotFound {
                command: "show stat".into(),
                message: format!("no backend {backend:?} in show stat"),
            });
        }
        Ok(out)
    }

    /// `set weight BACKEND/SERVER W` (0–256).
    ///
    /// # Errors
    /// Invalid names or a weight above 256; what HAProxy refuses.
    pub async fn set_weight(
        &self,
        backend: &str,
        server: &str,
        weight: u16,
    ) -> Result<(), HaproxyError> {
        let id = server_id(backend, server)?;
        if weight > 256 {
            return Err(HaproxyError::InvalidArgument {
                what: "weight",
                value: weight.to_string(),
                why: "haproxy weights are 0..=256",
            });
        }
        self.action(&format!("set weight {id} {weight}"), &[])
            .await
            .map(drop)
    }

    /// `set server BACKEND/SERVER state ready|drain|maint`.
    ///
    /// # Errors
    /// Invalid names; what HAProxy refuses.
    pub async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> Result<(), HaproxyError> {
        let id = server_id(backend, server)?;
        let s = match state {
            ServerAdminState::Ready => "ready",
            ServerAdminState::Drain => "drain",
            ServerAdminState::Maint => "maint",
        };
        self.action(&format!("set server {id} state {s}"), &[])
            .await
            .map(drop)
    }

    /// `add server BACKEND/SERVER ADDR [weight W] [check inter N]`, then
    /// `enable health` (if checking) and `set server ... state ready` (unless kept in maint).
    ///
    /// # Errors
    /// Invalid names or address; what HAProxy refuses (e.g. a name in use).
    pub async fn add_server(
        &self,
        backend: &str,
        server: &str,
        opts: &AddServer,
    ) -> Result<(), HaproxyError> {
        let id = server_id(backend, server)?;
        if opts.addr.parse::<std::net::SocketAddr>().is_err() {
            return Err(HaproxyError::InvalidArgument {
                what: "server address",
                value: opts.addr.clone(),
                why: "expected a numeric ip:port",
            });
        }
        if opts.weight > 256 {
            return Err(HaproxyError::InvalidArgument {
                what: "weight",
                value: opts.weight.to_string(),
                why: "haproxy weights are 0..=256",
            });
        }
        let start_down = opts.check && opts.start_down_inter_ms.is_some();
        // Starting down: weight 0 until it is DOWN, so not one request goes
        // to it on the way (leaving maintenance makes a server UP at once,
        // and `health down` does not stick while in maintenance).
        let weight = if start_down { 0 } else { opts.weight };
        let mut cmd = format!("add server {id} {} weight {weight}", opts.addr);
        if opts.check {
            cmd.push_str(" check");
            if let Some(i) = opts.check_inter_ms {
                cmd.push_str(&format!(" inter {i}"));
            }
            if let Some(d) = opts.start_down_inter_ms {
                cmd.push_str(&format!(" downinter {d}"));
            }
        }
        self.action(&cmd, &["New server registered"]).await?;
        if opts.check {
            self.action(&format!("enable health {id}"), &[]).await?;
        }
        if start_down {
            self.set_state(backend, server, ServerAdminState::Ready)
                .await?;
            self.action(&format!("set server {id} health down"), &[])
                .await?;
            self.set_weight(backend, server, opts.weight).await?;
        } else if !opts.keep_in_maint {
            self.set_state(backend, server, ServerAdminState::Ready)
                .await?;
        }
        Ok(())
    }

    /// `del server BACKEND/SERVER`; puts it in maintenance first (HAProxy requires it).
    ///
    /// # Errors
    /// Invalid names; what HAProxy refuses (e.g. sessions still attached).
    pub async fn del_server(&self, backend: &str, server: &str) -> Result<(), HaproxyError> {
        let id = server_id(backend, server)?;
        self.set_state(backend, server, ServerAdminState::Maint)
            .await?;
        self.action(&format!("del server {id}"), &["Server deleted"])
            .await
            .map(drop)
    }

    /// `show servers state [BACKEND]`.
    ///
    /// # Errors
    /// Socket errors, an unknown backend, or a malformed answer.
    pub async fn servers_state(
        &self,
        backend: Option<&str>,
    ) -> Result<Vec<ServerStateRow>, HaproxyError> {
        let cmd = match backend {
            Some(b) => {
                check_name("backend", b)?;
                format!("show servers state {b}")
            }
            None => "show servers state".to_string(),
        };
        let ans = self.command(&cmd).await?;
        if ans.trim_start().starts_with("Can't find backend") {
            return Err(HaproxyError::NotFound {
                command: cmd,
                message: ans.trim().to_string(),
            });
        }
        parse::parse_servers_state(&ans)
    }

    /// `show info`: pid and uptime, to notice reloads.
    ///
    /// # Errors
    /// Socket errors or a malformed answer.
    pub async fn info(&self) -> Result<ProcessInfo, HaproxyError> {
        let ans = self.command("show info").await?;
        parse::parse_show_info(&ans)
    }
}

fn check_name(what: &'static str, name: &str) -> Result<(), HaproxyError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(HaproxyError::InvalidArgument {
            what,
            value: name.to_string(),
            why: "expected 1-128 characters of [A-Za-z0-9-_.:]",
        })
    }
}

fn server_id(backend: &str, server: &str) -> Result<String, HaproxyError> {
    check_name("backend", backend)?;
    check_name("server", server)?;
    Ok(format!("{backend}/{server}"))
}

impl LoadBalancer for HaproxyClient {
    async fn servers(&self, backend: &str) -> Result<Vec<ServerStats>, SeamError> {
        let rows = self.backend_rows(backend).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(r.to_server_stats()?);
        }
        Ok(out)
    }

    async fn set_weight(&self, backend: &str, server: &str, weight: u16) -> Result<(), SeamError> {
        Ok(HaproxyClient::set_weight(self, backend, server, weight).await?)
    }

    async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> Result<(), SeamError> {
        Ok(HaproxyClient::set_state(self, backend, server, state).await?)
    }

    async fn add_server(&self, backend: &str, server: &str, addr: &str) -> Result<(), SeamError> {
        let opts = AddServer::new(addr).in_maint();
        Ok(HaproxyClient::add_server(self, backend, server, &opts).await?)
    }

    async fn remove_server(&self, backend: &str, server: &str) -> Result<(), SeamError> {
        Ok(HaproxyClient::del_server(self, backend, server).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addr_parsing() {
        assert_eq!(
            SocketAddr::parse("/run/h.sock"),
            SocketAddr::Unix("/run/h.sock".into())
        );
        assert_eq!(
            SocketAddr::parse("127.0.0.1:9999"),
            SocketAddr::Tcp("127.0.0.1:9999".into())
        );
        assert_eq!(
            SocketAddr::parse("tcp://localhost:1"),
            SocketAddr::Tcp("localhost:1".into())
        );
    }

    #[tokio::test]
    async fn injection_and_bad_names_are_refused_before_sending() {
        let c = HaproxyClient::new(SocketAddr::Unix("/nonexistent/x.sock".into()));
        assert!(matches!(
            c.set_weight("be", "s1\nshutdown", 1).await,
            Err(HaproxyError::InvalidArgument { .. })
        ));
        assert!(matches!(
            c.set_weight("be", "s1", 257).await,
            Err(HaproxyError::InvalidArgument { .. })
        ));
        assert!(matches!(
            c.command("show stat; shutdown sessions").await,
            Err(HaproxyError::InvalidArgument { .. })
        ));
        let e = c.show_stat().await.unwrap_err();
        assert!(matches!(e, HaproxyError::Io { .. }));
        let s: SeamError = e.into();
        assert!(s.is_retryable());
    }
}
