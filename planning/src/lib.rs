//! # crest-planning
//!
//! The planning pipeline as a library, above the forecaster, the planner and
//! the simulator:
//!
//! ```text
//! history ─▶ forecast (data before the decision only) ─▶ capacity ─▶ plan
//!        ─▶ verification gate (quantile + empirical scenarios, crest-sim)
//!        ─▶ replay (crest-sim) ─▶ report
//! ```
//!
//! [`backtest`] runs it over every crest of a history (`crest rehearse`);
//! [`policy`] builds crest's runtime policy (the one the backtest replays
//! and `crest run --track-level` runs);
//! [`gate`] is the verification gate `crest plan --verify` and `crest run`
//! call; [`replay`] builds crest-sim scenarios for a capacity;
//! [`history`] pulls history from Prometheus (with its Parquet cache) for
//! `forecast`, `plan` and `rehearse`. The binary only parses and prints.
//!
//! The default feature `history` brings [`backtest`] and [`history`] (and
//! with them crest-datasets' polars and crest-prometheus); without it the
//! crate is the forecast, gate and replay only, which is what `crest serve`
//! needs to verify a posted plan.

#[cfg(feature = "history")]
pub mod backtest;
pub mod error;
pub mod forecast;
pub mod gate;
#[cfg(feature = "history")]
pub mod history;
pub mod policy;
pub mod replay;

#[cfg(feature = "history")]
pub use backtest::{BacktestReport, BacktestSettings, Crest, CrestReport, backtest};
pub use error::PlanningError;
pub use replay::SimMode;
