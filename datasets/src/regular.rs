//! Making history regular, changing its step, and describing it.
//!
//! Everything downstream of `crest-datasets` assumes a regular grid (see
//! [`crest_core::Series`]). Real exports are not regular: a collector restarts
//! and five minutes are missing, a clock drifts by a second. This module turns
//! sorted `(time, value)` points into a grid once, and says exactly what it did
//! (which gaps, how long, filled by which rule) so that nobody is surprised by a
//! straight line the loader drew.

use std::collections::HashMap;
use std::fmt;

use crest_core::{Series, TimeFormat, Timestamp};
use serde::{Deserialize, Serialize};

use crate::DatasetError;

/// Most slots a regularized series may have (guards against a 1-second grid over decades).
pub const MAX_SLOTS: usize = 50_000_000;

/// How missing steps are filled after regularizing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillRule {
    /// Leave them `NaN` (missing); models decide what to do. The default.
    #[default]
    Nan,
    /// Straight line between the neighbouring observations (edges stay `NaN`).
    Linear,
    /// Zero, for counts where "no row" means "nothing happened".
    Zero,
}

impl FillRule {
    /// The rule's name as the CLI and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            FillRule::Nan => "nan",
            FillRule::Linear => "linear",
            FillRule::Zero => "zero",
        }
    }
}

impl fmt::Display for FillRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FillRule::Nan => "left missing (NaN)",
            FillRule::Linear => "filled by linear interpolation",
            FillRule::Zero => "filled with zero",
        })
    }
}

impl std::str::FromStr for FillRule {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, DatasetError> {
        match s.to_ascii_lowercase().as_str() {
            "nan" | "none" | "missing" => Ok(FillRule::Nan),
            "linear" | "interpolate" => Ok(FillRule::Linear),
            "zero" | "0" => Ok(FillRule::Zero),
            _ => Err(DatasetError::Invalid {
                action: "choose a fill rule".into(),
                why: format!("\"{s}\" is not one of nan, linear, zero"),
            }),
        }
    }
}

/// How values in one resampling bucket are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Total of the bucket (counts: passengers, requests). A bucket with any
    /// missing step is `NaN`: a partial total would read as a dip in traffic.
    Sum,
    /// Average of the observed steps in the bucket (rates, gauges); `NaN` only
    /// when every step is missing.
    Mean,
    /// Largest observed value in the bucket (peaks, for capacity planning);
    /// `NaN` only when every step is missing.
    Max,
}

impl std::str::FromStr for Agg {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, DatasetError> {
        match s.to_ascii_lowercase().as_str() {
            "sum" => Ok(Agg::Sum),
            "mean" | "avg" => Ok(Agg::Mean),
            "max" => Ok(Agg::Max),
            _ => Err(DatasetError::Invalid {
                action: "choose an aggregation".into(),
                why: format!("\"{s}\" is not one of sum, mean, max"),
            }),
        }
    }
}

/// A run of consecutive grid steps with no row in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Time of the first missing step.
    pub from: Timestamp,
    /// Time of the last missing step.
    pub to: Timestamp,
    /// Number of missing steps.
    pub steps: usize,
    /// Length of the hole in seconds (`steps * step_s`).
    pub duration_s: i64,
}

/// What regularizing one series did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesReport {
    /// Series id (`""` for a single-series file).
    pub id: String,
    /// The grid step in seconds.
    pub step_s: i64,
    /// True when the step was detected (the most common positive difference),
    /// false when the caller fixed it.
    pub detected: bool,
    /// Rows read for this series.
    pub rows: usize,
    /// Grid steps from the first to the last row.
    pub slots: usize,
    /// Runs of grid steps with no row.
    pub gaps: Vec<Gap>,
    /// Rows whose value cell was empty (or `NaN`/`NA`): present in time, missing in value.
    pub empty_values: usize,
    /// Rows whose time was not on the grid and were moved to the nearest step.
    pub off_grid: usize,
    /// Rows that landed on a step already taken (after snapping) and were averaged into it.
    pub merged: usize,
    /// The rule applied to missing steps.
    pub fill: FillRule,
    /// Missing steps the rule gave a value (0 for [`FillRule::Nan`]).
    pub filled: usize,
    /// How the input wrote its times (the report writes them back alike).
    pub time_format: TimeFormat,
}

