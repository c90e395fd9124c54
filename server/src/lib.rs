//! # crest-server
//!
//! `crest serve`: the alert webhooks and the plan/decision API. Monitoring
//! (Prometheus Alertmanager, Grafana) posts alerts here; each new alert state
//! change becomes a recorded scaling decision for the autoscaler to follow.
//! The server itself never touches a fleet: deciding is separate from doing
//! (STYLE.md §7), and recorded alerts can be replayed in the simulator.
//!
//! ```text
//!  TCP ──► hyper (header/idle timeout, connection cap) ──► tower (request timeout)
//!  Alertmanager / Grafana ──POST──► api (auth, body limit, JSON errors)
//!     ──► payload::parse ──► engine::map_alert (labels → app, step rule)
//!     ──► store writer thread: dedup, AlertLedger::apply, group commit (fsync)
//!     ──► 2xx with the decisions (only once they are on disk)
//!  GET /v1/decisions, /v1/plans (token), /healthz, /metrics ──► read-only connection
//!  GET /v1/apps, /v1/apps/{app}/history ──► the controller's tables (apps.rs), read-only
//!  POST /v1/apps/{app}/pause (token) ──► the pause flag the controller reads
//! ```
//!
//! The controller (`crest-controller`, run beside the server by `crest
//! serve` when the config has `[[app]]` sections) acts on these decisions;
//! [`Opened::decisions_signal`] wakes it the moment new ones are durable.
//!
//! Start reading at [`run`], then [`api`] (routes), [`store`] (durability and
//! group commit) and [`engine`] (what a decision is). Tested as mini-redis
//! is: [`run`] on a listener bound to `127.0.0.1:0`, real HTTP, real SQLite.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crest_core::{Clock, WallClock};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub mod api;
pub mod apps;
pub mod client;
pub mod config;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod payload;
pub mod store;

pub use config::ServerConfig;
pub use error::ServerError;

/// Serve on `listener` until `shutdown` resolves, with the wall clock.
///
/// Opens (or creates) the state database at `config.db_path`; `config.listen`
/// is not used (the caller bound `listener`). On shutdown, in-flight requests
/// finish and the writer commits its last batch before this returns.
///
/// # Errors
/// [`ServerError::OpenDb`] when the database cannot be opened,
/// [`ServerError::Io`] when serving fails.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run_with_clock(listener, config, WallClock, shutdown).await
}

/// Open and migrate the database, then bind `config.listen`, say where on
/// stderr, and serve until SIGINT or SIGTERM.
///
/// What `crest serve` and the `crest-serve-bench` binary do. The line
/// `crest serve: listening on http://ADDR` lets scripts find a port chosen
/// with `127.0.0.1:0`; it is printed only once the database is open, so a
/// bad database is an exit with an error, never a "listening" first.
///
/// # Errors
/// [`ServerError::OpenDb`] when the database cannot be opened or migrated,
/// [`ServerError::Io`] when the address cannot be bound; as [`run`].
pub async fn serve_until_signal(config: ServerConfig) -> Result<(), ServerError> {
    let opened = Opened::open(config, WallClock)?;
    let listen = opened.config.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("listen on {listen}"),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "read the bound address".into(),
        source,
    })?;
    eprintln!(
        "crest serve: listening on http://{addr} (state: {})",
        opened.config.db_path.display()
    );
    opened.serve(listener, shutdown_signal()).await?;
    eprintln!("crest serve: stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// [`run`] with a chosen clock (decision timestamps come from it).
///
/// # Errors
/// As [`run`].
pub async fn run_with_clock<C: Clock + 'static>(
    listener: TcpListener,
    config: ServerConfig,
    clock: C,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Opened::open(config, clock)?.serve(listener, shutdown).await
}

/// A server whose database is open and migrated and whose writer runs, not
/// yet serving: what [`serve_until_signal`] has before it binds.
pub struct Opened {
    config: Arc<ServerConfig>,
    state: api::AppState,
    writer: store::WriterHandle,
}

impl Opened {
    /// Open (creating and migrating if needed) the state database and start
    /// the writer; decision timestamps come from `clock`.
    ///
    /// # Errors
    /// [`ServerError::OpenDb`] when the database cannot be opened or migrated.
    pub fn open<C: Clock + 'static>(config: ServerConfig, clock: C) -> Result<Opened, ServerError> {
        let config = Arc::new(config);
        let metrics = Arc::new(metrics::Metrics::new());
        let (store, writer) = store::Store::open(
            &config.db_path,
            config.max_batch,
            clock,
            Arc::clone(&metrics),
        )?;
        let state = api::AppState {
            store,
            config: Arc::clone(&config),
            metrics,
            decided: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        Ok(Opened {
            config,
            state,
            writer,
        })
    }

    /// A receiver that changes each time alerts make new decisions (after
    /// they are durable): the controller's reconcile loops wait on it, so an
    /// alert acts at once instead of at the next evaluation period.
    pub fn decisions_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.state.decided.subscribe()
    }

    /// The server's metrics (the controller adds its per-app series to them).
    pub fn metrics(&self) -> Arc<metrics::Metrics> {
        Arc::clone(&self.state.metrics)
    }

    /// The validated config.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Serve on `listener` until `shutdown` resolves.
    ///
    /// Each connection is served by hyper with a header read timeout
    /// (`header_timeout_ms`: a client trickling its headers, or one silent
    /// after connecting or between keep-alive requests, is cut off) and the
    /// router's request timeout (`request_timeout_ms`, 408: a trickled body).
    /// At most `max_connections` are open at once: the next one is accepted
    /// when one closes (the kernel's backlog holds the rest). On shutdown the
    /// listener closes, idle connections close at once, in-flight requests
    /// finish, and the writer commits its last batch.
    ///
    /// # Errors
    /// [`ServerError::Io`] when serving fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Opened {
            config,
            state,
            writer,
        } = self;
        let app = api::router(state);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_millis(config.header_timeout_ms));
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let shutdown = shutdown;
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                s = Arc::clone(&slots).acquire_owned() => match s {
                    Ok(s) => s,
                    Err(_) => break, // never closed
                },
                () = &mut shutdown => break,
            };
            let tcp = tokio::select! {
                r = listener.accept() => match r {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors and the like: transient, as in axum::serve.
                        eprintln!("crest serve: accept failed: {e}");
                        accept_backoff().await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Small request/response pairs: never wait for Nagle.
            let _ = tcp.set_nodelay(true);
            let svc = hyper_util::service::TowerToHyperService::new(app.clone());
            let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), svc));
            tokio::spawn(async move {
                // A client that hung up or timed out is no error of the server's.
                let _ = conn.await;
                drop(slot);
            });
        }
        drop(listener);
        drop(app);
        graceful.shutdown().await;
        // Every Store clone lived in the router and the connections, all gone:
        // the writer drains its queue, commits, and stops.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        Ok(())
    }
}

/// Pause after a failed `accept` (e.g. EMFILE) before trying again.
#[allow(clippy::disallowed_methods)] // network back-off, not decision time
async fn accept_backoff() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}
