//! A throw-away HAProxy for tests and benches: a generated config in a temp
//! directory, an admin socket, killed on drop.
//!
//! Used by this crate's tests, the headroom e2e probe and the actuator's
//! tests, so that all of them start HAProxy the same way (and never leave one
//! running). It binds only 127.0.0.1.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{HaproxyClient, HaproxyError, SocketAddr};

/// The HAProxy binary used when `CREST_HAPROXY` is not set.
pub const DEFAULT_BINARY: &str = "/usr/sbin/haproxy";

/// The binary to run: `$CREST_HAPROXY` or [`DEFAULT_BINARY`], if it exists.
pub fn haproxy_binary() -> Option<PathBuf> {
    let p = std::env::var_os("CREST_HAPROXY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BINARY));
    p.exists().then_some(p)
}

/// One backend server of the generated config.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// Server name.
    pub name: String,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Configured weight.
    pub weight: u16,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct HaproxyConfig {
    /// Backend name.
    pub backend: String,
    /// Its servers.
    pub servers: Vec<ServerSpec>,
    /// Health-check interval (ms) for every server, if checking.
    pub check_inter_ms: Option<u32>,
    /// Server-side timeout in ms.
    pub timeout_server_ms: u32,
}

impl HaproxyConfig {
    /// The config text for a frontend on `frontend_port` and the admin socket at `sock`.
    pub fn render(&self, sock: &Path, frontend_port: u16) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "global\n    stats socket {} mode 600 level admin\n    maxconn 2000",
            sock.display()
        );
        let _ = writeln!(
            s,
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    timeout server {}ms\n    timeout queue 5s",
            self.timeout_server_ms
        );
        let _ = writeln!(
            s,
            "frontend fe\n    bind 127.0.0.1:{frontend_port}\n    default_backend {}",
            self.backend
        );
        let _ = writeln!(s, "backend {}\n    balance roundrobin", self.backend);
        for sv in &self.servers {
            let _ = write!(s, "    server {} {} weight {}", sv.name, sv.addr, sv.weight);
            if let Some(i) = self.check_inter_ms {
                let _ = write!(s, " check inter {i} fall 2 rise 2");
            }
            let _ = writeln!(s);
        }
        s
    }
}

/// A running HAProxy; killed (and its temp dir removed) on drop.
#[derive(Debug)]
pub struct HaproxyProcess {
    child: Child,
    dir: PathBuf,
    /// The admin socket.
    pub socket: PathBuf,
    /// The frontend port on 127.0.0.1.
    pub frontend_port: u16,
    /// The config file.
    pub config: PathBuf,
    binary: PathBuf,
}

impl HaproxyProcess {
    /// Write the config into a fresh directory under `parent` and start
    /// HAProxy in the foreground (`-db`); waits up to 5 s for the socket.
    ///
    /// # Errors
    /// [`HaproxyError::Io`] when the binary is missing, the config is refused
    /// or the socket does not appear.
    pub fn start(binary: &Path, parent: &Path, cfg: &HaproxyConfig) -> Result<Self, HaproxyError> {
        let io = |what: &str, source: std::io::Error| HaproxyError::Io {
            addr: parent.display().to_string(),
            command: what.to_string(),
            source,
        };
        let port = free_port().map_err(|e| io("pick a free port", e))?;
        let dir = parent.join(format!("haproxy-{port}"));
        std::fs::create_dir_all(&dir).map_err(|e| io("create the temp dir", e))?;
        let socket = dir.join("admin.sock");
        let config = dir.join("haproxy.cfg");
        let mut f = std::fs::File::create(&config).map_err(|e| io("write the config", e))?;
        f.write_all(cfg.render(&socket, port).as_bytes())
            .map_err(|e| io("write the config", e))?;
        let child = spawn(binary, &config, &dir).map_err(|e| io("spawn haproxy", e))?;
        let mut p = HaproxyProcess {
            child,
            dir,
            socket,
            frontend_port: port,
            config,
            binary: binary.to_path_buf(),
        };
        p.wait_ready()?;
        Ok(p)
    }

    fn wait_ready(&mut self) -> Result<(), HaproxyError> {
        for _ in 0..100 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(HaproxyError::Io {
                    addr: self.socket.display().to_string(),
                    command: "start haproxy".into(),
                    source: std::io::Error::other(format!(
                        "haproxy exited with {st}: {}",
                        std::fs::read_to_string(self.dir.join("haproxy.log"))
                            .unwrap_or_default()
                            .trim()
                    )),
                });
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(HaproxyError::Io {
            addr: self.socket.display().to_string(),
            command: "start haproxy".into(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "admin socket did not appear in 5 s",
            ),
        })
    }

    /// A client of the admin socket.
    pub fn client(&self) -> HaproxyClient {
        HaproxyClient::new(SocketAddr::Unix(self.socket.clone()))
    }

    /// The frontend URL, `http://127.0.0.1:PORT`.
    pub fn frontend_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.frontend_port)
    }

    /// The process id of the running HAProxy.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Restart HAProxy from its config, as a reload does: every runtime change
    /// (weights, states) is lost. The old process is stopped first.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub fn restart(&mut self) -> Result<(), HaproxyError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        self.child =
            spawn(&self.binary, &self.config, &self.dir).map_err(|source| HaproxyError::Io {
                addr: self.socket.display().to_string(),
                command: "restart haproxy".into(),
                source,
            })?;
        self.wait_ready()
    }
}

impl Drop for HaproxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(binary: &Path, config: &Path, dir: &Path) -> std::io::Result<Child> {
    let log = std::fs::File::create(dir.join("haproxy.log"))?;
    Command::new(binary)
        .arg("-db")
        .arg("-f")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
