//! Deviation alerts: compare actuals, as they arrive, with a forecast band
//! and raise an alert when reality leaves it.
//!
//! One point outside the band is noise (a p10–p90 band is left 20 % of the
//! time by design), so an alert needs a *run* of points outside on the same
//! side; its severity grows with how far outside (in band half-widths) and
//! how long. Days the calendar predicts to be unusual (holiday, eve, day
//! after, user event) stay quiet: the operator knows about them already, and
//! the forecast's calendar effects are the place to model them.
//!
//! ```text
//! actual ─▶ outside band? ─▶ run on one side ─▶ cumulative excess ─▶ Info / Warning / Critical
//!             └ calendar day? ─▶ quiet
//! ```

use chrono::NaiveDate;
use crest_core::series::Quantile;
use crest_core::{Calendar, Forecast, Series, Timestamp};
use serde::Serialize;

use crate::ForecastError;
use crate::pipeline::{ForecastConfig, forecast};

/// How bad a deviation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Info,
    /// Act soon.
    Warning,
    /// Act now.
    Critical,
}

/// Which side of the band reality is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// More traffic than forecast.
    Above,
    /// Less traffic than forecast.
    Below,
}

/// A deviation alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// First point of the run outside the band.
    pub since: Timestamp,
    /// The point that raised (or escalated) the alert.
    pub at: Timestamp,
    /// Side of the band.
    pub direction: Direction,
    /// Severity at this point.
    pub severity: Severity,
    /// Points in the run so far.
    pub run: usize,
    /// Sum over the run of the distance outside, in band half-widths.
    pub excess: f64,
    /// Actual value at `at`.
    pub actual: f64,
    /// Forecast (mean) at `at`.
    pub expected: f64,
}

/// Thresholds of the watcher.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Lower edge of the band.
    pub lower: Quantile,
    /// Upper edge of the band.
    pub upper: Quantile,
    /// Consecutive points outside needed before any alert.
    pub min_run: usize,
    /// Cumulative excess (band half-widths) for Info, Warning, Critical.
    pub thresholds: [f64; 3],
    /// Stay quiet on holidays, eves, days after and events of the calendar.
    pub quiet_on_calendar: bool,
}

/// The defaults watch the p5–p95 band and need six points (three hours of
/// half-hourly data) outside it: on NYC taxi's day-ahead bands that found
/// all five labelled anomaly windows with about a third of the alerts inside
/// them, where p10–p90 with three points raised three times as many alerts.
impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            lower: Quantile::try_new(0.05).expect("0.05 is a valid quantile"),
            upper: Quantile::try_new(0.95).expect("0.95 is a valid quantile"),
            min_run: 6,
            thresholds: [2.0, 5.0, 12.0],
            quiet_on_calendar: true,
        }
    }
}

/// Feeds actuals one by one against a forecast band.
#[derive(Debug, Clone)]
pub struct DeviationWatcher {
    forecast: Forecast,
    lower: Vec<f64>,
    upper: Vec<f64>,
    calendar: Calendar,
    cfg: WatchConfig,
    run: usize,
    side: Option<Direction>,
    since: Timestamp,
    excess: f64,
    raised: Option<Severity>,
    offset_ms: i64,
}

impl DeviationWatcher {
    /// Watch against `forecast`'s band between `cfg.lower` and `cfg.upper`.
    ///
    /// # Errors
    /// [`ForecastError::MissingQuantile`] when the forecast lacks a band edge.
    pub fn new(
        forecast: Forecast,
        calendar: Calendar,
        cfg: WatchConfig,
    ) -> Result<Self, ForecastError> {
        let get = |q: Quantile| {
            forecast
                .quantiles
                .get(&q)
                .cloned()
                .ok_or(ForecastError::MissingQuantile {
                    column: q.column_name(),
                })
        };
        let lower = get(cfg.lower)?;
        let upper = get(cfg.upper)?;
        let offset_ms = match forecast.time_format {
            crest_core::TimeFormat::Rfc3339 { offset_s } => i64::from(offset_s) * 1000,
            _ => 0,
        };
        Ok(DeviationWatcher {
            forecast,
            lower,
            upper,
            calendar,
            cfg,
            run: 0,
            side: None,
            since: Timestamp::EPOCH,
            excess: 0.0,
            raised: None,
            offset_ms,
        })
    }

