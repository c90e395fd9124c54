//! Mesos framework tests: message shapes against the official docs' examples,
//! the RecordIO decoder, and the framework against a protocol-level double of
//! a Mesos master (`mesos/double.rs`) — not a real master, which cannot run
//! here. `mesos/master.rs` holds one test per point a real master expects
//! (issue 15) and compares the bodies crest sends with the documented ones.

#![cfg(feature = "mesos")]
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "mesos/double.rs"]
mod double;
#[path = "mesos/framework.rs"]
mod framework;
#[path = "mesos/master.rs"]
mod master;
#[path = "mesos/protocol.rs"]
mod protocol;