impl SeriesReport {
    /// Grid steps with no row, over all gaps.
    pub fn gap_steps(&self) -> usize {
        self.gaps.iter().map(|g| g.steps).sum()
    }
}

/// What regularizing a whole data set did: the stated fill rule and one report per series.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegularizationReport {
    /// The fill rule used for every series.
    pub fill: FillRule,
    /// One entry per series, in the data set's order.
    pub series: Vec<SeriesReport>,
}

impl fmt::Display for RegularizationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.series {
            let name = if r.id.is_empty() { "value" } else { &r.id };
            let at = |t: Timestamp| match r.time_format {
                TimeFormat::EpochSeconds => t.to_string(),
                f => t.format(f),
            };
            write!(
                f,
                "{name}: {} rows on a {} grid ({}) of {} steps",
                r.rows,
                human_step(r.step_s),
                if r.detected { "detected" } else { "given" },
                r.slots
            )?;
            if r.gaps.is_empty() {
                writeln!(f, ", no gaps")?;
            } else {
                writeln!(
                    f,
                    ", {} gap(s) totalling {} step(s), {}",
                    r.gaps.len(),
                    r.gap_steps(),
                    self.fill
                )?;
                for g in r.gaps.iter().take(20) {
                    if g.steps == 1 {
                        write!(f, "  gap at {}", at(g.from))?;
                    } else {
                        write!(f, "  gap from {} to {}", at(g.from), at(g.to))?;
                    }
                    writeln!(f, " ({} step(s), {})", g.steps, human_step(g.duration_s))?;
                }
                if r.gaps.len() > 20 {
                    writeln!(f, "  ... and {} more", r.gaps.len() - 20)?;
                }
            }
            if r.empty_values > 0 {
                writeln!(
                    f,
                    "  {} empty value cell(s) read as missing",
                    r.empty_values
                )?;
            }
            if r.off_grid > 0 {
                writeln!(
                    f,
                    "  {} row(s) off the grid moved to the nearest step ({} merged by averaging)",
                    r.off_grid, r.merged
                )?;
            }
        }
        Ok(())
    }
}

/// `1800` -> `30 min`, `3600` -> `1 h`, `86400` -> `1 day`, `90` -> `90 s`.
pub fn human_step(step_s: i64) -> String {
    if step_s % 86_400 == 0 {
        let d = step_s / 86_400;
        format!("{d} day{}", if d == 1 { "" } else { "s" })
    } else if step_s % 3600 == 0 {
        format!("{} h", step_s / 3600)
    } else if step_s % 60 == 0 {
        format!("{} min", step_s / 60)
    } else {
        format!("{step_s} s")
    }
}

/// The most common positive difference between consecutive sorted times, in
/// seconds (ties go to the smaller step).
///
/// # Errors
/// [`DatasetError::Interval`] with fewer than two distinct times or a sub-second step.
pub fn detect_interval(sorted: &[Timestamp], file: &str, id: &str) -> Result<i64, DatasetError> {
    let err = |why: String| DatasetError::Interval {
        file: file.to_string(),
        series: if id.is_empty() {
            String::new()
        } else {
            format!(" series \"{id}\"")
        },
        why,
    };
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for w in sorted.windows(2) {
        let d = w[1].millis() - w[0].millis();
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    let best = counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(d, _)| d);
    let Some(ms) = best else {
        return Err(err(format!(
            "need at least two distinct timestamps, found {}",
            sorted.len().min(1)
        )));
    };
    if ms % 1000 != 0 {
        return Err(err(format!(
            "the most common step is {ms} ms; crest works in whole seconds"
        )));
    }
    Ok(ms / 1000)
}

