#![cfg(feature = "mesos")]
//! A Mesos framework over the v1 scheduler HTTP API, behind the `Actuator` seam.
//!
//! **Tested against a protocol-level double, not a real Mesos master**: no
//! master can run on this machine (what that leaves untested: `docs/mesos.md`). The messages are written from the official
//! `scheduler.proto` / `mesos.proto` and checked against the JSON examples of
//! `docs/scheduler-http-api.md` (fixtures in `tests/fixtures/mesos/`); the
//! double in `tests/mesos/double.rs` speaks the documented protocol (stream
//! ids, RecordIO, reliable updates, reconciliation, 307 redirects). Where the
//! docs' examples and the proto disagree (e.g. OFFERS, ERROR), both are read.
//!
//! ```text
//!  apply(SetReplicas) ──► Framework (desired, tasks, executors) ◄── events ── Subscription
//!                             │ calls                                 (RecordIO over one
//!                             ▼                                        SUBSCRIBE response)
//!                        sender task ── POST /api/v1/scheduler + Mesos-Stream-Id ──► master
//! ```
//!
//! Start reading at [`MesosActuator`]; the decisions live in [`Framework`];
//! [`cli`] is the `[mesos]` config section and `crest scale` through Mesos
//! (the framework id kept in the journal, so every CLI run is a failover).
//!
//! # Protocol
//! - SUBSCRIBE (`Content-Type`/`Accept: application/json`, no stream id) on its
//!   own connection, kept open; the answer's `Mesos-Stream-Id` goes on every
//!   later call, sent on other connections ([`client`]).
//! - Events are RecordIO records (`<length>\n<json>`), decoded incrementally
//!   whatever the chunking ([`recordio`]); a malformed stream is a typed error
//!   and a reconnect, never a panic.
//! - SUBSCRIBED gives the framework id and heartbeat interval; no event for
//!   `missed_heartbeats` intervals (5 by default, as the docs suggest) means a
//!   dead connection: drop it and re-SUBSCRIBE with the saved framework id and
//!   `failover_timeout` (a week by default; it must be > 0), with exponential
//!   backoff. A `307` moves the client to the leading master; `400` (unknown
//!   framework, stream id mismatch) and `403` mean SUBSCRIBE again; `503` and
//!   other `5xx` are retried with bounded backoff; `401` is final (see
//!   [`actuator`]). After each SUBSCRIBED: explicit RECONCILE of known tasks,
//!   then implicit RECONCILE, and KILLs not yet confirmed are sent again.
//! - `FrameworkInfo.user` is always set (default: the user running crest):
//!   the HTTP API has no default, and an agent cannot create a sandbox for
//!   user `""`. HTTP basic authentication and TLS (`https://` masters, rustls)
//!   are configurable ([`client`]).
//! - OFFERS are answered at once: ACCEPT with LAUNCH / LAUNCH_GROUP for what is
//!   needed, DECLINE (with `refuse_seconds`) for the rest; SUPPRESS when nothing
//!   is needed, REVIVE when something is again (it also clears decline filters).
//!   The offers of an ACCEPT the master refused are DECLINEd (masters have no
//!   offer timeout by default). A resource is gathered across all entries of
//!   its name in one offer (reserved and unreserved), and with
//!   [`AppSpec::ports`] each task gets host ports from the `ports` ranges
//!   (`PORT0`... in its environment; its address is `IP:PORT0`).
//! - UPDATEs carrying a `uuid` are ACKNOWLEDGEd (and only those); FAILURE forgets
//!   the executor; ERROR ends the subscription: re-subscribe, except after
//!   "Framework has been removed" / "Framework failed over", which are final
//!   (the driver stops; [`ConnectionInfo::fatal`] says why);
//!   RESCIND and MESSAGE need no action (offers are never held).
//! - TEARDOWN through [`MesosActuator::teardown`].
//!
//! # Mapping onto the `Actuator` seam
//! - `SetReplicas { app, n }` records the desired count (level-triggered: the
//!   same action twice is one change), kills the surplus at once (tasks not
//!   serving yet first, then the newest) and launches the shortfall from the
//!   offers that come. `apply` returns without waiting for offers.
//! - `observe` reports each task by its last status: STAGING/STARTING →
//!   Starting, RUNNING → Running, KILLING or killed by us → Draining,
//!   UNREACHABLE/UNKNOWN → Failed (not counted, so a replacement is launched);
//!   terminal tasks are dropped and replaced. The address is the first IP in
//!   the status's `container_status` (the agent's for host networking), with
//!   `:PORT0` when the task has host ports. Tasks adopted after a restart
//!   have no known port (reconciliation does not report resources).
//! - Task ids are `<app>.<start-ms>-<seq>`, so a restarted crest re-subscribing
//!   with its framework id adopts its own tasks from reconciliation instead of
//!   launching duplicates. Tasks carry labels `crest.app` and `crest.plan`.
//!
//! # N tasks per container
//! The issue's cron-job idea (keep warm containers, run many tasks in each)
//! maps onto Mesos's default executor: with [`AppSpec::tasks_per_executor`]
//! `= N > 1` every task is its own single-task group (`LAUNCH_GROUP`, executor
//! `type: DEFAULT`), and up to N groups share one executor container on an
//! agent — nested containers sharing its network namespace (and its one CNI IP
//! when a network is set). The executor's resources are paid once; a later
//! group goes into a warm executor the offer lists in `executor_ids`, sent with
//! the identical `ExecutorInfo` (the master rejects a different one). Groups of
//! one keep lifecycles independent (killing a task of a group kills the whole
//! group), so scale-in stays exact; the default executor exits by itself when
//! its last group ends. At most one `LAUNCH_GROUP` per executor per ACCEPT, so
//! a warm executor fills over successive offers; a new executor opens only
//! when none of the app's executors on that agent has room. With N = 1 each
//! task is a plain `LAUNCH` with its own container (one app per container).

pub mod actuator;
pub mod cli;
pub mod client;
pub mod framework;
pub mod proto;
pub mod recordio;

pub use actuator::{ConnectionInfo, MesosActuator, MesosConfig};
pub use cli::{MesosScaleReport, MesosSection, forget_framework, scale_mesos};
pub use framework::{AppSpec, Framework};
