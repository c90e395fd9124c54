//! Instances needed for a demand forecast at a target utilisation.
//!
//! Reads the forecast CSV as `crest forecast` writes it (`timestamp,mean,
//! p10,p50,p90`, possibly more quantile columns), picks one column by name,
//! finds the crest and answers how many instances are missing (or spare).

use std::path::Path;

use crest_core::Capacity;
use serde::{Deserialize, Serialize};

use crate::HeadroomError;

/// One demand column of a forecast file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// The column used (`mean`, `p90`, ...).
    pub column: String,
    /// `(timestamp text, value)` per row, rows with an empty/NaN value skipped.
    pub points: Vec<(String, f64)>,
}

impl Demand {
    /// Read `column` from a CSV with a header line.
    ///
    /// # Errors
    /// [`HeadroomError::Demand`] naming the file, line and problem.
    pub fn read_csv(path: &Path, column: &str) -> Result<Demand, HeadroomError> {
        let text = std::fs::read_to_string(path).map_err(|e| HeadroomError::Demand {
            path: path.display().to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        Self::parse_csv(&text, column).map_err(|(line, message)| HeadroomError::Demand {
            path: path.display().to_string(),
            line,
            message,
        })
    }

    /// Parse CSV text (see [`Self::read_csv`]); errors are `(line, message)`.
    ///
    /// # Errors
    /// A missing column, a short row or a non-numeric value.
    pub fn parse_csv(text: &str, column: &str) -> Result<Demand, (usize, String)> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or((1, "empty file, expected a header".to_string()))?;
        let cols: Vec<&str> = header
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        let ci = cols
            .iter()
            .position(|c| *c == column)
            .ok_or_else(|| (1, format!("no column {column:?}; found {}", cols.join(","))))?;
        let ti = cols.iter().position(|c| *c == "timestamp").unwrap_or(0);
        let mut points = Vec::new();
        for (i, line) in lines {
            let vals: Vec<&str> = line.split(',').map(str::trim).collect();
            let v = vals.get(ci).ok_or_else(|| {
                (
                    i + 1,
                    format!("expected {} fields, found {}", cols.len(), vals.len()),
                )
            })?;
            if v.is_empty() || v.eq_ignore_ascii_case("nan") {
                continue;
            }
            let x: f64 = v.parse().map_err(|_| {
                (
                    i + 1,
                    format!("column {column:?}: expected a number, found {v:?}"),
                )
            })?;
            if !x.is_finite() || x < 0.0 {
                return Err((
                    i + 1,
                    format!("column {column:?}: expected a finite non-negative number, found {v}"),
                ));
            }
            points.push((vals.get(ti).copied().unwrap_or_default().to_string(), x));
        }
        if points.is_empty() {
            return Err((0, format!("no values in column {column:?}")));
        }
        Ok(Demand {
            column: column.to_string(),
            points,
        })
    }

    /// The highest point (first of equals).
    pub fn crest(&self) -> Option<&(String, f64)> {
        self.points
            .iter()
            .fold(None, |best: Option<&(String, f64)>, p| match best {
                Some(b) if b.1 >= p.1 => Some(b),
                _ => Some(p),
            })
    }
}

/// The answer to "how many instances are missing at the crest".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancesAnswer {
    /// Column of the forecast used.
    pub column: String,
    /// When the crest is.
    pub crest_at: String,
    /// Demand at the crest, req/s (after scaling).
    pub crest_rps: f64,
    /// Per-instance capacity at the SLO, req/s.
    pub per_instance_rps: f64,
    /// Target utilisation of each instance.
    pub target_utilisation: f64,
    /// Instances needed at the crest.
    pub needed: u32,
    /// Instances now (if given).
    pub current: Option<u32>,
    /// `needed − current` (negative: surplus).
    pub missing: Option<i64>,
    /// Headroom of the current fleet at the crest (`1 − crest / capacity`).
    pub headroom_at_crest: Option<f64>,
}

/// Instances needed for the crest of `demand × scale` at `target_utilisation`.
///
/// # Errors
/// [`HeadroomError::Config`] for a utilisation outside (0, 1] or a bad scale.
pub fn instances_needed(
    capacity: &Capacity,
    demand: &Demand,
    scale: f64,
    target_utilisation: f64,
    current: Option<u32>,
) -> Result<InstancesAnswer, HeadroomError> {
    if !(target_utilisation > 0.0 && target_utilisation <= 1.0) {
        return Err(HeadroomError::Config {
            field: "target_utilisation",
            value: target_utilisation.to_string(),
            why: "expected a fraction in (0, 1]",
        });
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(HeadroomError::Config {
            field: "demand_scale",
            value: scale.to_string(),
            why: "expected a positive factor",
        });
    }
    let (at, v) = demand.crest().cloned().unwrap_or_default();
    let crest = v * scale;
    let needed = capacity.instances_for(crest, target_utilisation);
    Ok(InstancesAnswer {
        column: demand.column.clone(),
        crest_at: at,
        crest_rps: crest,
        per_instance_rps: capacity.per_instance.get(),
        target_utilisation,
        needed,
        current,
        missing: current.map(|c| i64::from(needed) - i64::from(c)),
        headroom_at_crest: current.map(|c| capacity.headroom(c, crest)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "timestamp,mean,p10,p50,p90\n2026-01-01T00:00:00Z,100,80,100,120\n2026-01-01T01:00:00Z,500,400,500,650\n2026-01-01T02:00:00Z,300,,300,NaN\n";

    #[test]
    fn crest_and_missing_instances() {
        let d = Demand::parse_csv(CSV, "p90").unwrap();
        assert_eq!(d.points.len(), 2);
        assert_eq!(d.crest().unwrap().1, 650.0);
        let c = Capacity::given(100.0, 200.0).unwrap();
        let a = instances_needed(&c, &d, 1.0, 0.8, Some(5)).unwrap();
        assert_eq!(a.needed, 9); // 650 / 80 = 8.1 -> 9
        assert_eq!(a.missing, Some(4));
        assert_eq!(a.crest_at, "2026-01-01T01:00:00Z");
        assert!(instances_needed(&c, &d, 1.0, 0.0, None).is_err());
    }

    #[test]
    fn bad_csv_names_the_line() {
        let e = Demand::parse_csv(CSV, "p99").unwrap_err();
        assert_eq!(e.0, 1);
        let e = Demand::parse_csv("timestamp,mean\nx,abc\n", "mean").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(Demand::parse_csv("", "mean").is_err());
        assert!(Demand::parse_csv("timestamp,mean\nx,-1\n", "mean").is_err());
    }
}
