//! The HTTP side of the scheduler API: one long-lived SUBSCRIBE connection
//! carrying the RecordIO event stream, and calls on other connections.
//!
//! The protocol demands that calls travel on a different connection from the
//! subscription, each carrying the `Mesos-Stream-Id` the SUBSCRIBE answer gave.
//! Calls reuse a small pool of keep-alive connections to the leader. A `307`
//! (non-leading master) moves the client to the `Location` the master names —
//! Mesos sends a protocol-relative `//host:port/api/v1/scheduler`, the docs show
//! a bare `host:port`; both are understood (a protocol-relative location keeps
//! the scheme in use). Built on hyper 1's connection API so nothing heavier
//! enters the build.
//!
//! - **TLS**: `https://` masters are reached through rustls (ring provider,
//!   the one already in the workspace's lock file), trusting the PEM bundle
//!   given as `ca_file`, or the system's roots when none is given.
//! - **Authentication**: with [`Credentials`] every request carries HTTP basic
//!   authentication (`--authenticate_http_frameworks` on the master). The
//!   secret is never formatted: `Debug` prints `<redacted>` and errors carry
//!   only the principal. A `401` is [`ActuatorError::Unauthorized`], which the
//!   driver treats as final (retrying with the same credentials cannot help).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::proto::{Call, CallType, Event, SchedulerEvent};
use super::recordio::RecordIoDecoder;
use crate::error::ActuatorError;

/// The scheduler endpoint on every master.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";
/// Header carrying the subscription's stream id.
pub const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: u32 = 5;
/// Idle call connections kept.
const POOL_SIZE: usize = 8;

/// HTTP basic authentication for the scheduler endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The principal (also sent as `FrameworkInfo.principal`).
    pub principal: String,
    /// The secret (never printed).
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    fn header(&self) -> String {
        let raw = format!("{}:{}", self.principal, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// How to reach the masters beyond their URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Basic authentication on every request.
    pub credentials: Option<Credentials>,
    /// PEM bundle of the CAs to trust for `https://` masters (none: the
    /// system's roots).
    pub ca_file: Option<PathBuf>,
}

/// Client for one Mesos cluster, following the leading master.
pub struct MasterClient {
    /// Known masters (`host:port`), tried in turn when the leader is unreachable.
    masters: Vec<String>,
    leader: Mutex<String>,
    pool: Mutex<Vec<(String, SendRequest<Full<Bytes>>)>>,
    max_record: u64,
    tls: Option<TlsConnector>,
    auth: Option<String>,
}

impl std::fmt::Debug for MasterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The authorization header holds the secret: never printed.
        f.debug_struct("MasterClient")
            .field("masters", &self.masters)
            .field("leader", &self.leader())
            .field("tls", &self.tls.is_some())
            .field("authenticated", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

/// Whether a master URL asks for TLS (`https://`).
pub fn is_https(url: &str) -> bool {
    url.trim().to_ascii_lowercase().starts_with("https://")
}

/// `host:port` from a master URL (`http://host:port[/...]`,
/// `https://host:port[/...]`, `//host:port/...` as Mesos sends in
/// `Location`, or the docs' bare `host:port`).
///
/// # Errors
/// [`ActuatorError::BadUrl`] for another scheme or an empty authority.
pub fn authority_of(url: &str) -> Result<String, ActuatorError> {
    let bad = |reason| ActuatorError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else if let Some(r) = url.strip_prefix("//") {
        r
    } else if url.contains("://") {
        return Err(bad("only http:// and https:// urls are supported"));
    } else {
        url
    };
    let auth = rest.split('/').next().unwrap_or("");
    if auth.is_empty() {
        return Err(bad("no host:port"));
    }
    Ok(auth.to_owned())
}

fn header_str<'a>(resp: &'a Response<Incoming>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn call_name(kind: CallType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// The rustls client config: the CAs of `ca_file`, or the system's roots.
///
/// # Errors
/// [`ActuatorError::Io`] when the file cannot be read, [`ActuatorError::Tls`]
/// when it holds no usable certificate (or no system root is found).
pub fn tls_config(ca_file: Option<&Path>) -> Result<ClientConfig, ActuatorError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ActuatorError::Io {
                what: "read the mesos CA bundle",
                path: path.to_owned(),
                source,
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| ActuatorError::Tls {
                    detail: format!("{}: {e}", path.display()),
                })?;
                roots.add(cert).map_err(|e| ActuatorError::Tls {
                    detail: format!("{}: {e}", path.display()),
                })?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(ActuatorError::Tls {
            detail: match ca_file {
                Some(p) => format!("{}: no PEM certificate in it", p.display()),
                None => "no system root certificate found (set mesos.ca_file)".into(),
            },
        });
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ActuatorError::Tls {
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

async fn connect(
    addr: &str,
    tls: Option<&TlsConnector>,
) -> Result<(SendRequest<Full<Bytes>>, JoinHandle<()>), ActuatorError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ActuatorError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
    // Small calls, latency matters more than packet count.
    let _ = stream.set_nodelay(true);
    match tls {
        None => handshake(stream, addr).await,
        Some(tls) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name =
                ServerName::try_from(host.to_owned()).map_err(|_| ActuatorError::BadUrl {
                    url: addr.to_owned(),
                    reason: "not a valid TLS server name",
                })?;
            let stream =
                tls.connect(name, stream)
                    .await
                    .map_err(|source| ActuatorError::Connect {
                        addr: format!("{addr} (TLS handshake)"),
                        source,
                    })?;
            handshake(stream, addr).await
        }
    }
}

/// HTTP/1 over a connected stream (plain or TLS); the connection runs in
/// its own task.
async fn handshake<S>(
    stream: S,
    addr: &str,
) -> Result<(SendRequest<Full<Bytes>>, JoinHandle<()>), ActuatorError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| ActuatorError::Http {
            what: "handshake",
            addr: addr.to_owned(),
            source,
        })?;
    let task = tokio::spawn(async move {
        // Ends when both sides are done; errors show up on the request side.
        let _ = conn.await;
    });
    Ok((sender, task))
}

