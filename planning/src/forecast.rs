//! Forecasts with only the data before a decision time.

use crest_core::series::Quantile;
use crest_core::{Calendar, Forecast, Series, Timestamp};

use crate::PlanningError;

/// The quantiles the pipeline forecasts: p10, p50, p90, p97.5.
pub fn pipeline_quantiles() -> Vec<Quantile> {
    [0.1, 0.5, 0.9, 0.975]
        .into_iter()
        .filter_map(|q| Quantile::try_new(q).ok())
        .collect()
}

/// Forecast `[from, to)` with the part of `series` before `decided` only
/// (`decided <= from`), and of that at most the last `history_days` days
/// (0: all of it), the regression's final fit solved by `final_fit`:
/// [`FinalFit::Linfa`](crest_forecast::FinalFit::Linfa) where one forecast
/// is made (`crest plan`, the gate's comparable days), `Gram` in the
/// backtest, which makes hundreds (the same problem; linfa's QR was over
/// half of each day-ahead forecast's time).
///
/// # Errors
/// [`PlanningError::Invalid`] when there is no history before `decided`,
/// [`PlanningError::Forecast`] when the forecaster fails.
pub fn forecast_window(
    series: &Series,
    decided: Timestamp,
    from: Timestamp,
    to: Timestamp,
    calendar: &Calendar,
    history_days: u32,
    final_fit: crest_forecast::FinalFit,
) -> Result<Forecast, PlanningError> {
    let step_ms = series.step_s() * 1000;
    let offset = decided.millis() - series.start().millis();
    if offset <= 0 || from < decided || to <= from {
        return Err(PlanningError::Invalid(format!(
            "cannot forecast {from} to {to} decided at {decided}: the history starts at {}",
            series.start()
        )));
    }
    let cut = usize::try_from(offset / step_ms)
        .unwrap_or(0)
        .min(series.len());
    let keep = if history_days == 0 {
        cut
    } else {
        usize::try_from(i64::from(history_days) * 86_400_000 / step_ms).unwrap_or(cut)
    };
    let before = series.slice(cut.saturating_sub(keep), cut);
    let first = before.time_at(before.len());
    let lead = usize::try_from((from.millis() - first.millis()).max(0) / step_ms).unwrap_or(0);
    let span = usize::try_from((to.millis() - from.millis() + step_ms - 1) / step_ms).unwrap_or(0);
    let cfg = crest_forecast::ForecastConfig::new(lead + span)
        .with_calendar(calendar.clone())
        .with_quantiles(pipeline_quantiles())
        .with_final_fit(final_fit);
    let out =
        crest_forecast::forecast(&before, &cfg).map_err(|source| PlanningError::Forecast {
            what: format!("{from} to {to} from the history before {decided}"),
            source: Box::new(source),
        })?;
    window(&out.forecast, Some(from), Some(to))
}

