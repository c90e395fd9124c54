//! History from Prometheus, as a [`Dataset`] the forecaster takes like any
//! CSV: the same regularizing (fixed step, gaps left `NaN`), one series per
//! returned label set, so the same samples give the same forecast to the
//! last digit.
//!
//! Pulls are cached on disk (Parquet, [`crest_datasets::points`]) under a
//! key of (URL, query, step). A request inside what the cache holds reads it
//! and pulls nothing; a request that runs past its end pulls only the tail
//! (from the cache's last step, which may have been incomplete when pulled);
//! anything else, or `refresh`, pulls everything again. The grid is anchored
//! at multiples of the step (`--range` ends at now rounded down onto it), so
//! consecutive runs line up with the cache.

use std::path::{Path, PathBuf};

use crest_core::{TimeFormat, Timestamp};
use crest_datasets::points::{Points, read_points_parquet, write_points_parquet};
use crest_datasets::{Dataset, FillRule, RegularizationReport, Source, regularize};
use crest_prometheus::{Client, ClientConfig, RangeRequest};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PlanningError;

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct PromHistory {
    /// Server, auth, TLS, retries.
    pub client: ClientConfig,
    /// Query, range and step.
    pub range: RangeRequest,
    /// Cache directory (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Pull everything again even if cached.
    pub refresh: bool,
}

/// How a history was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullStats {
    /// Evaluation steps pulled from Prometheus (0: all from the cache).
    pub steps_pulled: u64,
    /// Samples received (over all series).
    pub samples: u64,
    /// Whether any of it came from the cache.
    pub cache_hit: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct CacheMeta {
    url: String,
    query: String,
    step_s: i64,
    start_s: i64,
    end_s: i64,
}

/// The grid a `--range` ending now uses: `(start, end)` with `end` = now
/// rounded down to a multiple of `step_s`.
pub fn range_ending_at(now_s: i64, range_s: i64, step_s: i64) -> (i64, i64) {
    let end = now_s.div_euclid(step_s.max(1)) * step_s.max(1);
    (end - range_s, end)
}

fn cache_paths(dir: &Path, h: &PromHistory) -> (PathBuf, PathBuf) {
    let mut d = Sha256::new();
    for part in [
        h.client.url.trim_end_matches('/'),
        h.range.query.as_str(),
        &h.range.step_s.to_string(),
    ] {
        d.update(part.as_bytes());
        d.update([0]);
    }
    let key: String = d.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (
        dir.join(format!("{key}.parquet")),
        dir.join(format!("{key}.json")),
    )
}

fn prom_err(h: &PromHistory, e: crest_prometheus::PromError) -> PlanningError {
    PlanningError::Prometheus {
        query: h.range.query.clone(),
        source: Box::new(e),
    }
}

