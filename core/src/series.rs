//! Regular time series and forecasts.
//!
//! Every model, simulator traffic source and planner in crest works on a
//! *regular* series: a start, a fixed step, and one value per step. Irregular
//! input is made regular once, at the edge (`crest-datasets`), so nothing
//! downstream has to think about gaps in the time axis. A missing observation
//! inside the span is `NaN`, never a hole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CoreError, TimeFormat, Timestamp};

/// A regular time series: `values[i]` is the observation at `start + i * step_s`.
///
/// Read from JSON/TOML through [`Series::try_new`]'s checks (`serde(try_from)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SeriesRepr")]
pub struct Series {
    id: String,
    start: Timestamp,
    step_s: i64,
    values: Vec<f64>,
    #[serde(default)]
    time_format: TimeFormat,
}

impl Series {
    /// Build a series, checking that the step is positive.
    ///
    /// `NaN` values mark missing observations and are allowed; infinities are not.
    ///
    /// # Errors
    /// [`CoreError::InvalidStep`] for a step <= 0, [`CoreError::InvalidQuantity`]
    /// for an infinite value.
    pub fn try_new(
        id: impl Into<String>,
        start: Timestamp,
        step_s: i64,
        values: Vec<f64>,
    ) -> Result<Self, CoreError> {
        if step_s <= 0 {
            return Err(CoreError::InvalidStep { step_s });
        }
        crate::bounds::check_grid("series", start, step_s, values.len())?;
        if let Some(v) = values.iter().find(|v| v.is_infinite()) {
            return Err(CoreError::InvalidQuantity {
                what: "series value",
                value: *v,
            });
        }
        Ok(Series {
            id: id.into(),
            start,
            step_s,
            values,
            time_format: TimeFormat::default(),
        })
    }

    /// Remember how the input wrote its timestamps.
    pub fn with_time_format(mut self, fmt: TimeFormat) -> Self {
        self.time_format = fmt;
        self
    }

    /// The series identifier (`""` for a single unnamed series).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Time of the first value.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Seconds between consecutive values.
    pub fn step_s(&self) -> i64 {
        self.step_s
    }

    /// The values; `NaN` marks a missing observation.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Mutable access to the values (the time axis stays fixed).
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Consume into the values.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// How the input wrote its timestamps.
    pub fn time_format(&self) -> TimeFormat {
        self.time_format
    }

    /// Number of steps (including missing ones).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no steps.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Time of step `i`.
    pub fn time_at(&self, i: usize) -> Timestamp {
        self.start.add_secs(self.step_s * i as i64)
    }

    /// Time of the last value, if any.
    pub fn end(&self) -> Option<Timestamp> {
        self.len().checked_sub(1).map(|i| self.time_at(i))
    }

    /// Index of the step at exactly `t`, if `t` lies on the grid and in range.
    pub fn index_of(&self, t: Timestamp) -> Option<usize> {
        let d = t.millis() - self.start.millis();
        let step_ms = self.step_s * 1000;
        if d < 0 || d % step_ms != 0 {
            return None;
        }
        let i = usize::try_from(d / step_ms).ok()?;
        (i < self.len()).then_some(i)
    }

    /// Iterate over `(time, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (Timestamp, f64)> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| (self.time_at(i), *v))
    }

    /// The sub-series of steps `[from, to)`, clamped to the series.
    pub fn slice(&self, from: usize, to: usize) -> Series {
        let to = to.min(self.len());
        let from = from.min(to);
        Series {
            id: self.id.clone(),
            start: self.time_at(from),
            step_s: self.step_s,
            values: self.values[from..to].to_vec(),
            time_format: self.time_format,
        }
    }

    /// Number of missing (`NaN`) steps.
    pub fn missing(&self) -> usize {
        self.values.iter().filter(|v| v.is_nan()).count()
    }
}

/// A quantile level such as 0.9, ordered and usable as a map key.
///
/// Stored in parts per million so that 0.975 and 0.9750000001 are one key and
/// iteration order (ascending) is stable for reproducible output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Quantile(u32);

impl Quantile {
    /// A level strictly between 0 and 1.
    ///
    /// # Errors
    /// [`CoreError::InvalidQuantile`] outside (0, 1).
    pub fn try_new(q: f64) -> Result<Self, CoreError> {
        if !(q > 0.0 && q < 1.0) {
            return Err(CoreError::InvalidQuantile { q });
        }
        Ok(Quantile((q * 1e6).round() as u32))
    }