/// Cut a forecast to `[from, to)`.
///
/// # Errors
/// [`PlanningError::Invalid`] when the window misses the forecast.
pub fn window(
    f: &Forecast,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<Forecast, PlanningError> {
    let step_ms = f.step_s * 1000;
    let idx = |t: Timestamp| ((t.millis() - f.start.millis()).max(0) + step_ms - 1) / step_ms;
    let a = from.map_or(0, |t| idx(t) as usize).min(f.horizon());
    let b = to.map_or(f.horizon(), |t| idx(t) as usize).min(f.horizon());
    if a >= b {
        return Err(PlanningError::Invalid(format!(
            "the window {}..{} does not overlap the forecast ({} to {})",
            from.map_or("start".into(), |t| t.to_string()),
            to.map_or("end".into(), |t| t.to_string()),
            f.start,
            f.time_at(f.horizon())
        )));
    }
    let quantiles = f
        .quantiles
        .iter()
        .map(|(q, p)| (*q, p[a..b].to_vec()))
        .collect();
    let mut out = Forecast::try_new(
        f.series_id.clone(),
        f.time_at(a),
        f.step_s,
        f.mean[a..b].to_vec(),
        quantiles,
    )
    .map_err(|source| PlanningError::Core {
        what: "forecast window".into(),
        source: Box::new(source),
    })?;
    out.time_format = f.time_format;
    out.shapes = f.shapes.iter().map(|p| p[a..b].to_vec()).collect();
    Ok(out)
}

/// Join forecasts of consecutive spans into one (same step, each starting
/// where the previous ends).
///
/// # Errors
/// [`PlanningError::Invalid`] when they are not consecutive.
pub fn stitch(parts: &[Forecast]) -> Result<Forecast, PlanningError> {
    let first = parts
        .first()
        .ok_or_else(|| PlanningError::Invalid("nothing to stitch".into()))?;
    let mut mean = Vec::new();
    let mut quantiles: std::collections::BTreeMap<Quantile, Vec<f64>> =
        first.quantiles.keys().map(|q| (*q, Vec::new())).collect();
    let mut next = first.start;
    for p in parts {
        if p.start != next || p.step_s != first.step_s {
            return Err(PlanningError::Invalid(format!(
                "forecast parts are not consecutive: one starts at {}, expected {next}",
                p.start
            )));
        }
        mean.extend_from_slice(&p.mean);
        for (q, v) in &mut quantiles {
            v.extend_from_slice(p.quantiles.get(q).map_or(&p.mean[..], |x| &x[..]));
        }
        next = p.time_at(p.horizon());
    }
    let mut out = Forecast::try_new(
        first.series_id.clone(),
        first.start,
        first.step_s,
        mean,
        quantiles,
    )
    .map_err(|source| PlanningError::Core {
        what: "stitched forecast".into(),
        source: Box::new(source),
    })?;
    out.time_format = first.time_format;
    // Shapes where any part has them; a part without has only its mean.
    let n_shapes = parts.iter().map(|p| p.shapes.len()).max().unwrap_or(0);
    if n_shapes > 0 {
        out.shapes = (0..n_shapes)
            .map(|k| {
                parts
                    .iter()
                    .flat_map(|p| p.shapes.get(k).unwrap_or(&p.mean).iter().copied())
                    .collect()
            })
            .collect();
    }
    Ok(out)
}

/// Multiply a forecast's values (data units into requests per second).
pub fn scale_forecast(f: &mut Forecast, k: f64) {
    for v in f
        .mean
        .iter_mut()
        .chain(f.quantiles.values_mut().flatten())
        .chain(f.shapes.iter_mut().flatten())
    {
        *v *= k;
    }
}

/// Multiply a series' values.
///
/// # Errors
/// [`PlanningError::Core`] (a scaled value not finite).
pub fn scale_series(s: &Series, k: f64) -> Result<Series, PlanningError> {
    Series::try_new(
        s.id(),
        s.start(),
        s.step_s(),
        s.values().iter().map(|v| v * k).collect(),
    )
    .map_err(|source| PlanningError::Core {
        what: "scaled series".into(),
        source: Box::new(source),
    })
}

/// The part of `s` inside `[from, to)`.
///
/// # Errors
/// [`PlanningError::Invalid`] when it is empty.
pub fn series_window(s: &Series, from: Timestamp, to: Timestamp) -> Result<Series, PlanningError> {
    let step_ms = s.step_s() * 1000;
    let i0 = usize::try_from((from.millis() - s.start().millis()).max(0) / step_ms).unwrap_or(0);
    let i1 = usize::try_from(((to.millis() - s.start().millis()).max(0) + step_ms - 1) / step_ms)
        .unwrap_or(0)
        .min(s.len());
    if i0 >= i1 {
        return Err(PlanningError::Invalid(format!(
            "the window {from} to {to} is outside the data ({} to {})",
            s.start(),
            s.end().map_or_else(|| "?".into(), |t| t.to_string())
        )));
    }
    Ok(s.slice(i0, i1))
}

/// Forecast the `horizon_s` after the last step of `series` with all of it
/// (`crest plan --prometheus`: plan what comes next after the pulled history).
///
/// # Errors
/// As [`forecast_window`]; [`PlanningError::Invalid`] for an empty series
/// or a horizon under one step.
pub fn forecast_after(
    series: &Series,
    horizon_s: i64,
    calendar: &Calendar,
) -> Result<Forecast, PlanningError> {
    let end = series
        .end()
        .ok_or_else(|| PlanningError::Invalid(format!("series {:?} is empty", series.id())))?;
    if horizon_s < series.step_s() {
        return Err(PlanningError::Invalid(format!(
            "the planning horizon ({horizon_s} s) is shorter than one step ({} s)",
            series.step_s()
        )));
    }
    let origin = end.add_secs(series.step_s());
    forecast_window(
        series,
        origin,
        origin,
        origin.add_secs(horizon_s),
        calendar,
        0,
        crest_forecast::FinalFit::Linfa,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn part(start_h: i64, mean: Vec<f64>, shapes: Vec<Vec<f64>>) -> Forecast {
        let mut f = Forecast::try_new(
            "x",
            Timestamp::from_secs(start_h * 3600),
            3600,
            mean,
            BTreeMap::new(),
        )
        .unwrap();
        f.shapes = shapes;
        f
    }

    /// A holiday day's forecast carries the shapes its mean blends; an
    /// ordinary day's does not. Stitched, the ordinary day's mean stands in
    /// for both shapes; windows and scaling keep them step for step.
    #[test]
    fn the_shapes_a_mean_blends_survive_stitching_windows_and_scaling() {
        let ordinary = part(0, vec![1.0, 2.0], Vec::new());
        let holiday = part(2, vec![3.0, 4.0], vec![vec![5.0, 6.0], vec![1.5, 2.5]]);
        let mut f = stitch(&[ordinary, holiday]).unwrap();
        assert_eq!(
            f.shapes,
            [vec![1.0, 2.0, 5.0, 6.0], vec![1.0, 2.0, 1.5, 2.5]]
        );
        scale_forecast(&mut f, 2.0);
        assert_eq!(f.shapes[1], [2.0, 4.0, 3.0, 5.0]);
        let w = window(
            &f,
            Some(Timestamp::from_secs(3600)),
            Some(Timestamp::from_secs(3 * 3600)),
        )
        .unwrap();
        assert_eq!(w.mean, [4.0, 6.0]);
        assert_eq!(w.shapes, [vec![4.0, 10.0], vec![4.0, 3.0]]);
        let plain = stitch(&[part(0, vec![1.0], Vec::new())]).unwrap();
        assert!(plain.shapes.is_empty());
    }
}