    fn local_date(&self, t: Timestamp) -> Option<NaiveDate> {
        t.add_millis(self.offset_ms)
            .to_datetime()
            .ok()
            .map(|d| d.date_naive())
    }

    fn reset(&mut self) {
        self.run = 0;
        self.side = None;
        self.excess = 0.0;
        self.raised = None;
    }

    /// Feed the actual at `t`. Returns an alert when a run outside the band
    /// reaches a new severity. Points off the forecast's grid or range, and
    /// missing actuals, are ignored.
    pub fn observe(&mut self, t: Timestamp, actual: f64) -> Option<Alert> {
        let step_ms = self.forecast.step_s * 1000;
        let d = t.millis() - self.forecast.start.millis();
        if d < 0 || d % step_ms != 0 || !actual.is_finite() {
            return None;
        }
        let i = usize::try_from(d / step_ms).ok()?;
        if i >= self.forecast.horizon() {
            return None;
        }
        if self.cfg.quiet_on_calendar
            && let Some(date) = self.local_date(t)
        {
            let f = self.calendar.features(date);
            if f.holiday || f.eve || f.day_after || f.event {
                self.reset();
                return None;
            }
        }
        let (lo, hi, mean) = (self.lower[i], self.upper[i], self.forecast.mean[i]);
        let (side, dist) = if actual > hi {
            (
                Direction::Above,
                (actual - hi) / (hi - mean).abs().max(1e-9 * hi.abs().max(1.0)),
            )
        } else if actual < lo {
            (
                Direction::Below,
                (lo - actual) / (mean - lo).abs().max(1e-9 * lo.abs().max(1.0)),
            )
        } else {
            self.reset();
            return None;
        };
        if self.side != Some(side) {
            self.reset();
            self.side = Some(side);
            self.since = t;
        }
        self.run += 1;
        // Each point outside counts at least one half-width: long shallow runs matter too.
        self.excess += 1.0 + dist;
        if self.run < self.cfg.min_run {
            return None;
        }
        let sev = if self.excess >= self.cfg.thresholds[2] {
            Severity::Critical
        } else if self.excess >= self.cfg.thresholds[1] {
            Severity::Warning
        } else if self.excess >= self.cfg.thresholds[0] {
            Severity::Info
        } else {
            return None;
        };
        if self.raised.is_some_and(|r| r >= sev) {
            return None;
        }
        self.raised = Some(sev);
        Some(Alert {
            since: self.since,
            at: t,
            direction: side,
            severity: sev,
            run: self.run,
            excess: self.excess,
            actual,
            expected: mean,
        })
    }
}

/// Day-ahead forecasts made at each of `origins` (spaced `cfg.horizon`
/// apart) from the history before it, joined into one forecast band: what
/// an operator forecasting every midnight would have watched against.
///
/// # Errors
/// Errors of [`forecast`]; [`ForecastError::BacktestTooShort`] for no origins.
pub fn rolling_band(
    series: &Series,
    cfg: &ForecastConfig,
    origins: &[usize],
) -> Result<Forecast, ForecastError> {
    use rayon::prelude::*;
    let first = *origins.first().ok_or(ForecastError::BacktestTooShort {
        series: series.id().to_string(),
        origins: 0,
        horizon: cfg.horizon,
        len: series.len(),
    })?;
    let parts: Vec<Result<Forecast, ForecastError>> = origins
        .par_iter()
        .map(|&o| forecast(&series.slice(0, o), cfg).map(|f| f.forecast))
        .collect();
    let last = *origins.last().unwrap_or(&first);
    let len = last + cfg.horizon - first;
    let mut mean = vec![f64::NAN; len];
    let mut qs: std::collections::BTreeMap<Quantile, Vec<f64>> = cfg
        .quantiles
        .iter()
        .map(|q| (*q, vec![f64::NAN; len]))
        .collect();
    for (o, part) in origins.iter().zip(parts) {
        let f = part?;
        for step in 0..f.horizon() {
            let i = o - first + step;
            mean[i] = f.mean[step];
            for (q, p) in &f.quantiles {
                if let Some(v) = qs.get_mut(q) {
                    v[i] = p[step];
                }
            }
        }
    }
    let mut f = Forecast::try_new(
        series.id(),
        series.time_at(first),
        series.step_s(),
        mean,
        qs,
    )?;
    f.time_format = series.time_format();
    Ok(f)
}