/// Put sorted, de-duplicated `(time, value)` points on a regular grid of `step_s`
/// seconds (detected when `None`) from the first to the last point, and fill
/// missing steps by `fill`.
///
/// Points off the grid move to the nearest step; two points on one step are averaged.
///
/// # Errors
/// [`DatasetError::Interval`] when the step cannot be detected, [`DatasetError::Invalid`]
/// for a non-positive step or a grid over [`MAX_SLOTS`] steps.
pub fn regularize(
    file: &str,
    id: &str,
    points: &[(Timestamp, f64)],
    step_s: Option<i64>,
    fill: FillRule,
    time_format: TimeFormat,
) -> Result<(Series, SeriesReport), DatasetError> {
    let (detected, step_s) = match step_s {
        Some(s) => (false, s),
        None => {
            let times: Vec<Timestamp> = points.iter().map(|p| p.0).collect();
            (true, detect_interval(&times, file, id)?)
        }
    };
    let invalid = |why: String| DatasetError::Invalid {
        action: format!("regularize {file}"),
        why,
    };
    if let Err(e) = crest_core::StepSecs::try_new("step", step_s) {
        return Err(invalid(e.to_string()));
    }
    let Some(&(start, _)) = points.first() else {
        return Err(invalid("no data points".into()));
    };
    let step_ms = step_s * 1000;
    let last = points.last().map_or(start, |p| p.0);
    let span_steps = (last.millis() - start.millis() + step_ms / 2) / step_ms;
    let slots = usize::try_from(span_steps)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&n| n <= MAX_SLOTS)
        .ok_or_else(|| {
            invalid(format!(
                "a {step_s} s grid from {start} to {last} has more than {MAX_SLOTS} steps"
            ))
        })?;
    let mut sums = vec![0.0_f64; slots];
    let mut counts = vec![0_u32; slots];
    let mut seen = vec![false; slots];
    let (mut off_grid, mut merged, mut empty_values) = (0, 0, 0);
    for &(t, v) in points {
        let off = t.millis() - start.millis();
        if off % step_ms != 0 {
            off_grid += 1;
        }
        let k = usize::try_from((off + step_ms / 2) / step_ms)
            .unwrap_or(0)
            .min(slots - 1);
        if seen[k] {
            merged += 1;
        }
        seen[k] = true;
        if v.is_nan() {
            empty_values += 1;
        } else {
            sums[k] += v;
            counts[k] += 1;
        }
    }
    let mut values: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c == 0 { f64::NAN } else { s / f64::from(c) })
        .collect();
    let mut gaps = Vec::new();
    let mut i = 0;
    while i < slots {
        if seen[i] {
            i += 1;
            continue;
        }
        let j = (i..slots).find(|&j| seen[j]).unwrap_or(slots);
        let steps = j - i;
        gaps.push(Gap {
            from: start.add_secs(step_s * i as i64),
            to: start.add_secs(step_s * (j - 1) as i64),
            steps,
            duration_s: step_s * steps as i64,
        });
        i = j;
    }
    let filled = fill_missing(&mut values, fill);
    let series = Series::try_new(id, start, step_s, values)
        .map_err(|source| DatasetError::Core {
            file: file.to_string(),
            source,
        })?
        .with_time_format(time_format);
    let report = SeriesReport {
        id: id.to_string(),
        step_s,
        detected,
        rows: points.len(),
        slots,
        gaps,
        empty_values,
        off_grid,
        merged,
        fill,
        filled,
        time_format,
    };
    Ok((series, report))
}