    /// The level as a float.
    pub fn level(self) -> f64 {
        f64::from(self.0) / 1e6
    }

    /// Column name as crest writes it: 0.1 -> `p10`, 0.975 -> `p97.5`.
    pub fn column_name(self) -> String {
        let pct = f64::from(self.0) / 1e4;
        let s = format!("{pct:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("p{s}")
    }
}

impl TryFrom<f64> for Quantile {
    type Error = CoreError;
    fn try_from(q: f64) -> Result<Self, CoreError> {
        Quantile::try_new(q)
    }
}

impl From<Quantile> for f64 {
    fn from(q: Quantile) -> f64 {
        q.level()
    }
}

/// A probabilistic forecast: a mean path and one path per quantile level.
///
/// Read from JSON through [`Forecast::try_new`]'s checks (`serde(try_from)`),
/// so a forecast file or plan document with `step_s = 2^61` is refused when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForecastRepr")]
pub struct Forecast {
    /// Identifier of the series this forecasts.
    pub series_id: String,
    /// Time of the first forecast step.
    pub start: Timestamp,
    /// Seconds between steps (the history's own step).
    pub step_s: i64,
    /// Point forecast (mean) per step.
    pub mean: Vec<f64>,
    /// Quantile paths, ascending by level; each has `mean.len()` values.
    pub quantiles: BTreeMap<Quantile, Vec<f64>>,
    /// How the history wrote its timestamps.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// Where the mean blends forecasts of different shape (the models'
    /// and a holiday analog's), each of them, as long as the mean (equal to
    /// it where they agree). Empty when the mean is one forecast's. A
    /// policy tracking live demand's level can measure it against each and
    /// cover the highest, instead of a blend shaped like neither.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<Vec<f64>>,
}

impl Forecast {
    /// Build a forecast, checking that every path has the same length.
    ///
    /// # Errors
    /// [`CoreError::InvalidStep`] or [`CoreError::LengthMismatch`].
    pub fn try_new(
        series_id: impl Into<String>,
        start: Timestamp,
        step_s: i64,
        mean: Vec<f64>,
        quantiles: BTreeMap<Quantile, Vec<f64>>,
    ) -> Result<Self, CoreError> {
        if step_s <= 0 {
            return Err(CoreError::InvalidStep { step_s });
        }
        crate::bounds::check_grid("forecast", start, step_s, mean.len())?;
        for path in quantiles.values() {
            if path.len() != mean.len() {
                return Err(CoreError::LengthMismatch {
                    what: "forecast quantile path",
                    expected: mean.len(),
                    found: path.len(),
                });
            }
        }
        Ok(Forecast {
            series_id: series_id.into(),
            start,
            step_s,
            mean,
            quantiles,
            time_format: TimeFormat::default(),
            shapes: Vec::new(),
        })
    }

    /// The forecast with the shapes its mean blends ([`Forecast::shapes`]).
    ///
    /// # Errors
    /// [`CoreError::LengthMismatch`] when a shape is not as long as the mean.
    pub fn with_shapes(mut self, shapes: Vec<Vec<f64>>) -> Result<Self, CoreError> {
        if let Some(bad) = shapes.iter().find(|p| p.len() != self.mean.len()) {
            return Err(CoreError::LengthMismatch {
                what: "forecast shape",
                expected: self.mean.len(),
                found: bad.len(),
            });
        }
        self.shapes = shapes;
        Ok(self)
    }

    /// Number of forecast steps.
    pub fn horizon(&self) -> usize {
        self.mean.len()
    }

    /// Time of step `i`.
    pub fn time_at(&self, i: usize) -> Timestamp {
        self.start.add_secs(self.step_s * i as i64)
    }

    /// The path for a quantile level, if it was forecast.
    pub fn quantile(&self, q: f64) -> Option<&[f64]> {
        let key = Quantile::try_new(q).ok()?;
        self.quantiles.get(&key).map(Vec::as_slice)
    }