/// Precision and recall of alerts against labelled windows `[start, end]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowScore {
    /// Alerts raised.
    pub alerts: usize,
    /// Alerts inside a window.
    pub true_alerts: usize,
    /// Windows in the evaluated span.
    pub windows: usize,
    /// Windows with at least one alert.
    pub detected: usize,
    /// true_alerts / alerts.
    pub precision: f64,
    /// detected / windows.
    pub recall: f64,
}

/// Score alerts (their `since` time: when the deviation began) against windows.
pub fn score_windows(alerts: &[Alert], windows: &[(Timestamp, Timestamp)]) -> WindowScore {
    let inside = |t: Timestamp| windows.iter().position(|(a, b)| t >= *a && t <= *b);
    let true_alerts = alerts.iter().filter(|a| inside(a.since).is_some()).count();
    let mut hit = vec![false; windows.len()];
    for a in alerts {
        if let Some(w) = inside(a.since) {
            hit[w] = true;
        }
    }
    let detected = hit.iter().filter(|h| **h).count();
    let div = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    WindowScore {
        alerts: alerts.len(),
        true_alerts,
        windows: windows.len(),
        detected,
        precision: div(true_alerts, alerts.len()),
        recall: div(detected, windows.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn band() -> Forecast {
        let mut q = BTreeMap::new();
        q.insert(Quantile::try_new(0.1).unwrap(), vec![90.0; 20]);
        q.insert(Quantile::try_new(0.9).unwrap(), vec![110.0; 20]);
        // 2024-01-02 (a Tuesday), hourly.
        Forecast::try_new(
            "",
            Timestamp::from_secs(1_704_153_600),
            3600,
            vec![100.0; 20],
            q,
        )
        .unwrap()
    }

    fn narrow() -> WatchConfig {
        WatchConfig {
            lower: Quantile::try_new(0.1).unwrap(),
            upper: Quantile::try_new(0.9).unwrap(),
            min_run: 3,
            ..WatchConfig::default()
        }
    }

    #[test]
    fn missing_band_edge_is_an_error() {
        assert!(matches!(
            DeviationWatcher::new(band(), Calendar::new("none"), WatchConfig::default()),
            Err(ForecastError::MissingQuantile { .. })
        ));
    }

    #[test]
    fn a_single_spike_is_quiet_and_a_run_escalates() {
        let f = band();
        let mut w = DeviationWatcher::new(f.clone(), Calendar::new("none"), narrow()).unwrap();
        assert!(w.observe(f.time_at(0), 200.0).is_none());
        assert!(w.observe(f.time_at(1), 100.0).is_none());
        let mut sev = Vec::new();
        for i in 2..12 {
            if let Some(a) = w.observe(f.time_at(i), 115.0) {
                assert_eq!(a.direction, Direction::Above);
                sev.push(a.severity);
            }
        }
        assert_eq!(
            sev,
            vec![Severity::Info, Severity::Warning, Severity::Critical]
        );
    }

    #[test]
    fn quiet_on_a_calendar_holiday() {
        let f = band();
        let mut cal = Calendar::new("t");
        cal.insert(
            chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            crest_core::DayKind::Holiday { name: "x".into() },
        );
        let mut w = DeviationWatcher::new(f.clone(), cal, narrow()).unwrap();
        for i in 0..12 {
            assert!(w.observe(f.time_at(i), 10.0).is_none());
        }
    }

    #[test]
    fn scores_windows() {
        let a = |s: i64| Alert {
            since: Timestamp::from_secs(s),
            at: Timestamp::from_secs(s),
            direction: Direction::Below,
            severity: Severity::Info,
            run: 3,
            excess: 3.0,
            actual: 0.0,
            expected: 1.0,
        };
        let w = [
            (Timestamp::from_secs(10), Timestamp::from_secs(20)),
            (Timestamp::from_secs(50), Timestamp::from_secs(60)),
        ];
        let s = score_windows(&[a(12), a(15), a(30)], &w);
        assert_eq!((s.true_alerts, s.detected), (2, 1));
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-12 && (s.recall - 0.5).abs() < 1e-12);
    }
}
