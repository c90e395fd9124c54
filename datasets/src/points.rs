//! Raw samples to and from Parquet, exactly: `series_id` (text),
//! `timestamp` (Unix seconds, i64), `value` (f64), one row per sample.
//!
//! The on-disk cache of history pulled from Prometheus uses it, so a re-run
//! reads back the very samples the first run pulled (no timestamp or number
//! is re-parsed from text) and goes through the same regularizing as a fresh
//! pull.

use std::io::Cursor;
use std::path::Path;

use polars::prelude::*;

use crate::DatasetError;

/// One series' samples: its id and `(unix seconds, value)` pairs.
pub type Points = (String, Vec<(i64, f64)>);

fn format_err(path: &Path, e: impl std::fmt::Display) -> DatasetError {
    DatasetError::Format {
        file: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Write `series` to `path` (replaced atomically: written beside it, then renamed).
///
/// # Errors
/// [`DatasetError::Io`] or [`DatasetError::Format`].
pub fn write_points_parquet(path: &Path, series: &[Points]) -> Result<(), DatasetError> {
    let n: usize = series.iter().map(|s| s.1.len()).sum();
    let mut ids = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut vs = Vec::with_capacity(n);
    for (id, pts) in series {
        for &(t, v) in pts {
            ids.push(id.as_str());
            ts.push(t);
            vs.push(v);
        }
    }
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("series_id".into(), ids),
            Column::new("timestamp".into(), ts),
            Column::new("value".into(), vs),
        ],
    )
    .map_err(|e| format_err(path, e))?;
    let tmp = path.with_extension("parquet.tmp");
    let io = |source| DatasetError::Io {
        file: tmp.clone(),
        source,
    };
    let f = std::fs::File::create(&tmp).map_err(io)?;
    ParquetWriter::new(f)
        .finish(&mut df)
        .map_err(|e| format_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|source| DatasetError::Io {
        file: path.to_path_buf(),
        source,
    })
}

/// Read what [`write_points_parquet`] wrote, series in file order.
///
/// # Errors
/// [`DatasetError::Io`], or [`DatasetError::Format`] for another layout.
pub fn read_points_parquet(path: &Path) -> Result<Vec<Points>, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let df = crate::load::guarded(&path.display().to_string(), || {
        ParquetReader::new(Cursor::new(bytes)).finish()
    })?;
    let col = |name: &str| df.column(name).map_err(|e| format_err(path, e));
    let ids = col("series_id")?.str().map_err(|e| format_err(path, e))?;
    let ts = col("timestamp")?.i64().map_err(|e| format_err(path, e))?;
    let vs = col("value")?.f64().map_err(|e| format_err(path, e))?;
    let mut out: Vec<Points> = Vec::new();
    for ((id, t), v) in ids.iter().zip(ts.iter()).zip(vs.iter()) {
        let (Some(id), Some(t), Some(v)) = (id, t, v) else {
            return Err(format_err(path, "a null cell"));
        };
        match out.last_mut() {
            Some(last) if last.0 == id => last.1.push((t, v)),
            _ => out.push((id.to_string(), vec![(t, v)])),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.parquet");
        let s = vec![
            (String::new(), vec![(0, 0.1 + 0.2), (300, 1e-300)]),
            ("job=a,x=\"y\"".to_string(), vec![(600, 3.0)]),
        ];
        write_points_parquet(&p, &s).unwrap();
        assert_eq!(read_points_parquet(&p).unwrap(), s);
        std::fs::write(&p, b"nope").unwrap();
        assert!(read_points_parquet(&p).is_err());
    }
}
