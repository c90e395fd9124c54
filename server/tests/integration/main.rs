//! crest-server integration tests: the server runs on 127.0.0.1:0 in the test's
//! runtime (mini-redis style) with a real SQLite file in a temp dir; requests
//! go over real HTTP.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns: a panic is the failure report

mod api;
mod common;
mod disk_full;
mod fuzz;
mod hardening;
mod lease;
mod persistence;
mod verify;
