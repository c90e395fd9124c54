//! Charts of simulation reports (through `crest-plot`, PNG and SVG): demand
//! vs capacity, p99 latency against the SLO, and instances over time. Several
//! reports (a platform comparison) share each panel, one line per report.

use std::path::{Path, PathBuf};

use crest_plot::{Chart, Line};

use crate::error::SimError;
use crate::report::SimReport;

fn x_of(r: &SimReport, t_s: f64, absolute: bool) -> f64 {
    if absolute {
        r.timeline
            .first()
            .map_or(0.0, |p| p.at_ms as f64 / 1000.0 - p.t_s)
            + t_s
    } else {
        t_s / 3600.0
    }
}

/// The three panels for `reports` (labelled by scenario name when several).
pub fn charts(reports: &[&SimReport]) -> Vec<Chart> {
    let absolute = reports
        .iter()
        .all(|r| r.timeline.first().is_some_and(|p| p.at_ms > 86_400_000));
    let several = reports.len() > 1;
    let label = |r: &SimReport, what: &str| {
        if several {
            format!("{what} ({})", r.platform)
        } else {
            what.to_string()
        }
    };
    let x_label = if absolute {
        "time (UTC)"
    } else {
        "hours since start"
    };
    let mut demand = Chart::new("Demand vs capacity")
        .x_label(x_label)
        .y_label("requests/s");
    let mut latency = Chart::new("p99 latency per interval (worst minute)")
        .x_label(x_label)
        .y_label("ms");
    let mut fleet = Chart::new("Instances")
        .x_label(x_label)
        .y_label("instances");
    if absolute {
        demand = demand.time_axis();
        latency = latency.time_axis();
        fleet = fleet.time_axis();
    }
    if let Some(first) = reports.first() {
        demand = demand.line(Line::new(
            "demand",
            first
                .timeline
                .iter()
                .map(|p| (x_of(first, p.t_s, absolute), p.demand))
                .collect(),
        ));
        let ends = (
            first
                .timeline
                .first()
                .map_or(0.0, |p| x_of(first, p.t_s, absolute)),
            first
                .timeline
                .last()
                .map_or(0.0, |p| x_of(first, p.t_s, absolute)),
        );
        latency = latency.line(Line::new(
            format!("SLO p99 {} ms", first.slo.p99_ms),
            vec![(ends.0, first.slo.p99_ms), (ends.1, first.slo.p99_ms)],
        ));
    }
    for r in reports {
        let pts = |f: &dyn Fn(&crate::report::TimelinePoint) -> f64| -> Vec<(f64, f64)> {
            r.timeline
                .iter()
                .map(|p| (x_of(r, p.t_s, absolute), f(p)))
                .collect()
        };
        demand = demand.line(Line::new(label(r, "capacity"), pts(&|p| p.capacity)).stepped());
        latency = latency.line(Line::new(label(r, "p99"), pts(&|p| p.p99_ms)));
        fleet =
            fleet.line(Line::new(label(r, "serving"), pts(&|p| f64::from(p.instances))).stepped());
        fleet =
            fleet.line(Line::new(label(r, "desired"), pts(&|p| f64::from(p.desired))).stepped());
    }
    vec![demand, latency, fleet]
}

/// Write `<dir>/<stem>.png` and `<dir>/<stem>.svg`; returns the paths.
///
/// # Errors
/// [`SimError::Plot`] when drawing or writing fails.
pub fn render_reports(
    reports: &[&SimReport],
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>, SimError> {
    let charts = charts(reports);
    let mut out = Vec::new();
    for ext in ["png", "svg"] {
        let p = dir.join(format!("{stem}.{ext}"));
        crest_plot::render(&charts, &p, (1000, 900))?;
        out.push(p);
    }
    Ok(out)
}