fn request(
    addr: &str,
    stream_id: Option<&str>,
    auth: Option<&str>,
    body: Vec<u8>,
) -> Result<Request<Full<Bytes>>, ActuatorError> {
    let mut b = Request::post(SCHEDULER_PATH)
        .header(header::HOST, addr)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json");
    if let Some(id) = stream_id {
        b = b.header(STREAM_ID_HEADER, id);
    }
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Full::new(Bytes::from(body)))
        .map_err(|_| ActuatorError::BadUrl {
            url: addr.to_owned(),
            reason: "not a valid http authority or stream id",
        })
}

async fn body_text(resp: Response<Incoming>) -> String {
    match resp.into_body().collect().await {
        Ok(b) => {
            let bytes = b.to_bytes();
            String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned()
        }
        Err(e) => format!("<body unreadable: {e}>"),
    }
}

impl MasterClient {
    /// A client for `masters`: one URL (`http://host:port`) or several
    /// separated by commas; the first is tried first, a `307` leads to the
    /// leader, and [`MasterClient::rotate`] moves on when one is unreachable.
    ///
    /// # Errors
    /// [`ActuatorError::BadUrl`] when a URL is not http(s), or none is given.
    pub fn new(masters: &str) -> Result<Self, ActuatorError> {
        Self::with_options(masters, &ClientOptions::default())
    }

    /// A client with credentials and TLS settings. All masters must use the
    /// same scheme (`https://` for TLS).
    ///
    /// # Errors
    /// [`ActuatorError::BadUrl`] for bad or mixed-scheme URLs, TLS setup errors.
    pub fn with_options(masters: &str, opts: &ClientOptions) -> Result<Self, ActuatorError> {
        let entries: Vec<&str> = masters
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .collect();
        let https = entries.iter().filter(|m| is_https(m)).count();
        if https != 0 && https != entries.len() {
            return Err(ActuatorError::BadUrl {
                url: masters.to_owned(),
                reason: "masters mix http:// and https://",
            });
        }
        let tls = if https > 0 {
            Some(TlsConnector::from(Arc::new(tls_config(
                opts.ca_file.as_deref(),
            )?)))
        } else {
            None
        };
        let list = masters
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(authority_of)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = list.first().cloned() else {
            return Err(ActuatorError::BadUrl {
                url: masters.to_owned(),
                reason: "no master given",
            });
        };
        Ok(MasterClient {
            masters: list,
            leader: Mutex::new(first),
            pool: Mutex::new(Vec::new()),
            max_record: super::recordio::DEFAULT_MAX_RECORD_BYTES,
            tls,
            auth: opts.credentials.as_ref().map(Credentials::header),
        })
    }

    fn unauthorized(&self, call: String, addr: String) -> ActuatorError {
        ActuatorError::Unauthorized {
            call,
            addr,
            sent_credentials: self.auth.is_some(),
        }
    }

