//! crest-core's seams over the simulated world: [`SimActuator`],
//! [`SimMetrics`], [`SimLoadBalancer`] (with core's `VirtualClock`).
//!
//! The event loop owns the world and must stay fast, so the seams do not touch
//! it. They share a small [`Mailbox`] with the loop instead: before an
//! `Evaluate` event the loop writes a snapshot (fleet, metrics, server stats)
//! into it, the autoscaler's `step()` reads the snapshot and posts actions,
//! and the loop applies those actions after the step. The mutex is taken a few
//! times per evaluation, never per request. Every future returned here is
//! ready at once, as the simulator's driver requires.

use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard};

use crest_core::seams::{
    Actuator, Applied, FleetState, LoadBalancer, Metrics, MetricsSource, SeamError, SeamErrorKind,
    ServerAdminState, ServerStats,
};
use crest_core::{Action, AppId, Replicas, Timestamp};

/// A load-balancer command posted by a policy or a probe.
#[derive(Debug, Clone, PartialEq)]
pub enum LbCommand {
    /// Set a server's weight.
    Weight {
        /// Server name (`sim-<n>`).
        server: String,
        /// New weight.
        weight: u16,
    },
    /// Set a server's administrative state.
    State {
        /// Server name.
        server: String,
        /// New state.
        state: ServerAdminState,
    },
}

/// What the loop and the seams share.
#[derive(Debug)]
pub struct Mailbox {
    /// The simulated app.
    pub app: AppId,
    /// Its backend name in the balancer.
    pub backend: String,
    /// Fleet snapshot.
    pub fleet: FleetState,
    /// Metrics snapshot.
    pub metrics: Metrics,
    /// Server stats snapshot.
    pub servers: Vec<ServerStats>,
    /// Actions posted since the last drain.
    pub actions: Vec<Action>,
    /// Balancer commands posted since the last drain.
    pub lb: Vec<LbCommand>,
}

impl Mailbox {
    /// An empty mailbox for `app`.
    pub fn new(app: AppId) -> Self {
        Mailbox {
            backend: app.as_str().to_string(),
            fleet: FleetState {
                app: app.clone(),
                at: Timestamp::EPOCH,
                desired: Replicas(0),
                instances: Vec::new(),
            },
            app,
            metrics: Metrics::default(),
            servers: Vec::new(),
            actions: Vec::new(),
            lb: Vec::new(),
        }
    }
}

/// A shared mailbox handle.
pub type Shared = Arc<Mutex<Mailbox>>;

fn lock(m: &Shared) -> Result<MutexGuard<'_, Mailbox>, SeamError> {
    m.lock()
        .map_err(|_| SeamError::new("sim", SeamErrorKind::Unavailable, "mailbox poisoned"))
}

fn check_app(mb: &Mailbox, app: &AppId) -> Result<(), SeamError> {
    if &mb.app == app {
        Ok(())
    } else {
        Err(SeamError::new(
            "sim",
            SeamErrorKind::NotFound,
            format!("no app {app} in this simulation (it simulates {})", mb.app),
        ))
    }
}

/// The simulated fleet as an [`Actuator`]: `SetReplicas` reaches the modelled
/// provisioner (lead times, rate limits); balancer actions reach the modelled
/// balancer.
#[derive(Debug, Clone)]
pub struct SimActuator {
    mailbox: Shared,
}

impl SimActuator {
    /// An actuator over a mailbox.
    pub fn new(mailbox: Shared) -> Self {
        SimActuator { mailbox }
    }
}

impl Actuator for SimActuator {
    fn observe(&self, app: &AppId) -> impl Future<Output = Result<FleetState, SeamError>> + Send {
        let r = lock(&self.mailbox).and_then(|mb| {
            check_app(&mb, app)?;
            Ok(mb.fleet.clone())
        });
        ready(r)
    }

    fn apply(&self, action: &Action) -> impl Future<Output = Result<Applied, SeamError>> + Send {
        let r = lock(&self.mailbox).and_then(|mut mb| {
            check_app(&mb, action.app())?;
            let changed = match action {
                Action::SetReplicas { replicas, .. } => *replicas != mb.fleet.desired,
                _ => true,
            };
            if let Action::SetReplicas { replicas, .. } = action {
                mb.fleet.desired = *replicas;
            }
            mb.actions.push(action.clone());
            Ok(Applied {
                action: action.clone(),
                changed,
                detail: format!("queued in the simulator: {action}"),
            })
        });
        ready(r)
    }
}

/// The simulated fleet's own counters as a [`MetricsSource`]: demand,
/// throughput and error rate over the last evaluation interval, p99 of the
/// last completed minute, busy fraction of serving slots.
#[derive(Debug, Clone)]
pub struct SimMetrics {
    mailbox: Shared,
}