    /// The mean path as a series (for planners and traffic sources).
    pub fn mean_series(&self) -> Series {
        Series {
            id: self.series_id.clone(),
            start: self.start,
            step_s: self.step_s,
            values: self.mean.clone(),
            time_format: self.time_format,
        }
    }
}

/// What a [`Series`] is read from before [`Series::try_new`] checks it.
#[derive(Deserialize)]
struct SeriesRepr {
    id: String,
    start: Timestamp,
    step_s: i64,
    values: Vec<f64>,
    #[serde(default)]
    time_format: TimeFormat,
}

impl TryFrom<SeriesRepr> for Series {
    type Error = CoreError;
    fn try_from(r: SeriesRepr) -> Result<Self, CoreError> {
        Ok(Series::try_new(r.id, r.start, r.step_s, r.values)?.with_time_format(r.time_format))
    }
}

/// What a [`Forecast`] is read from before [`Forecast::try_new`] checks it.
#[derive(Deserialize)]
struct ForecastRepr {
    series_id: String,
    start: Timestamp,
    step_s: i64,
    mean: Vec<f64>,
    quantiles: BTreeMap<Quantile, Vec<f64>>,
    #[serde(default)]
    time_format: TimeFormat,
    #[serde(default)]
    shapes: Vec<Vec<f64>>,
}

impl TryFrom<ForecastRepr> for Forecast {
    type Error = CoreError;
    fn try_from(r: ForecastRepr) -> Result<Self, CoreError> {
        let mut f = Forecast::try_new(r.series_id, r.start, r.step_s, r.mean, r.quantiles)?
            .with_shapes(r.shapes)?;
        f.time_format = r.time_format;
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes a forecast's mean blends are read back with it (a plan
    /// document's forecast keeps them for `crest run --track-level`), and a
    /// shape of another length than the mean is refused when read.
    #[test]
    fn forecast_json_keeps_its_shapes_and_refuses_a_short_one() {
        let f = Forecast::try_new("a", Timestamp(0), 60, vec![1.0, 2.0], BTreeMap::new())
            .unwrap()
            .with_shapes(vec![vec![3.0, 4.0], vec![0.5, 1.0]])
            .unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<Forecast>(&json).unwrap(), f);
        let plain = Forecast::try_new("a", Timestamp(0), 60, vec![1.0], BTreeMap::new()).unwrap();
        assert!(!serde_json::to_string(&plain).unwrap().contains("shapes"));
        let short = r#"{"series_id":"a","start":0,"step_s":60,"mean":[1.0,2.0],"quantiles":{},"shapes":[[1.0]]}"#;
        let e = serde_json::from_str::<Forecast>(short)
            .unwrap_err()
            .to_string();
        assert!(e.contains("forecast shape"), "{e}");
    }

    #[test]
    fn forecast_json_with_an_absurd_step_is_refused_when_read() {
        let json = r#"{"series_id":"a","start":0,"step_s":2305843009213693952,"mean":[1.0,2.0],"quantiles":{}}"#;
        let e = serde_json::from_str::<Forecast>(json)
            .unwrap_err()
            .to_string();
        assert!(e.contains("forecast step"), "{e}");
        let ok = r#"{"series_id":"a","start":0,"step_s":3600,"mean":[1.0,2.0],"quantiles":{}}"#;
        assert_eq!(serde_json::from_str::<Forecast>(ok).unwrap().horizon(), 2);
    }

    #[test]
    fn rejects_non_positive_step() {
        assert_eq!(
            Series::try_new("a", Timestamp(0), 0, vec![]).unwrap_err(),
            CoreError::InvalidStep { step_s: 0 }
        );
    }

    #[test]
    fn index_of_respects_grid_and_range() {
        let s = Series::try_new("a", Timestamp::from_secs(100), 60, vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.index_of(Timestamp::from_secs(160)), Some(1));
        assert_eq!(s.index_of(Timestamp::from_secs(161)), None);
        assert_eq!(s.index_of(Timestamp::from_secs(280)), None);
        assert_eq!(s.index_of(Timestamp::from_secs(40)), None);
        assert_eq!(s.end(), Some(Timestamp::from_secs(220)));
    }

    #[test]
    fn quantile_column_names() {
        let name = |q| Quantile::try_new(q).unwrap().column_name();
        assert_eq!(name(0.1), "p10");
        assert_eq!(name(0.5), "p50");
        assert_eq!(name(0.975), "p97.5");
        assert_eq!(name(0.999), "p99.9");
        assert!(Quantile::try_new(1.0).is_err());
        assert!(Quantile::try_new(f64::NAN).is_err());
    }

    #[test]
    fn forecast_checks_path_lengths() {
        let mut q = BTreeMap::new();
        q.insert(Quantile::try_new(0.9).unwrap(), vec![1.0]);
        let err = Forecast::try_new("a", Timestamp(0), 60, vec![1.0, 2.0], q).unwrap_err();
        assert!(matches!(
            err,
            CoreError::LengthMismatch {
                expected: 2,
                found: 1,
                ..
            }
        ));
    }
}
