//! HAProxy as the actuator's load balancer: crest-haproxy's client, with
//! health checks switched on for every server crest registers.
//!
//! crest-haproxy's own `LoadBalancer::add_server` adds a server without a
//! health check (the headroom probe needs none); instances started by the
//! actuator must be checked, so that a container that dies between two
//! reconciliations stops getting traffic within a few check intervals. This
//! adapter only changes that one call; everything else is the shared client.
//!
//! Registration, as the fleet actuator drives it: `add server B/S ADDR weight W
//! check inter I downinter 250` (in maintenance) + `enable health` + `set
//! server B/S health down`, then `set weight` (the ramp's first step) and `set
//! server state ready`; removal is `drain`, the drain period, `maint`, `del
//! server`. Starting DOWN matters: HAProxy puts a server leaving maintenance
//! straight UP and sends it requests until `fall` checks (3) have failed, so a
//! container not yet listening would answer errors; DOWN, it gets traffic only
//! once `rise` checks (2) pass, 250 ms apart.

use crest_core::seams::{LoadBalancer, SeamError, ServerAdminState, ServerStats};
use crest_haproxy::{AddServer, HaproxyClient, SocketAddr};
use serde::{Deserialize, Serialize};

/// Check interval of a server not yet UP (HAProxy's `downinter`), ms: a new
/// instance gets traffic within a second or so of serving.
const DOWN_INTER_MS: u32 = 250;

/// Settings of the HAProxy load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaproxyLbConfig {
    /// The admin socket (`stats socket PATH level admin`) or `tcp://127.0.0.1:PORT`.
    pub socket: String,
    /// Health-check interval, ms (0 = no checks).
    #[serde(default = "default_inter")]
    pub check_inter_ms: u32,
}

fn default_inter() -> u32 {
    2_000
}

/// The HAProxy load balancer with health-checked registrations.
#[derive(Debug, Clone)]
pub struct HaproxyLb {
    client: HaproxyClient,
    check_inter_ms: u32,
}

impl HaproxyLb {
    /// A balancer from its settings.
    pub fn new(cfg: &HaproxyLbConfig) -> Self {
        HaproxyLb {
            client: HaproxyClient::new(SocketAddr::parse(&cfg.socket)),
            check_inter_ms: cfg.check_inter_ms,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &HaproxyClient {
        &self.client
    }
}

impl LoadBalancer for HaproxyLb {
    async fn servers(&self, backend: &str) -> Result<Vec<ServerStats>, SeamError> {
        LoadBalancer::servers(&self.client, backend).await
    }

    async fn set_weight(&self, backend: &str, server: &str, weight: u16) -> Result<(), SeamError> {
        LoadBalancer::set_weight(&self.client, backend, server, weight).await
    }

    async fn set_state(
        &self,
        backend: &str,
        server: &str,
        state: ServerAdminState,
    ) -> Result<(), SeamError> {
        LoadBalancer::set_state(&self.client, backend, server, state).await
    }

    async fn add_server(&self, backend: &str, server: &str, addr: &str) -> Result<(), SeamError> {
        let mut opts = AddServer::new(addr).in_maint();
        if self.check_inter_ms > 0 {
            // Down until its checks pass, checked fast meanwhile.
            opts = opts
                .with_check(self.check_inter_ms)
                .starting_down(self.check_inter_ms.min(DOWN_INTER_MS));
        }
        Ok(self.client.add_server(backend, server, &opts).await?)
    }

    async fn remove_server(&self, backend: &str, server: &str) -> Result<(), SeamError> {
        LoadBalancer::remove_server(&self.client, backend, server).await
    }
}
