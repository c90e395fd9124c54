//! # crest-forecast
//!
//! Order-volume forecasting for crest: how much traffic is coming, with
//! holiday effects and calibrated uncertainty, and an alert when reality
//! leaves the forecast.
//!
//! ```text
//! Series + Calendar ──▶ pipeline::forecast ──▶ Forecast (mean, p10, p50, p90, ..)
//!                         │  models: seasonal naive, MSTL/ETS, calendar regression, ensemble
//!                         │  auto choice + quantiles from a rolling backtest per series
//! backtest::backtest_series ──▶ Metrics (MAPE, WAPE, sMAPE, MASE, pinball, coverage)
//! watch::DeviationWatcher  ◀── actuals one by one ──▶ Alert (severity, quiet on holidays)
//! plot::forecast_chart     ──▶ crest_plot::Chart (history tail, forecast, band)
//! ```
//!
//! Start reading at [`pipeline`] (what happens to a series), then
//! [`models`] (the [`Forecaster`] trait and its four models). The crate is
//! pure computation: no IO, no clock, no polars; loading is
//! `crest-datasets`' job and printing is the binary's.
//!
//! ```
//! use crest_core::{Series, Timestamp};
//! use crest_forecast::{ForecastConfig, forecast};
//! let values: Vec<f64> = (0..24 * 28).map(|i| 100.0 + 50.0 * ((i % 24) as f64 / 4.0).sin()).collect();
//! let s = Series::try_new("", Timestamp::from_secs(1_700_006_400), 3600, values).unwrap();
//! let out = forecast(&s, &ForecastConfig::new(48)).unwrap();
//! assert_eq!(out.forecast.horizon(), 48);
//! ```
//!
//! How the crates fit together (seams, data flow): `docs/ARCHITECTURE.md`.

mod context;
mod error;
mod holiday;
mod linalg;

pub mod backtest;
pub mod metrics;
pub mod models;
pub mod pipeline;
pub mod plot;
#[cfg(feature = "progress")]
pub mod progress;
pub mod regressors;
pub mod watch;

pub use error::ForecastError;
pub use models::{Forecaster, ModelKind};
pub use pipeline::{
    FinalFit, ForecastConfig, ForecastOutcome, ModelChoice, forecast, forecast_many,
    forecast_models,
};
pub use regressors::KnownRegressors;

#[doc(hidden)]
pub use context::Context;