/// Fill `NaN` values in place by `rule`; returns how many were given a value.
pub fn fill_missing(values: &mut [f64], rule: FillRule) -> usize {
    match rule {
        FillRule::Nan => 0,
        FillRule::Zero => {
            let mut n = 0;
            for v in values.iter_mut().filter(|v| v.is_nan()) {
                *v = 0.0;
                n += 1;
            }
            n
        }
        FillRule::Linear => {
            let mut n = 0;
            let mut prev: Option<usize> = None;
            let mut i = 0;
            while i < values.len() {
                if !values[i].is_nan() {
                    prev = Some(i);
                    i += 1;
                    continue;
                }
                let next = (i..values.len()).find(|&j| !values[j].is_nan());
                if let (Some(a), Some(b)) = (prev, next) {
                    let (va, vb) = (values[a], values[b]);
                    for (k, v) in values.iter_mut().enumerate().take(b).skip(i) {
                        *v = va + (vb - va) * (k - a) as f64 / (b - a) as f64;
                        n += 1;
                    }
                }
                i = next.unwrap_or(values.len());
            }
            n
        }
    }
}

/// Change a series' step to `step_s` seconds, combining values with `agg`.
///
/// Buckets are aligned to whole multiples of `step_s` since the epoch (UTC), so
/// hourly buckets start on the hour and daily buckets at midnight of the series'
/// own clock (naive times are read as UTC). **Partial buckets:** a bucket at
/// either end that the series covers only in part is dropped, so the result
/// starts and ends on complete buckets; inside the series, missing steps follow
/// the rule of [`Agg`] (a `Sum` over a bucket with a missing step is `NaN`).
///
/// # Errors
/// [`DatasetError::Invalid`] when `step_s` is not a positive whole multiple of the
/// series' step (crest does not split a measured bucket), or when no complete bucket fits.
pub fn resample(series: &Series, step_s: i64, agg: Agg) -> Result<Series, DatasetError> {
    let invalid = |why: String| DatasetError::Invalid {
        action: format!(
            "resample series \"{}\" from {} to {}",
            series.id(),
            human_step(series.step_s()),
            human_step(step_s)
        ),
        why,
    };
    let src = series.step_s();
    if let Err(e) = crest_core::StepSecs::try_new("new step", step_s) {
        return Err(invalid(e.to_string()));
    }
    if step_s % src != 0 {
        return Err(invalid(format!(
            "the new step must be a positive whole multiple of {src} s"
        )));
    }
    if step_s == src {
        return Ok(series.clone());
    }
    let k = (step_s / src) as usize;
    let step_ms = step_s * 1000;
    let start_ms = series.start().millis();
    // First bucket boundary at or after the start.
    let first = start_ms.div_euclid(step_ms) * step_ms;
    let first = if first < start_ms {
        first + step_ms
    } else {
        first
    };
    // Aligned buckets need the source grid to hit bucket boundaries.
    if (first - start_ms) % (src * 1000) != 0 {
        return Err(invalid(format!(
            "the series' grid (starting {}) does not line up with {} boundaries",
            series.start(),
            human_step(step_s)
        )));
    }
    let skip = ((first - start_ms) / (src * 1000)) as usize;
    let values = series.values();
    let n_buckets = values.len().saturating_sub(skip) / k;
    if n_buckets == 0 {
        return Err(invalid(
            "the series is shorter than one complete bucket".into(),
        ));
    }
    let mut out = Vec::with_capacity(n_buckets);
    for b in 0..n_buckets {
        let chunk = &values[skip + b * k..skip + (b + 1) * k];
        let present = chunk.iter().filter(|v| !v.is_nan());
        let n_present = chunk.iter().filter(|v| !v.is_nan()).count();
        let v = match agg {
            Agg::Sum if n_present == k => chunk.iter().sum(),
            Agg::Sum => f64::NAN,
            _ if n_present == 0 => f64::NAN,
            Agg::Mean => present.sum::<f64>() / n_present as f64,
            Agg::Max => present.fold(f64::NEG_INFINITY, |a, &b| a.max(b)),
        };
        out.push(v);
    }
    Series::try_new(series.id(), Timestamp(first), step_s, out)
        .map(|s| s.with_time_format(series.time_format()))
        .map_err(|e| invalid(e.to_string()))
}

