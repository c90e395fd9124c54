//! `crest datasets`: what history crest has to work with.
//!
//! `list` shows the data sets embedded in the binary; `show` loads a bundled
//! name or a user's CSV/Parquet file and prints what a planner needs to trust it:
//! the detected interval, the span, the points, every gap and the rule that
//! filled it, and min/max/mean per series. Bad files fail with the loader's
//! message (file, line, column) and exit code 1.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use crest_datasets::{
    Agg, Dataset, FillRule, LoadOptions, Source, Summary, TimeFormat, bundled, bundled_description,
    bundled_names, human_step, resample, resolve_with, summary,
};
use serde_json::json;

/// Arguments of `crest datasets`.
#[derive(Debug, Args)]
pub struct DatasetsCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// List the bundled data sets (name, interval, span, points).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Summarise a bundled data set or a CSV/Parquet file: interval, span, points,
    /// gaps, missing, min/max/mean per series.
    Show {
        /// A bundled name (see `crest datasets list`) or a file path.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// How to fill missing steps: nan (leave missing), linear, zero.
        #[arg(long, default_value = "nan")]
        fill: String,
        /// Resample to this step in seconds (a whole multiple of the data's own step).
        #[arg(long, value_name = "SECONDS")]
        resample: Option<i64>,
        /// How to combine values when resampling: sum, mean, max.
        #[arg(long, default_value = "sum")]
        agg: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Run `crest datasets`.
pub fn run(cmd: DatasetsCmd) -> anyhow::Result<ExitCode> {
    match cmd.action {
        Action::List { format } => list(format),
        Action::Show {
            name,
            format,
            fill,
            resample: step,
            agg,
        } => {
            let fill: FillRule = fill.parse()?;
            let mut ds = resolve_with(&name, &LoadOptions { fill, step_s: None })
                .with_context(|| format!("crest datasets show {name}"))?;
            if let Some(step) = step {
                let agg: Agg = agg.parse()?;
                for s in &mut ds.series {
                    *s = resample(s, step, agg)?;
                }
            }
            show(&ds, format, step.is_some());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// 10320 -> "10,320".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn num(x: Option<f64>) -> String {
    match x {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn when(t: Option<crest_datasets::Timestamp>, fmt: TimeFormat) -> String {
    // Epoch seconds are unreadable in a summary; show them as RFC 3339 instead.
    let fmt = match fmt {
        TimeFormat::EpochSeconds => TimeFormat::Rfc3339 { offset_s: 0 },
        f => f,
    };
    t.map_or_else(|| "-".into(), |t| t.format(fmt))
}

fn list(format: Format) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for name in bundled_names() {
        let ds = bundled(name)?;
        let m = summary(&ds.series[0]);
        rows.push((*name, m, bundled_description(name).unwrap_or("")));
    }
    match format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|(n, m, d)| {
                    json!({
                        "name": n,
                        "interval_s": m.interval_s,
                        "start": when(m.start, m.time_format),
                        "end": when(m.end, m.time_format),
                        "points": m.points,
                        "description": d,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Format::Table => {
            println!(
                "{:<14} {:>8}  {:<19}    {:<19}  {:>7}  description",
                "name", "interval", "start", "end", "points"
            );
            for (n, m, d) in &rows {
                println!(
                    "{:<14} {:>8}  {:<19} .. {:<19}  {:>7}  {}",
                    n,
                    human_step(m.interval_s),
                    when(m.start, m.time_format),
                    when(m.end, m.time_format),
                    thousands(m.points),
                    d
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn source_text(ds: &Dataset) -> String {
    match &ds.source {
        Source::Bundled { upstream } => format!("bundled, NAB {upstream}"),
        Source::File(p) => format!("file {}", p.display()),
        Source::Inline => "inline text".into(),
        Source::Prometheus { url, query } => format!("prometheus {url} {query}"),
    }
}

fn show(ds: &Dataset, format: Format, resampled: bool) {
    let sums: Vec<Summary> = ds.series.iter().map(summary).collect();
    match format {
        Format::Json => {
            let series: Vec<_> = sums
                .iter()
                .zip(&ds.report.series)
                .map(|(m, r)| {
                    json!({
                        "id": m.id,
                        "interval_s": m.interval_s,
                        "start": when(m.start, m.time_format),
                        "end": when(m.end, m.time_format),
                        "points": m.points,
                        "present": m.present,
                        "missing": m.missing,
                        "gaps": m.gaps,
                        "longest_gap_steps": m.longest_gap_steps,
                        "min": m.min,
                        "max": m.max,
                        "mean": m.mean,
                        "input": {
                            "rows": r.rows,
                            "step_s": r.step_s,
                            "gaps": r.gaps.iter().map(|g| json!({
                                "from": when(Some(g.from), m.time_format),
                                "to": when(Some(g.to), m.time_format),
                                "steps": g.steps,
                                "duration_s": g.duration_s,
                            })).collect::<Vec<_>>(),
                            "empty_values": r.empty_values,
                            "off_grid": r.off_grid,
                            "filled": r.filled,
                        },
                    })
                })
                .collect();
            let v = json!({
                "name": ds.name,
                "source": source_text(ds),
                "long_format": ds.long_format,
                "fill": ds.report.fill.name(),
                "resampled": resampled,
                "series": series,
            });
            match serde_json::to_string_pretty(&v) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: failed to write JSON: {e}"),
            }
        }
        Format::Table => {
            println!("{} ({})", ds.name, source_text(ds));
            println!(
                "{:<12} {:>8}  {:<25} {:<25} {:>8} {:>5} {:>8} {:>10} {:>10} {:>12}",
                "series",
                "interval",
                "start",
                "end",
                "points",
                "gaps",
                "missing",
                "min",
                "max",
                "mean"
            );
            for m in &sums {
                println!(
                    "{:<12} {:>8}  {:<25} {:<25} {:>8} {:>5} {:>8} {:>10} {:>10} {:>12}",
                    if m.id.is_empty() { "value" } else { &m.id },
                    human_step(m.interval_s),
                    when(m.start, m.time_format),
                    when(m.end, m.time_format),
                    thousands(m.points),
                    m.gaps,
                    m.missing,
                    num(m.min),
                    num(m.max),
                    num(m.mean)
                );
            }
            println!();
            if resampled {
                println!("(resampled; the input report below is for the original grid)");
            }
            print!("{}", ds.report);
        }
    }
}