impl SimMetrics {
    /// Metrics over a mailbox.
    pub fn new(mailbox: Shared) -> Self {
        SimMetrics { mailbox }
    }
}

impl MetricsSource for SimMetrics {
    fn sample(&self, app: &AppId) -> impl Future<Output = Result<Metrics, SeamError>> + Send {
        let r = lock(&self.mailbox).and_then(|mb| {
            check_app(&mb, app)?;
            Ok(mb.metrics)
        });
        ready(r)
    }
}

/// The simulated balancer as a [`LoadBalancer`] (server names `sim-<n>`).
#[derive(Debug, Clone)]
pub struct SimLoadBalancer {
    mailbox: Shared,
}

impl SimLoadBalancer {
    /// A balancer over a mailbox.
    pub fn new(mailbox: Shared) -> Self {
        SimLoadBalancer { mailbox }
    }

    fn post(&self, backend: &str, cmd: LbCommand) -> Result<(), SeamError> {
        let mut mb = lock(&self.mailbox)?;
        if mb.backend != backend {
            return Err(SeamError::new(
                "sim",
                SeamErrorKind::NotFound,
                format!(
                    "no backend {backend} (the simulated backend is {})",
                    mb.backend
                ),
            ));
        }
        let server = match &cmd {
            LbCommand::Weight { server, .. } | LbCommand::State { server, .. } => server,
        };
        if !mb.servers.iter().any(|s| &s.name == server) {
            return Err(SeamError::new(
                "sim",
                SeamErrorKind::NotFound,
                format!("no server {server} in backend {backend}"),
            ));
        }
        mb.lb.push(cmd);
        Ok(())
    }
}

impl LoadBalancer for SimLoadBalancer {
    fn servers(
        &self,
        backend: &str,
    ) -> impl Future<Output = Result<Vec<ServerStats>, SeamError>> + Send {
        let r = lock(&self.mailbox).and_then(|mb| {
            if mb.backend == backend {
                Ok(mb.servers.clone())
            } else {
                Err(SeamError::new(
                    "sim",
                    SeamErrorKind::NotFound,
                    format!("no backend {backend}"),
                ))
            }
        });
        ready(r)
    }

    fn set_weight(
        &self,
        backend: &str,
        server: &str,
        weight: u16,
    ) -> impl Future<Output = Result<(), SeamError>> + Send {
        ready(self.post(
            backend,
            LbCommand::Weight {
                server: server.into(),
                weight,
            },
        ))
    }

    fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> impl Future<Output = Result<(), SeamError>> + Send {
        ready(self.post(
            backend,
            LbCommand::State {
                server: server.into(),
                state,
            },
        ))
    }

    fn add_server(
        &self,
        _backend: &str,
        server: &str,
        _addr: &str,
    ) -> impl Future<Output = Result<(), SeamError>> + Send {
        ready(Err(SeamError::new(
            "sim",
            SeamErrorKind::Rejected,
            format!(
                "cannot add {server}: the simulator's servers come from its provisioner (use SetReplicas)"
            ),
        )))
    }

    fn remove_server(
        &self,
        _backend: &str,
        server: &str,
    ) -> impl Future<Output = Result<(), SeamError>> + Send {
        ready(Err(SeamError::new(
            "sim",
            SeamErrorKind::Rejected,
            format!("cannot remove {server}: scale in with SetReplicas (instances drain first)"),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn now<T>(f: impl Future<Output = T>) -> T {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("sim seams must be ready at once"),
        }
    }

    #[test]
    fn seams_are_ready_at_once_and_check_names() {
        let app = AppId::try_new("web").unwrap();
        let mb: Shared = Arc::new(Mutex::new(Mailbox::new(app.clone())));
        mb.lock().unwrap().servers.push(ServerStats {
            name: "sim-0".into(),
            ..ServerStats::default()
        });
        let lb = SimLoadBalancer::new(mb.clone());
        now(lb.set_weight("web", "sim-0", 0)).unwrap();
        let e = now(lb.set_weight("web", "sim-9", 0)).unwrap_err();
        assert_eq!(e.kind, SeamErrorKind::NotFound);
        assert!(now(lb.add_server("web", "x", "127.0.0.1:1")).is_err());
        assert_eq!(mb.lock().unwrap().lb.len(), 1);

        let act = SimActuator::new(mb.clone());
        let a = Action::SetReplicas {
            app: app.clone(),
            replicas: Replicas(3),
            plan_id: None,
        };
        assert!(now(act.apply(&a)).unwrap().changed);
        assert!(!now(act.apply(&a)).unwrap().changed, "idempotent");
        assert_eq!(now(act.observe(&app)).unwrap().desired, Replicas(3));
        let other = AppId::try_new("db").unwrap();
        assert!(now(act.observe(&other)).is_err());
        let m = now(SimMetrics::new(mb).sample(&app)).unwrap();
        assert_eq!(m.running, 0);
    }
}