    /// The master currently believed to lead (`host:port`).
    pub fn leader(&self) -> String {
        self.leader.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Try the next known master (after the current one failed to answer).
    pub fn rotate(&self) {
        if self.masters.len() < 2 {
            return;
        }
        if let Ok(mut l) = self.leader.lock() {
            let next = self
                .masters
                .iter()
                .position(|m| m == &*l)
                .map_or(0, |i| (i + 1) % self.masters.len());
            l.clone_from(&self.masters[next]);
        }
        if let Ok(mut p) = self.pool.lock() {
            p.clear();
        }
    }

    fn follow(&self, location: &str) -> Result<String, ActuatorError> {
        let auth = authority_of(location)?;
        if let Ok(mut l) = self.leader.lock() {
            l.clone_from(&auth);
        }
        if let Ok(mut p) = self.pool.lock() {
            p.clear();
        }
        Ok(auth)
    }

    /// SUBSCRIBE on a fresh connection, following redirects to the leader.
    ///
    /// # Errors
    /// Connection failures, non-200 answers, a missing stream id.
    pub async fn subscribe(&self, call: &Call) -> Result<Subscription, ActuatorError> {
        let body = serde_json::to_vec(call).map_err(|e| ActuatorError::BadEvent {
            addr: String::new(),
            detail: e.to_string(),
        })?;
        let mut addr = self.leader();
        for _ in 0..=MAX_REDIRECTS {
            let (mut sender, conn) = connect(&addr, self.tls.as_ref()).await?;
            // SUBSCRIBE never carries a stream id.
            let req = request(&addr, None, self.auth.as_deref(), body.clone())?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|source| ActuatorError::Http {
                    what: "subscribe",
                    addr: addr.clone(),
                    source,
                })?;
            let status = resp.status().as_u16();
            if status == 307 {
                let location = header_str(&resp, "location").unwrap_or("").to_owned();
                conn.abort();
                addr = self.follow(&location)?;
                continue;
            }
            if status == 401 {
                conn.abort();
                return Err(self.unauthorized("SUBSCRIBE".into(), addr));
            }
            if status != 200 {
                let body = body_text(resp).await;
                conn.abort();
                return Err(ActuatorError::Status {
                    call: "SUBSCRIBE".into(),
                    addr,
                    status,
                    body,
                });
            }
            let Some(stream_id) = header_str(&resp, STREAM_ID_HEADER).map(str::to_owned) else {
                conn.abort();
                return Err(ActuatorError::NoStreamId { addr });
            };
            return Ok(Subscription {
                stream_id,
                addr,
                body: resp.into_body(),
                decoder: RecordIoDecoder::new(self.max_record),
                conn,
                _sender: sender,
            });
        }
        Err(ActuatorError::TooManyRedirects {
            max: MAX_REDIRECTS,
            last: addr,
        })
    }