/// A short description of one series, as `crest datasets show` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Series id.
    pub id: String,
    /// Step in seconds.
    pub interval_s: i64,
    /// Time of the first step (`None` for an empty series).
    pub start: Option<Timestamp>,
    /// Time of the last step.
    pub end: Option<Timestamp>,
    /// Grid steps, missing ones included.
    pub points: usize,
    /// Steps with a value.
    pub present: usize,
    /// Steps without a value (`NaN`).
    pub missing: usize,
    /// Runs of consecutive missing steps.
    pub gaps: usize,
    /// The longest run of missing steps.
    pub longest_gap_steps: usize,
    /// Smallest value (`None` when nothing is present).
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Mean of the present values.
    pub mean: Option<f64>,
    /// How the input wrote its times.
    pub time_format: TimeFormat,
}

/// Describe a series: interval, span, points, gaps, missing, min/max/mean.
pub fn summary(series: &Series) -> Summary {
    let v = series.values();
    let (mut gaps, mut longest, mut run) = (0, 0, 0);
    let (mut min, mut max, mut sum, mut present) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0);
    for &x in v {
        if x.is_nan() {
            if run == 0 {
                gaps += 1;
            }
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
            present += 1;
            min = min.min(x);
            max = max.max(x);
            sum += x;
        }
    }
    let some = |x: f64| (present > 0).then_some(x);
    Summary {
        id: series.id().to_string(),
        interval_s: series.step_s(),
        start: (!series.is_empty()).then(|| series.start()),
        end: series.end(),
        points: v.len(),
        present,
        missing: v.len() - present,
        gaps,
        longest_gap_steps: longest,
        min: some(min),
        max: some(max),
        mean: some(sum / present.max(1) as f64),
        time_format: series.time_format(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pts(secs: &[(i64, f64)]) -> Vec<(Timestamp, f64)> {
        secs.iter()
            .map(|&(s, v)| (Timestamp::from_secs(s), v))
            .collect()
    }

    #[test]
    fn detects_the_most_common_step_and_reports_gaps() {
        let p = pts(&[(0, 1.0), (60, 2.0), (120, 3.0), (300, 6.0), (360, 7.0)]);
        let (s, r) = regularize("f", "", &p, None, FillRule::Nan, TimeFormat::Naive).unwrap();
        assert_eq!(s.step_s(), 60);
        assert_eq!(s.len(), 7);
        assert_eq!(r.gaps.len(), 1);
        assert_eq!(
            r.gaps[0],
            Gap {
                from: Timestamp::from_secs(180),
                to: Timestamp::from_secs(240),
                steps: 2,
                duration_s: 120
            }
        );
        assert!(s.values()[3].is_nan() && s.values()[4].is_nan());
        assert_eq!(r.filled, 0);
        let text = RegularizationReport {
            fill: FillRule::Nan,
            series: vec![r],
        }
        .to_string();
        assert!(
            text.contains("1 gap(s) totalling 2 step(s), left missing (NaN)"),
            "{text}"
        );
    }

    #[test]
    fn fill_rules_do_what_they_say() {
        let p = pts(&[(0, 1.0), (60, 2.0), (240, 5.0)]);
        let (s, r) =
            regularize("f", "", &p, Some(60), FillRule::Linear, TimeFormat::Naive).unwrap();
        assert_eq!(s.values(), &[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(r.filled, 2);
        let (s, _) = regularize("f", "", &p, Some(60), FillRule::Zero, TimeFormat::Naive).unwrap();
        assert_eq!(s.values(), &[1.0, 2.0, 0.0, 0.0, 5.0]);
    }

    #[test]
    fn off_grid_rows_snap_and_merge() {
        let p = pts(&[(0, 1.0), (60, 2.0), (121, 3.0), (150, 5.0), (180, 4.0)]);
        let (s, r) = regularize("f", "", &p, Some(60), FillRule::Nan, TimeFormat::Naive).unwrap();
        assert_eq!(s.values(), &[1.0, 2.0, 3.0, 4.5]);
        assert_eq!((r.off_grid, r.merged), (2, 1));
    }

    #[test]
    fn resample_sums_half_hours_into_hours_and_drops_partial_edges() {
        // Starts at 00:30, so the 00:00 bucket is partial and dropped; ends at 02:30,
        // so the 02:00 bucket is partial too.
        let s = Series::try_new(
            "a",
            Timestamp::from_secs(1800),
            1800,
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
        )
        .unwrap();
        let h = resample(&s, 3600, Agg::Sum).unwrap();
        assert_eq!(h.start(), Timestamp::from_secs(3600));
        assert_eq!(h.values(), &[5.0, 9.0]);
        let m = resample(&s, 3600, Agg::Mean).unwrap();
        assert_eq!(m.values(), &[2.5, 4.5]);
        let x = resample(&s, 3600, Agg::Max).unwrap();
        assert_eq!(x.values(), &[3.0, 5.0]);
    }

    #[test]
    fn resample_sum_with_a_hole_is_nan_but_mean_uses_what_is_there() {
        let s = Series::try_new("a", Timestamp(0), 1800, vec![1.0, f64::NAN, 3.0, 4.0]).unwrap();
        let h = resample(&s, 3600, Agg::Sum).unwrap();
        assert!(h.values()[0].is_nan());
        assert_eq!(h.values()[1], 7.0);
        assert_eq!(resample(&s, 3600, Agg::Mean).unwrap().values()[0], 1.0);
    }

    #[test]
    fn resample_rejects_steps_that_split_buckets() {
        let s = Series::try_new("a", Timestamp(0), 1800, vec![1.0; 8]).unwrap();
        let e = resample(&s, 2700, Agg::Sum).unwrap_err().to_string();
        assert_eq!(
            e,
            "failed to resample series \"a\" from 30 min to 45 min: the new step must be a positive whole multiple of 1800 s"
        );
    }

    #[test]
    fn summary_counts_gaps_and_stats() {
        let s = Series::try_new(
            "a",
            Timestamp(0),
            60,
            vec![1.0, f64::NAN, f64::NAN, 3.0, f64::NAN, 5.0],
        )
        .unwrap();
        let m = summary(&s);
        assert_eq!(
            (m.points, m.missing, m.gaps, m.longest_gap_steps),
            (6, 3, 2, 2)
        );
        assert_eq!((m.min, m.max, m.mean), (Some(1.0), Some(5.0), Some(3.0)));
    }

    proptest! {
        #[test]
        fn regularized_grid_holds_every_point(
            steps in proptest::collection::btree_set(0i64..500, 2..60),
            step in 1i64..3600,
        ) {
            let p: Vec<(Timestamp, f64)> =
                steps.iter().map(|&k| (Timestamp::from_secs(k * step), k as f64)).collect();
            let (s, r) =
                regularize("f", "", &p, Some(step), FillRule::Nan, TimeFormat::Naive).unwrap();
            prop_assert_eq!(s.len() - s.missing(), p.len());
            prop_assert_eq!(r.gap_steps(), s.missing());
            for (t, v) in &p {
                let i = s.index_of(*t).unwrap();
                prop_assert_eq!(s.values()[i], *v);
            }
        }

        #[test]
        fn hourly_sum_preserves_the_total(vals in proptest::collection::vec(0.0f64..1e4, 2..400)) {
            let s = Series::try_new("a", Timestamp(0), 1800, vals.clone()).unwrap();
            let h = resample(&s, 3600, Agg::Sum).unwrap();
            let full = vals.len() / 2 * 2;
            let a: f64 = vals[..full].iter().sum();
            let b: f64 = h.values().iter().sum();
            prop_assert!((a - b).abs() <= 1e-6 * a.max(1.0));
        }
    }
}
