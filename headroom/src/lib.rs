//! # crest-headroom
//!
//! How much can we serve today? Raise one server's load-balancer weight above
//! its peers' on live traffic, watch its throughput and latency until it
//! saturates, and turn the limit into a [`crest_core::Capacity`] and the
//! cluster's headroom ("35 % spare"), then into instances needed for a
//! forecast crest.
//!
//! ```text
//!  LoadBalancer (HAProxy) ──stats──▶ ProbeController ──steps──▶ capacity::fit ──▶ Capacity (JSON)
//!  LatencySource (loadgen / Prometheus) ──p99──┘   │ journal (restore after crash)       │
//!                                                   ▼                                     ▼
//!                                          weights always restored      demand::instances_needed
//! ```
//!
//! Start reading at [`probe::ProbeController::run`]; the maths is in
//! [`capacity`]; the crash safety in [`journal`].
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

mod error;
mod http;

pub mod capacity;
pub mod demand;
pub mod journal;
pub mod latency;
pub mod probe;

pub use error::HeadroomError;
pub use latency::{LatencySource, LatencyWindow, LoadgenLatency, NoLatency, PrometheusLatency};
pub use probe::{ProbeConfig, ProbeController, ProbeReport, StepResult, StopReason};
