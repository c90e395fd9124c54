//! Long history through `/api/v1/query_range`.
//!
//! Prometheus refuses a range query that would return more than 11,000
//! points per series ("exceeded maximum resolution of 11,000 points per
//! timeseries"), so 90 days at 5 m (25,920 points) takes three calls. The
//! range is cut into chunks on the same step grid (each chunk starts one
//! step after the previous one's end, so no point is asked twice), a few
//! chunks run at once, each with the client's retries, and the answers are
//! merged per label set. A step with no sample stays absent (a gap); counter
//! resets are PromQL's business (`rate`, `increase`).

use std::collections::BTreeMap;

use crate::{Client, Labels, PromError, series_id};

/// Prometheus' limit on points per series in one range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Chunks pulled at once.
const PARALLEL: usize = 4;

/// What to pull: `query` evaluated every `step_s` from `start_s` to `end_s`
/// (Unix seconds, inclusive; `end_s` is moved down onto the grid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRequest {
    /// PromQL.
    pub query: String,
    /// First evaluation, Unix seconds.
    pub start_s: i64,
    /// Last evaluation (at most), Unix seconds.
    pub end_s: i64,
    /// Step, seconds.
    pub step_s: i64,
}

impl RangeRequest {
    /// Evaluation points in the range.
    pub fn points(&self) -> i64 {
        if self.step_s <= 0 || self.end_s < self.start_s {
            0
        } else {
            (self.end_s - self.start_s) / self.step_s + 1
        }
    }

    /// The `(start, end)` of each call, every one at most `max_points` long,
    /// covering the grid exactly once.
    pub fn chunks(&self, max_points: i64) -> Vec<(i64, i64)> {
        let n = self.points();
        let per = max_points.max(1);
        let mut out = Vec::new();
        let mut i = 0;
        while i < n {
            let k = per.min(n - i);
            let a = self.start_s + i * self.step_s;
            out.push((a, a + (k - 1) * self.step_s));
            i += k;
        }
        out
    }
}

/// One pulled series: its labels, crest's id for them ([`series_id`]) and
/// the samples present, `(unix seconds, value)` in time order, finite only
/// (a missing, NaN or infinite sample is a gap).
#[derive(Debug, Clone, PartialEq)]
pub struct PulledSeries {
    /// Labels.
    pub labels: Labels,
    /// `series_id(labels)`.
    pub id: String,
    /// Samples present.
    pub points: Vec<(i64, f64)>,
}

/// Pull `req` in chunks; `progress(points)` is called as each chunk lands
/// with the evaluation steps it covered (the total is [`RangeRequest::points`]).
/// Series come back sorted by id.
///
/// # Errors
/// [`PromError::Config`] for an empty range or a step <= 0; the first
/// chunk's failure after its retries.
pub async fn pull(
    client: &Client,
    req: &RangeRequest,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<PulledSeries>, PromError> {
    if req.step_s <= 0 {
        return Err(PromError::Config(format!(
            "the step must be positive, got {} s",
            req.step_s
        )));
    }
    if req.end_s < req.start_s {
        return Err(PromError::Config(format!(
            "the range ends ({}) before it starts ({})",
            req.end_s, req.start_s
        )));
    }
    let chunks = req.chunks(MAX_POINTS_PER_SERIES);
    let mut merged: BTreeMap<String, PulledSeries> = BTreeMap::new();
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut answers: Vec<Option<Vec<crate::client::RangeSeries>>> = vec![None; chunks.len()];
    while next < chunks.len() || !set.is_empty() {
        while next < chunks.len() && set.len() < PARALLEL {
            let (a, b) = chunks[next];
            let c = client.clone();
            let q = req.query.clone();
            let step = req.step_s;
            let i = next;
            set.spawn(async move { (i, a, b, c.query_range(&q, a, b, step).await) });
            next += 1;
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let (i, a, b, r) = done.map_err(|e| PromError::Config(format!("pull task failed: {e}")))?;
        answers[i] = Some(r?);
        progress(((b - a) / req.step_s + 1) as u64);
    }
    // Merge in chunk order so points stay sorted.
    for part in answers.into_iter().flatten() {
        for s in part {
            let id = series_id(&s.labels);
            let e = merged.entry(id.clone()).or_insert_with(|| PulledSeries {
                labels: s.labels.clone(),
                id,
                points: Vec::new(),
            });
            e.points.extend(
                s.points
                    .into_iter()
                    .filter(|p| p.1.is_finite())
                    .map(|(t, v)| (t.round() as i64, v)),
            );
        }
    }
    Ok(merged.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_grid_once_under_the_limit() {
        // 90 days at 5 m: 25,921 evaluation points -> 3 calls.
        let r = RangeRequest {
            query: "up".into(),
            start_s: 0,
            end_s: 90 * 86_400,
            step_s: 300,
        };
        assert_eq!(r.points(), 25_921);
        let c = r.chunks(MAX_POINTS_PER_SERIES);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], (0, 10_999 * 300));
        assert_eq!(c[1].0, c[0].1 + 300);
        assert_eq!(c[2].1, 90 * 86_400);
        let total: i64 = c.iter().map(|(a, b)| (b - a) / 300 + 1).sum();
        assert_eq!(total, r.points());
        assert!(c.iter().all(|(a, b)| (b - a) / 300 < MAX_POINTS_PER_SERIES));
        // An end off the grid moves down onto it; one point is one chunk.
        let r = RangeRequest { end_s: 299, ..r };
        assert_eq!(r.chunks(10), vec![(0, 0)]);
        let r = RangeRequest { end_s: -1, ..r };
        assert!(r.chunks(10).is_empty());
    }
}
