//! # crest-server
//!
//! `crest serve`: the alert webhooks and the plan/decision API. Monitoring
//! (Prometheus Alertmanager, Grafana) posts alerts here; each new alert state
//! change becomes a recorded scaling decision for the autoscaler to follow.
//! The server itself never touches a fleet: deciding is separate from doing
//! (STYLE.md §7), and recorded alerts can be replayed in the simulator.
//!
//! ```text
//!  Alertmanager / Grafana ──POST──► api (auth, body limit, JSON errors)
//!     ──► payload::parse ──► engine::map_alert (labels → app, step rule)
//!     ──► store writer thread: dedup, AlertLedger::apply, group commit (fsync)
//!     ──► 2xx with the decisions (only once they are on disk)
//!  GET /v1/decisions, /v1/plans, /healthz, /metrics ──► read-only connection
//! ```
//!
//! Start reading at [`run`], then [`api`] (routes), [`store`] (durability and
//! group commit) and [`engine`] (what a decision is). Tested as mini-redis
//! is: [`run`] on a listener bound to `127.0.0.1:0`, real HTTP, real SQLite.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

use std::future::Future;
use std::sync::Arc;

use crest_core::{Clock, WallClock};
use tokio::net::TcpListener;

pub mod api;
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

/// Bind `config.listen`, say where on stderr, and [`run`] until SIGINT or SIGTERM.
///
/// What `crest serve` and the `crest-serve-bench` binary do. The line
/// `crest serve: listening on http://ADDR` lets scripts find a port chosen
/// with `127.0.0.1:0`.
///
/// # Errors
/// [`ServerError::Io`] when the address cannot be bound; as [`run`].
pub async fn serve_until_signal(config: ServerConfig) -> Result<(), ServerError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("listen on {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "read the bound address".into(),
        source,
    })?;
    eprintln!(
        "crest serve: listening on http://{addr} (state: {})",
        config.db_path.display()
    );
    run(listener, config, shutdown_signal()).await?;
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
    };
    let app = api::router(state);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        // Small request/response pairs: never wait for Nagle.
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Io {
            what: "serve HTTP".into(),
            source,
        });
    // Every Store clone lived in the router, which `serve` has dropped: the
    // writer drains its queue, commits, and stops.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    served
}
