//! `crest serve` with `[[app]]` sections: the server and the controller in
//! one process, over one database.
//!
//! The server records alerts and answers the API; it bumps a watch channel
//! after each batch of new decisions, which wakes every app's loop at once.
//! The controller writes its per-app state to the same database, which the
//! server's `/v1/apps` routes read. On SIGINT/SIGTERM the server drains, then
//! the loops stop (an actuation in progress completes first) and release
//! their leases, so a standby takes over at once.

use std::sync::Arc;

use crest_actuator::config::{ScaleConfig, dry_fleet, real_fleet};
use crest_actuator::dryrun::Sink;
use crest_actuator::fleet::NoLoadBalancer;
use crest_actuator::lb::HaproxyLb;
use crest_core::WallClock;
use crest_server::{Opened, ServerConfig, ServerError};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crest_autoscaler::{TargetMetric, TargetTrackingConfig};
use crest_prometheus::{Auth, Client, ClientConfig, PrometheusMetrics};

use crate::{AppSpec, Controller, ControllerConfig, ControllerError, MetricsSpec};

/// How to run the controller beside the server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Print what would be done; touch no fleet, take no lease, write no controller state.
    pub dry_run: bool,
    /// This instance's name in leases and history.
    pub holder: String,
}

fn server_err(e: ServerError) -> ControllerError {
    ControllerError::Server(e.to_string())
}

/// Serve `server` until SIGINT/SIGTERM with the controller's apps running beside it.
///
/// # Errors
/// [`ControllerError::Server`] when the database or the address fails,
/// [`ControllerError::Config`] when the actuator cannot be built.
pub async fn serve(
    server: ServerConfig,
    controller: ControllerConfig,
    opts: ServeOptions,
) -> Result<(), ControllerError> {
    let opened = Opened::open(server, WallClock).map_err(server_err)?;
    let listen = opened.config().listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| ControllerError::Server(format!("listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ControllerError::Server(format!("read the bound address: {e}")))?;
    let wake = opened.decisions_signal();
    let telemetry = opened.metrics();
    let db = opened.config().db_path.clone();
    let mapping = opened.config().mapping.clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let apps = controller.apps;
    let actuator = controller.actuator;
    let metrics = match &controller.metrics {
        Some(m) => Some(prometheus_source(m, &apps)?),
        None => None,
    };
    let task = if apps.is_empty() {
        None
    } else if opts.dry_run {
        let cfg = actuator.unwrap_or_default();
        let sink = Sink::default();
        let fleet = dry_fleet(&cfg, &sink).map_err(actuator_err)?;
        let ctl = track(
            Controller::new(
                fleet,
                None::<NoLoadBalancer>,
                metrics,
                &db,
                mapping,
                opts.holder.clone(),
            ),
            &apps,
        )
        .dry_run(true)
        .with_telemetry(telemetry)
        .with_log(move |l| {
            // The printing backends' steps, then the controller's line.
            for s in sink.take() {
                println!("would:   {s}");
            }
            println!("{l}");
        });
        Some(spawn(ctl, apps, wake, stop_rx))
    } else {
        let mut cfg = real_config(actuator)?;
        // The loop reads readiness from the balancer every tick; a scale that
        // waited for health checks would hold the next alert's decision back.
        cfg.fleet.health_wait_ms = 0;
        let journal = cfg.journal.clone().ok_or_else(|| ControllerError::Config {
            file: "[actuator]".into(),
            message: "journal: expected the path of the actuator's journal".into(),
        })?;
        let fleet = real_fleet(&cfg, &journal).await.map_err(actuator_err)?;
        let lb = cfg.haproxy.as_ref().map(HaproxyLb::new);
        let ctl = track(
            Controller::new(fleet, lb, metrics, &db, mapping, opts.holder.clone()),
            &apps,
        )
        .with_telemetry(telemetry);
        Some(spawn(ctl, apps, wake, stop_rx))
    };
    eprintln!(
        "crest serve: listening on http://{addr} (state: {}; controller {})",
        db.display(),
        if task.is_some() {
            opts.holder.as_str()
        } else {
            "off: no [[app]]"
        }
    );
    let served = opened
        .serve(listener, crest_server::shutdown_signal())
        .await;
    let _ = stop_tx.send(true);
    if let Some(t) = task {
        match t.await {
            Ok(r) => r?,
            Err(e) => return Err(ControllerError::Server(format!("controller task: {e}"))),
        }
    }
    served.map_err(server_err)?;
    eprintln!("crest serve: stopped");
    Ok(())
}

fn actuator_err(e: crest_actuator::ActuatorError) -> ControllerError {
    ControllerError::Config {
        file: "[actuator]".into(),
        message: e.to_string(),
    }
}

fn real_config(actuator: Option<ScaleConfig>) -> Result<ScaleConfig, ControllerError> {
    let cfg = actuator.ok_or_else(|| ControllerError::Config {
        file: "(config)".into(),
        message:
            "[[app]] sections need an [actuator] section (the `crest scale` config), or --dry-run"
                .into(),
    })?;
    if cfg.containerd.is_none() {
        return Err(ControllerError::Config {
            file: "[actuator]".into(),
            message: "expected an [actuator.containerd] section: the controller drives containerd fleets ([mesos] is `crest scale`/`crest run` only)".into(),
        });
    }
    Ok(cfg)
}

/// The `[metrics]` source: Prometheus instant queries, per app its own
/// `queries` or the defaults.
fn prometheus_source(
    m: &MetricsSpec,
    apps: &[AppSpec],
) -> Result<PrometheusMetrics, ControllerError> {
    let bad = |message: String| ControllerError::Config {
        file: "[metrics]".into(),
        message,
    };
    let mut cfg = ClientConfig::new(m.prometheus.clone());
    if let Some(f) = &m.bearer_token_file {
        let token = std::fs::read_to_string(f)
            .map_err(|e| bad(format!("bearer_token_file {}: {e}", f.display())))?;
        cfg.auth = Auth::Bearer(token.trim().to_string());
    }
    let client = Client::new(&cfg).map_err(|e| bad(e.to_string()))?;
    let queries = apps
        .iter()
        .filter_map(|a| a.queries.clone().map(|q| (a.app.as_str().to_string(), q)))
        .collect();
    Ok(PrometheusMetrics::new(
        client,
        queries,
        Some(crest_prometheus::AppQueries::defaults()),
    )
    .with_max_age(std::time::Duration::from_secs_f64(m.max_age_s)))
}

/// Target tracking on demand per ready instance for the apps that ask for it.
fn track<A, L>(
    mut ctl: Controller<A, L, PrometheusMetrics>,
    apps: &[AppSpec],
) -> Controller<A, L, PrometheusMetrics>
where
    A: crest_core::seams::Actuator + Clone + 'static,
    L: crest_core::seams::LoadBalancer + 'static,
{
    for a in apps {
        if let Some(t) = a.target_rps_per_instance {
            let cfg = TargetTrackingConfig::new(TargetMetric::RpsPerInstance, t)
                .with_bounds(a.min_instances, a.max_instances);
            ctl = ctl.with_target_tracking(a.app.clone(), cfg);
        }
    }
    ctl
}

fn spawn<A, L>(
    ctl: Controller<A, L, PrometheusMetrics>,
    apps: Vec<AppSpec>,
    wake: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<(), ControllerError>>
where
    A: crest_core::seams::Actuator + Clone + 'static,
    L: crest_core::seams::LoadBalancer + 'static,
{
    tokio::spawn(Arc::new(ctl).run(apps, wake, stop))
}
