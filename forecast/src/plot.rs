//! The forecast chart: the tail of the history, the forecast mean and the
//! band between the lowest and the highest quantile, on a time axis.
//!
//! Built on the workspace's shared `crest-plot` (embedded font, PNG/SVG by
//! extension), so any report that holds a history and a [`Forecast`] (the
//! planner, the rehearsal, the README) draws the same picture with
//! [`forecast_chart`] or [`plot_forecast`].

use std::path::Path;

use crest_core::{Forecast, Series};
use crest_plot::{Band, Chart, Line};

use crate::ForecastError;

/// A chart of the last `tail` steps of `history` and the whole `forecast`.
pub fn forecast_chart(history: &Series, forecast: &Forecast, tail: usize) -> Chart {
    let from = history.len().saturating_sub(tail);
    let hist: Vec<(f64, f64)> = (from..history.len())
        .map(|i| (history.time_at(i).secs_f64(), history.values()[i]))
        .collect();
    let mean: Vec<(f64, f64)> = (0..forecast.horizon())
        .map(|i| (forecast.time_at(i).secs_f64(), forecast.mean[i]))
        .collect();
    let title = if history.id().is_empty() {
        "forecast".to_string()
    } else {
        format!("forecast: {}", history.id())
    };
    let mut chart = Chart::new(title)
        .time_axis()
        .x_label("time (UTC)")
        .y_label("value")
        .line(Line::new("history", hist))
        .line(Line::new("forecast", mean));
    if let (Some((lq, lo)), Some((hq, hi))) = (
        forecast.quantiles.first_key_value(),
        forecast.quantiles.last_key_value(),
    ) && lq != hq
    {
        let pts = (0..forecast.horizon())
            .map(|i| (forecast.time_at(i).secs_f64(), lo[i], hi[i]))
            .collect();
        chart = chart.band(Band {
            label: format!("{}–{}", lq.column_name(), hq.column_name()),
            points: pts,
        });
    }
    chart
}

/// Draw [`forecast_chart`] to `path`, with what actually happened over the
/// forecast's span when it is known (`actual` starts where the forecast
/// does), so a replayed forecast can be judged at a glance.
///
/// # Errors
/// [`ForecastError::Plot`] for an unknown extension or a drawing failure.
pub fn plot_forecast_with_actual(
    history: &Series,
    forecast: &Forecast,
    tail: usize,
    actual: Option<&Series>,
    path: &Path,
) -> Result<(), ForecastError> {
    let mut chart = forecast_chart(history, forecast, tail);
    if let Some(a) = actual {
        let pts = (0..a.len())
            .filter(|i| a.values()[*i].is_finite())
            .map(|i| (a.time_at(i).secs_f64(), a.values()[i]))
            .collect();
        chart = chart.line(Line::new("actual", pts));
    }
    crest_plot::render(&[chart], path, (1000, 450))?;
    Ok(())
}

/// Draw [`forecast_chart`] to `path` (`.png` or `.svg`), 1000×450.
///
/// # Errors
/// [`ForecastError::Plot`] for an unknown extension or a drawing failure.
pub fn plot_forecast(
    history: &Series,
    forecast: &Forecast,
    tail: usize,
    path: &Path,
) -> Result<(), ForecastError> {
    crest_plot::render(
        &[forecast_chart(history, forecast, tail)],
        path,
        (1000, 450),
    )?;
    Ok(())
}
