//! # crest-actuator
//!
//! Carries out crest's actions on real fleets: containers (containerd), their
//! network (CNI), the load balancer (HAProxy, through the `LoadBalancer`
//! seam), Mesos, or a dry run that only prints. Every step is journaled in
//! SQLite before it is done, so a crash at any point is reconciled on the next
//! start instead of leaking containers, IPs or balancer entries.
//!
//! ```text
//!  Action::SetReplicas ──► FleetActuator ── journal (SQLite, write-ahead)
//!                             │  batches: concurrency limit, per-backend rate limit, retries
//!            ┌────────────────┼───────────────────┐
//!            ▼                ▼                   ▼
//!      Runtime (containerd)  Network (CNI)   LoadBalancer (HAProxy)
//! ```
//!
//! Start reading at [`fleet::FleetActuator`]; the backends are
//! [`containerd::ContainerdRuntime`], [`cni::CniNetwork`], [`lb::HaproxyLb`]
//! (crest-haproxy's client with health checks) and [`dryrun`];
//! [`journal::Journal`] is the write-ahead log, [`exec`] the rate limiter and
//! retries, [`config`] the `crest scale` file, [`cron`] warm containers for
//! frequent jobs. `scripts/bench-scale-out.sh N` measures 0 -> N -> 0 against
//! real services; `tests/e2e_actuator.rs` holds the fault tests.
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

pub mod backend;
pub mod cni;
pub mod config;
#[cfg(feature = "containerd")]
pub mod containerd;
#[cfg(feature = "containerd")]
pub mod cron;
pub mod dryrun;
pub mod error;
pub mod exec;
pub mod fleet;
pub mod journal;
pub mod lb;
pub mod mesos;

pub use error::ActuatorError;