    /// Send a non-SUBSCRIBE call with the subscription's stream id.
    ///
    /// Returns the HTTP status (202, or 200 for calls answered at once).
    ///
    /// # Errors
    /// [`ActuatorError::Redirected`] when the master is no longer the leader (the
    /// client now points at the new one; the subscription must move too),
    /// [`ActuatorError::Status`] for other non-2xx answers (403: not subscribed).
    pub async fn call(&self, stream_id: &str, call: &Call) -> Result<u16, ActuatorError> {
        let name = call_name(call.kind);
        let body = serde_json::to_vec(call).map_err(|e| ActuatorError::BadEvent {
            addr: String::new(),
            detail: e.to_string(),
        })?;
        let addr = self.leader();
        let mut sender = self.pooled(&addr).await?;
        let req = request(&addr, Some(stream_id), self.auth.as_deref(), body)?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|source| ActuatorError::Http {
                what: "send a call",
                addr: addr.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        let location = header_str(&resp, "location").map(str::to_owned);
        let text = body_text(resp).await;
        if let Ok(mut p) = self.pool.lock()
            && p.len() < POOL_SIZE
        {
            p.push((addr.clone(), sender));
        }
        match status {
            200 | 202 => Ok(status),
            307 => {
                let location = location.unwrap_or_default();
                self.follow(&location)?;
                Err(ActuatorError::Redirected {
                    call: name,
                    addr,
                    location,
                })
            }
            401 => Err(self.unauthorized(name, addr)),
            _ => Err(ActuatorError::Status {
                call: name,
                addr,
                status,
                body: text,
            }),
        }
    }

    async fn pooled(&self, addr: &str) -> Result<SendRequest<Full<Bytes>>, ActuatorError> {
        loop {
            let next = self.pool.lock().ok().and_then(|mut p| p.pop());
            let Some((a, mut s)) = next else { break };
            if a != addr || s.is_closed() {
                continue;
            }
            if s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        // The connection task ends on its own once the sender is dropped.
        let (s, _task) = connect(addr, self.tls.as_ref()).await?;
        Ok(s)
    }
}

/// An open SUBSCRIBE response: the event stream.
#[derive(Debug)]
pub struct Subscription {
    /// The `Mesos-Stream-Id` to put on every call of this subscription.
    pub stream_id: String,
    addr: String,
    body: Incoming,
    decoder: RecordIoDecoder,
    conn: JoinHandle<()>,
    _sender: SendRequest<Full<Bytes>>,
}

impl Subscription {
    /// The master this subscription is with.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The next event. Cancel-safe: bytes already read stay in the decoder.
    ///
    /// # Errors
    /// [`ActuatorError::StreamClosed`] at the end of the stream, a typed
    /// RecordIO or JSON error for a malformed stream.
    pub async fn next_event(&mut self) -> Result<SchedulerEvent, ActuatorError> {
        loop {
            let record = self
                .decoder
                .next_record()
                .map_err(|source| ActuatorError::RecordIo {
                    addr: self.addr.clone(),
                    source,
                })?;
            if let Some(rec) = record {
                let ev: Event =
                    serde_json::from_slice(&rec).map_err(|e| ActuatorError::BadEvent {
                        addr: self.addr.clone(),
                        detail: e.to_string(),
                    })?;
                return ev.into_checked().map_err(|field| ActuatorError::BadEvent {
                    addr: self.addr.clone(),
                    detail: format!("event lacks the `{field}` field its type names"),
                });
            }
            match self.body.frame().await {
                None => {
                    self.decoder
                        .finish()
                        .map_err(|source| ActuatorError::RecordIo {
                            addr: self.addr.clone(),
                            source,
                        })?;
                    return Err(ActuatorError::StreamClosed {
                        addr: self.addr.clone(),
                    });
                }
                Some(Err(source)) => {
                    return Err(ActuatorError::Http {
                        what: "read the event stream",
                        addr: self.addr.clone(),
                        source,
                    });
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.decoder.push(data);
                    }
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Close the subscription connection for sure: the master treats the
        // open connection as "scheduler connected".
        self.conn.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            authority_of("http://127.0.0.1:5050").unwrap(),
            "127.0.0.1:5050"
        );
        assert_eq!(
            authority_of("http://m:5050/api/v1/scheduler").unwrap(),
            "m:5050"
        );
        assert_eq!(
            authority_of("//m2:5050/api/v1/scheduler").unwrap(),
            "m2:5050"
        );
        assert_eq!(
            authority_of("masterhost2:5050").unwrap(),
            "masterhost2:5050"
        );
        assert_eq!(authority_of("https://m:5050/").unwrap(), "m:5050");
        assert!(authority_of("ftp://m:5050").is_err());
        assert!(authority_of("http://").is_err());
    }

    #[test]
    fn rotates_through_known_masters() {
        let c = MasterClient::new("http://a:5050, http://b:5050,").unwrap();
        assert_eq!(c.leader(), "a:5050");
        c.rotate();
        assert_eq!(c.leader(), "b:5050");
        c.rotate();
        assert_eq!(c.leader(), "a:5050");
        c.follow("//elsewhere:5050/api/v1/scheduler").unwrap();
        c.rotate();
        assert_eq!(c.leader(), "a:5050");
        assert!(MasterClient::new(" , ").is_err());
        assert!(MasterClient::new("http://a:5050,https://b:5050").is_err());
        let creds = Credentials {
            principal: "crest".into(),
            secret: "hunter2".into(),
        };
        assert_eq!(creds.header(), "Basic Y3Jlc3Q6aHVudGVyMg==");
        let c = MasterClient::with_options(
            "http://a:5050",
            &ClientOptions {
                credentials: Some(creds.clone()),
                ca_file: None,
            },
        )
        .unwrap();
        for text in [format!("{c:?}"), format!("{creds:?}")] {
            assert!(
                !text.contains("hunter2") && !text.contains("Y3Jlc3Q6"),
                "{text}"
            );
        }
    }
}
