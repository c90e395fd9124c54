//! The models, behind one [`Forecaster`] trait.
//!
//! A model is asked for point forecasts at *many origins at once*: backtests
//! and quantile calibration refit every model at a dozen or more origins per
//! series, and some models (the regression) can share almost all of that work
//! between origins. Paths are in the context's transformed space (log for
//! positive series), so models add effects instead of multiplying them.

mod decomposition;
mod naive;
mod regression;

pub use decomposition::MstlEtsForecaster;
pub use naive::SeasonalNaiveForecaster;
pub use regression::CalendarRegressionForecaster;

use serde::{Deserialize, Serialize};

use crate::context::Context;

/// Which model produced a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// The value one season (a week, else a day) earlier.
    SeasonalNaive,
    /// Robust seasonal decomposition plus an exponentially smoothed level.
    MstlEts,
    /// Ridge regression on Fourier terms per day type, calendar effects,
    /// trend, with a recent-residual (autoregressive) correction.
    Regression,
    /// A blend of `MstlEts` and `Regression`, weight learned in calibration
    /// (1/4, 1/2 or 3/4; [`EnsembleForecaster`] alone is the plain average).
    Ensemble,
}

impl ModelKind {
    /// Every model, in a fixed order (also the order of tie-breaking).
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Regression,
        ModelKind::Ensemble,
        ModelKind::MstlEts,
        ModelKind::SeasonalNaive,
    ];

    /// Short name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SeasonalNaive => "seasonal_naive",
            ModelKind::MstlEts => "mstl_ets",
            ModelKind::Regression => "regression",
            ModelKind::Ensemble => "ensemble",
        }
    }

    /// Parse a [`ModelKind::name`].
    pub fn from_name(s: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// A point-forecasting model.
pub trait Forecaster: Send + Sync {
    /// Which model this is.
    fn kind(&self) -> ModelKind;

    /// For each origin `o` (the model may use only steps `0..o`), the point
    /// forecast of steps `o..o + horizon` in the context's transformed space.
    /// Origins are ascending and at most the history length.
    fn paths(&self, ctx: &Context, origins: &[usize], horizon: usize) -> Vec<Vec<f64>>;
}

/// The model for a kind.
pub fn model(kind: ModelKind) -> Box<dyn Forecaster> {
    match kind {
        ModelKind::SeasonalNaive => Box::new(SeasonalNaiveForecaster),
        ModelKind::MstlEts => Box::new(MstlEtsForecaster::default()),
        ModelKind::Regression => Box::new(CalendarRegressionForecaster::default()),
        ModelKind::Ensemble => Box::new(EnsembleForecaster),
    }
}

/// Average of the decomposition and regression models (in transformed space).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnsembleForecaster;

impl Forecaster for EnsembleForecaster {
    fn kind(&self) -> ModelKind {
        ModelKind::Ensemble
    }

    fn paths(&self, ctx: &Context, origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
        let a = MstlEtsForecaster::default().paths(ctx, origins, horizon);
        let b = CalendarRegressionForecaster::default().paths(ctx, origins, horizon);
        average(&a, &b)
    }
}

/// Element-wise mean of two sets of paths.
pub(crate) fn average(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(u, v)| 0.5 * (u + v)).collect())
        .collect()
}