fn pull_range(
    h: &PromHistory,
    start_s: i64,
    end_s: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Points>, PlanningError> {
    let client = Client::new(&h.client).map_err(|e| prom_err(h, e))?;
    let req = RangeRequest {
        start_s,
        end_s,
        ..h.range.clone()
    };
    let got = crest_prometheus::block_on(crest_prometheus::pull(&client, &req, progress))
        .map_err(|e| prom_err(h, e))?;
    Ok(got.into_iter().map(|s| (s.id, s.points)).collect())
}

/// Pull (or read from the cache) `h`'s history as a dataset; `progress`
/// gets the evaluation steps pulled as chunks land (total: `h.range.points()`).
///
/// # Errors
/// [`PlanningError::Prometheus`] for a failed pull, [`PlanningError::Cache`]
/// for an unwritable cache, [`PlanningError::Invalid`] when the query
/// returned nothing.
pub fn load_prometheus(
    h: &PromHistory,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(Dataset, PullStats), PlanningError> {
    let r = &h.range;
    if r.step_s <= 0 || r.points() == 0 {
        return Err(PlanningError::Invalid(format!(
            "empty Prometheus range: {} to {} every {} s",
            r.start_s, r.end_s, r.step_s
        )));
    }
    let end_s = r.start_s + (r.points() - 1) * r.step_s;
    let mut stats = PullStats::default();
    let points = match &h.cache_dir {
        None => {
            stats.steps_pulled = r.points() as u64;
            pull_range(h, r.start_s, end_s, progress)?
        }
        Some(dir) => cached(h, dir, end_s, &mut stats, progress)?,
    };
    stats.samples = points.iter().map(|p| p.1.len() as u64).sum();
    let name = "prometheus";
    let mut series = Vec::new();
    let mut reports = Vec::new();
    for (id, pts) in &points {
        let pts: Vec<(Timestamp, f64)> = pts
            .iter()
            .filter(|p| p.0 >= r.start_s && p.0 <= end_s)
            .map(|&(t, v)| (Timestamp::from_secs(t), v))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let (s, rep) = regularize(
            name,
            id,
            &pts,
            Some(r.step_s),
            FillRule::Nan,
            TimeFormat::Rfc3339 { offset_s: 0 },
        )
        .map_err(|e| PlanningError::History {
            name: r.query.clone(),
            source: Box::new(e),
        })?;
        series.push(s);
        reports.push(rep);
    }
    if series.is_empty() {
        return Err(PlanningError::Invalid(format!(
            "Prometheus at {} returned no samples for {:?} between {} and {}",
            h.client.url,
            r.query,
            fmt_time(r.start_s),
            fmt_time(end_s)
        )));
    }
    let long_format = !(series.len() == 1 && series[0].id().is_empty());
    Ok((
        Dataset {
            name: name.into(),
            source: Source::Prometheus {
                url: h.client.url.clone(),
                query: r.query.clone(),
            },
            long_format,
            series,
            report: RegularizationReport {
                fill: FillRule::Nan,
                series: reports,
            },
        },
        stats,
    ))
}

fn fmt_time(s: i64) -> String {
    Timestamp::from_secs(s).format(TimeFormat::Rfc3339 { offset_s: 0 })
}

fn cached(
    h: &PromHistory,
    dir: &Path,
    end_s: i64,
    stats: &mut PullStats,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Points>, PlanningError> {
    let r = &h.range;
    let (data, meta_path) = cache_paths(dir, h);
    let cache_err = |file: &Path, source| PlanningError::Cache {
        file: file.display().to_string(),
        source: Box::new(source),
    };
    let meta: Option<CacheMeta> = if h.refresh {
        None
    } else {
        std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    };
    let usable = meta.filter(|m| {
        m.url == h.client.url.trim_end_matches('/')
            && m.query == r.query
            && m.step_s == r.step_s
            && m.start_s <= r.start_s
            && (r.start_s - m.start_s) % r.step_s == 0
            && end_s >= m.start_s
    });
    let (points, start_s, new_end) = match usable {
        Some(m) => {
            // A cache file that cannot be read is pulled again, not an error.
            match read_points_parquet(&data) {
                Ok(old) if end_s <= m.end_s => {
                    stats.cache_hit = true;
                    return Ok(old);
                }
                Ok(mut old) => {
                    stats.cache_hit = true;
                    let tail_from = m.end_s.max(m.start_s);
                    stats.steps_pulled = ((end_s - tail_from) / r.step_s + 1) as u64;
                    let tail = pull_range(h, tail_from, end_s, progress)?;
                    for s in &mut old {
                        s.1.retain(|p| p.0 < tail_from);
                    }
                    for (id, pts) in tail {
                        match old.iter_mut().find(|s| s.0 == id) {
                            Some(s) => s.1.extend(pts),
                            None => old.push((id, pts)),
                        }
                    }
                    old.sort_by(|a, b| a.0.cmp(&b.0));
                    (old, m.start_s, end_s)
                }
                Err(_) => {
                    stats.steps_pulled = r.points() as u64;
                    (pull_range(h, r.start_s, end_s, progress)?, r.start_s, end_s)
                }
            }
        }
        None => {
            stats.steps_pulled = r.points() as u64;
            (pull_range(h, r.start_s, end_s, progress)?, r.start_s, end_s)
        }
    };
    std::fs::create_dir_all(dir).map_err(|source| {
        cache_err(
            dir,
            crest_datasets::DatasetError::Io {
                file: dir.to_path_buf(),
                source,
            },
        )
    })?;
    write_points_parquet(&data, &points).map_err(|e| cache_err(&data, e))?;
    let meta = CacheMeta {
        url: h.client.url.trim_end_matches('/').to_string(),
        query: r.query.clone(),
        step_s: r.step_s,
        start_s,
        end_s: new_end,
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    std::fs::write(&meta_path, json).map_err(|source| {
        cache_err(
            &meta_path,
            crest_datasets::DatasetError::Io {
                file: meta_path.clone(),
                source,
            },
        )
    })?;
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ends_on_the_step_grid() {
        assert_eq!(range_ending_at(1_000, 600, 300), (300, 900));
        assert_eq!(range_ending_at(900, 600, 300), (300, 900));
    }

    #[test]
    fn cache_keys_differ_by_query_and_step() {
        let d = Path::new("/c");
        let h = |q: &str, step: i64| PromHistory {
            client: ClientConfig::new("http://x:9090/"),
            range: RangeRequest {
                query: q.into(),
                start_s: 0,
                end_s: 600,
                step_s: step,
            },
            cache_dir: None,
            refresh: false,
        };
        assert_eq!(cache_paths(d, &h("a", 60)), cache_paths(d, &h("a", 60)));
        assert_ne!(cache_paths(d, &h("a", 60)).0, cache_paths(d, &h("b", 60)).0);
        assert_ne!(cache_paths(d, &h("a", 60)).0, cache_paths(d, &h("a", 30)).0);
    }
}
