//! The one error type of crest-forecast.

use thiserror::Error;

/// Why a forecast, backtest or watch could not be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ForecastError {
    /// The history has too few observed values for any model.
    #[error(
        "failed to forecast series {series:?}: expected at least {needed} observed values, found {found}"
    )]
    TooShort {
        /// Series id.
        series: String,
        /// Minimum number of finite values needed.
        needed: usize,
        /// Finite values found.
        found: usize,
    },
    /// A horizon of zero steps was asked for.
    #[error("failed to forecast: expected a horizon of at least 1 step, found 0")]
    ZeroHorizon,
    /// A backtest needs more history than the series has.
    #[error(
        "failed to backtest series {series:?}: {origins} origins with horizon {horizon} need more than {len} steps of history"
    )]
    BacktestTooShort {
        /// Series id.
        series: String,
        /// Origins asked for.
        origins: usize,
        /// Horizon asked for.
        horizon: usize,
        /// Length of the series.
        len: usize,
    },
    /// A forecast lacks a quantile the caller needs (e.g. a watch band edge).
    #[error("failed to watch: the forecast has no {column} column")]
    MissingQuantile {
        /// Column name such as `p90`.
        column: String,
    },
    /// The forecast asked for is out of bounds or too big to run
    /// (`crest_core::bounds`).
    #[error("failed to forecast: {0}")]
    Refused(crest_core::CoreError),
    /// A core type rejected a value (e.g. a quantile path length).
    #[error("failed to build a forecast")]
    Core(#[from] crest_core::CoreError),
    /// Drawing the plot failed.
    #[error("failed to plot the forecast")]
    Plot(#[from] crest_plot::PlotError),
}
