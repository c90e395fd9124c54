//! Seasonal naive: tomorrow looks like the same time last week. The baseline
//! every other model has to beat, and the scale of MASE.

use super::{Forecaster, ModelKind};
use crate::context::Context;

/// The value one cycle earlier (a week when there are two weeks of history
/// showing a weekly cycle, else a day, else the last value; see
/// [`Context::cycle`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeasonalNaiveForecaster;

impl Forecaster for SeasonalNaiveForecaster {
    fn kind(&self) -> ModelKind {
        ModelKind::SeasonalNaive
    }

    fn paths(&self, ctx: &Context, origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
        let p = ctx.cycle();
        origins
            .iter()
            .map(|&o| {
                (0..horizon)
                    .map(|h| {
                        let back = p * (h / p + 1);
                        match (o + h).checked_sub(back) {
                            Some(j) => ctx.filled[j],
                            None => ctx.filled[o.saturating_sub(1)],
                        }
                    })
                    .collect()
            })
            .collect()
    }
}
