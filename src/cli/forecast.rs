//! `crest forecast`: how much traffic is coming, with holiday effects and
//! calibrated quantiles; `backtest` to show how much to trust it; `watch` to
//! replay actuals against day-ahead bands and raise deviation alerts.
//!
//! Input is CSV/Parquet (`timestamp,value` or `series_id,timestamp,value`,
//! loaded by crest-datasets) or a bundled data set's name; without `--input`
//! the bundled NYC taxi data. Many series are forecast in parallel and
//! written in input order, so the same input gives the same bytes.
//!
//! Output contract (other tools read it): CSV header
//! `[series_id,]timestamp,mean,p10,p50,p90` (one `pXX` per quantile),
//! timestamps written as the input wrote them; `--format json` writes crest's
//! `Forecast` JSON (one object for one series, an array for several), which
//! `crest plan --forecast` reads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::args::LimitArgs;
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use crest_core::series::Quantile;
use crest_core::{Calendar, Forecast, Series, Timestamp};
use crest_datasets::{Dataset, RegressorTable, Source};
use crest_forecast::backtest::{
    BacktestReport, HolidayBacktest, HolidayFilter, HolidaySpan, backtest_around_holidays,
    backtest_series, midnight_origins, rolling_origins,
};
use crest_forecast::progress::Progress;
use crest_forecast::watch::{DeviationWatcher, WatchConfig, rolling_band, score_windows};
use crest_forecast::{
    ForecastConfig, ForecastOutcome, KnownRegressors, ModelChoice, ModelKind, forecast_many,
};

use super::prom::PromArgs;
use serde::Serialize;

/// Arguments of `crest forecast`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ForecastCmd {
    #[command(subcommand)]
    sub: Option<Sub>,
    #[command(flatten)]
    args: PredictArgs,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Rolling-origin backtest: MAPE, WAPE, sMAPE, MASE, pinball loss and
    /// interval coverage per model and per series; with a calendar whose
    /// holiday windows the scored points reach, the automatic choice also on
    /// window days alone (`auto:holidays`) and on ordinary days alone
    /// (`auto:ordinary`).
    Backtest(BacktestArgs),
    /// Replay actuals against day-ahead forecast bands and print deviation
    /// alerts; on bundled data with labelled anomalies, precision and recall.
    Watch(WatchArgs),
}

/// Input, calendar and quantiles, shared by every forecast subcommand.
#[derive(Debug, Args, Clone)]
struct Common {
    /// History: CSV/Parquet file or bundled data set name (default: bundled nyc_taxi).
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    input: Option<String>,
    #[command(flatten)]
    prom: Box<PromArgs>,
    /// Holiday calendar: none, us, cn, or a calendar file (TOML/CSV).
    #[arg(long, default_value = "none", value_name = "none|us|cn|FILE")]
    calendar: String,
    /// Quantile levels, comma-separated, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,0.9")]
    quantiles: Vec<f64>,
    /// Model: auto (chosen per series by backtest), regression, ensemble, mstl_ets, seasonal_naive.
    #[arg(long, default_value = "auto")]
    model: String,
    /// Known future regressors: a CSV with a time column and numeric columns
    /// (e.g. daily temperature for a load, a promotion flag for orders), or
    /// the bundled `china_load_area1_weather`. Each step takes the latest row
    /// at or before it on the same day. A forecast needs values over the whole
    /// horizon. In `backtest`, each origin's horizon takes the file's values,
    /// i.e. the ACTUAL future (for weather: a perfect forecast, an upper
    /// bound of what the regressor is worth).
    #[arg(long, value_name = "FILE")]
    regressors: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Debug, Args)]
struct PredictArgs {
    #[command(flatten)]
    common: Common,
    /// Steps to forecast, in the series' own interval.
    #[arg(long, required = true)]
    horizon: Option<usize>,
    /// Write here instead of stdout.
    #[arg(long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Csv)]
    format: OutFormat,
    /// Also draw history, forecast and quantile band (first series) to a .png or .svg.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Forecast from this time instead of the end of the data, with only the
    /// data before it (a "what would it have said" replay); --plot then also
    /// draws what actually happened. RFC 3339 or a date/naive time as in the data.
    #[arg(long, value_name = "TIME")]
    origin: Option<String>,
}

#[derive(Debug, Args)]
struct BacktestArgs {
    #[command(flatten)]
    common: Common,
    /// Steps ahead per origin.
    #[arg(long)]
    horizon: usize,
    /// Number of rolling origins (the latest leaves exactly `horizon` steps).
    #[arg(long, default_value_t = 10)]
    origins: usize,
    /// Steps between origins (default: the horizon).
    #[arg(long)]
    origin_step: Option<usize>,
    /// Put origins at midnights (one per day) instead of every `--origin-step`.
    #[arg(long, conflicts_with = "origin_step")]
    at_midnight: bool,
    /// Do not score points inside the data set's labelled anomaly windows (bundled data).
    #[arg(long)]
    exclude_anomalies: bool,
    /// Take the origins at every midnight around each named holiday of the
    /// calendar (its effect window, or --window), and report WAPE, MASE and
    /// coverage per holiday and year beside daily and weekly naive.
    #[arg(long, conflicts_with_all = ["origin_step", "at_midnight", "exclude_anomalies"])]
    around_holidays: bool,
    /// With --around-holidays: day offsets from each holiday's first day off,
    /// e.g. -10..16 (default: the calendar's effect window of each holiday).
    #[arg(
        long,
        value_name = "BEFORE..AFTER",
        requires = "around_holidays",
        allow_hyphen_values = true
    )]
    window: Option<String>,
    /// With --around-holidays: only these holidays (comma-separated names, e.g. "Spring Festival").
    #[arg(long, value_delimiter = ',', requires = "around_holidays")]
    holidays: Vec<String>,
    /// With --around-holidays: only occurrences in these years, e.g. 2013..2014 or 2014.
    #[arg(long, value_name = "FROM..TO", requires = "around_holidays")]
    years: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
}

#[derive(Debug, Args)]
struct WatchArgs {
    #[command(flatten)]
    common: Common,
    /// Forecast horizon and spacing of the forecasts (default: one day of steps).
    #[arg(long)]
    horizon: Option<usize>,
    /// Replay the last N days (default: all but the first 28).
    #[arg(long)]
    days: Option<usize>,
    /// Consecutive points outside the band before an alert.
    #[arg(long, default_value_t = 6)]
    min_run: usize,
    /// The band to watch: lower and upper quantile levels.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 2,
        default_value = "0.05,0.95",
        value_name = "LO,HI"
    )]
    band: Vec<f64>,
    /// Alert on calendar days too (by default holidays, eves, days after and events stay quiet).
    #[arg(long)]
    no_quiet_days: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TableFormat {
    Table,
    Json,
}

/// Run `crest forecast`.
pub fn run(cmd: ForecastCmd) -> anyhow::Result<ExitCode> {
    match cmd.sub {
        None => predict(cmd.args),
        Some(Sub::Backtest(a)) => backtest(a),
        Some(Sub::Watch(a)) => watch(a),
    }
}

struct Prepared {
    data: Dataset,
    cfg: ForecastConfig,
    /// The regressor file and its values on the series' grid (`cfg` has them too).
    regressors: Option<(RegressorTable, KnownRegressors)>,
}

/// Read `--regressors` and put its values on the grid of every series of
/// `data`, from the earliest start to the latest end plus `horizon`.
fn load_regressors(
    spec: &str,
    data: &Dataset,
    horizon: usize,
) -> anyhow::Result<(RegressorTable, KnownRegressors)> {
    let table = crest_datasets::resolve_regressors(spec)
        .with_context(|| format!("failed to load --regressors {spec}"))?;
    let step = data.series[0].step_s();
    if data.series.iter().any(|s| s.step_s() != step) {
        bail!(
            "--regressors: the series of {} have different intervals; give one series per file",
            data.name
        );
    }
    let start = data
        .series
        .iter()
        .map(Series::start)
        .min()
        .context("no series")?;
    let len = data
        .series
        .iter()
        .map(|s| ((s.start().millis() - start.millis()) / (step * 1000)) as usize + s.len())
        .max()
        .unwrap_or(0)
        + horizon;
    let fmt = data.series[0].time_format();
    let columns = table.align(start, step, len, fmt);
    let known = KnownRegressors::new(table.names.clone(), start, step, columns);
    Ok((table, known))
}

fn prepare(c: &Common, horizon: usize) -> anyhow::Result<Prepared> {
    if horizon == 0 {
        bail!("--horizon must be at least 1 step");
    }
    c.prom.check_unused(false)?;
    let data = match (&c.input, c.prom.load()?) {
        (_, Some(pulled)) => pulled,
        (None, None) => {
            crest_datasets::bundled("nyc_taxi").context("failed to load bundled nyc_taxi")?
        }
        (Some(p), None) => {
            crest_datasets::resolve(p).with_context(|| format!("failed to load {p}"))?
        }
    };
    if data.series.is_empty() {
        bail!("failed to forecast {}: no series in the input", data.name);
    }
    let calendar: Calendar = crest_datasets::calendar::resolve_calendar(&c.calendar)
        .with_context(|| format!("failed to load calendar {:?}", c.calendar))?;
    let mut quantiles = c
        .quantiles
        .iter()
        .map(|q| {
            Quantile::try_new(*q)
                .with_context(|| format!("invalid quantile {q}: expected a level in (0, 1)"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    quantiles.sort();
    quantiles.dedup();
    let model = if c.model == "auto" {
        ModelChoice::Auto
    } else {
        ModelChoice::Fixed(ModelKind::from_name(&c.model).with_context(|| {
            format!(
                "unknown --model {:?}: expected auto, regression, ensemble, mstl_ets or seasonal_naive",
                c.model
            )
        })?)
    };
    let mut cfg = ForecastConfig::new(horizon)
        .with_quantiles(quantiles)
        .with_calendar(calendar)
        .with_model(model);
    cfg.check(&data.series, &c.limits.limits())?;
    let regressors = match &c.regressors {
        None => None,
        Some(spec) => {
            let (table, known) = load_regressors(spec, &data, horizon)?;
            cfg = cfg.with_known_regressors(known.clone());
            Some((table, known))
        }
    };
    Ok(Prepared {
        data,
        cfg,
        regressors,
    })
}

fn predict(a: PredictArgs) -> anyhow::Result<ExitCode> {
    let horizon = a.horizon.context("--horizon is required")?;
    let Prepared {
        data,
        cfg,
        regressors,
    } = prepare(&a.common, horizon)?;
    let full = data.series.clone();
    let mut data = data;
    if let Some(t) = &a.origin {
        let (at, _) = crest_datasets::parse_timestamp(t)
            .with_context(|| format!("--origin {t:?}: {}", crest_datasets::EXPECTED_TIMESTAMP))?;
        for s in &mut data.series {
            let cut = (0..=s.len())
                .find(|&i| s.time_at(i) >= at)
                .unwrap_or(s.len());
            if cut < 3 {
                bail!(
                    "--origin {t}: series {:?} starts at {}, leaving no history before the origin",
                    s.id(),
                    s.time_at(0).format(s.time_format())
                );
            }
            *s = s.slice(0, cut);
        }
    }
    if let Some((table, known)) = &regressors {
        // The whole horizon of every series must be known: no silent zeros.
        for s in &data.series {
            let at = ((s.start().millis() - known.start.millis()) / (known.step_s * 1000)) as usize;
            table.require(
                &known.columns,
                known.start,
                known.step_s,
                at + s.len(),
                at + s.len() + horizon,
                s.time_format(),
            )?;
        }
    }
    let results = forecast_many(&data.series, &cfg);
    let mut done: Vec<(&Series, ForecastOutcome)> = Vec::new();
    for (s, r) in data.series.iter().zip(results) {
        match r {
            Ok(o) => done.push((s, o)),
            Err(e) => eprintln!("warning: skipped series {:?}: {e}", s.id()),
        }
    }
    if done.is_empty() {
        bail!("failed to forecast any series of {}", data.name);
    }
    let text = match a.format {
        OutFormat::Csv => to_csv(&done, data.long_format, &cfg.quantiles),
        OutFormat::Json => to_json(&done)?,
    };
    match &a.output {
        Some(p) => {
            std::fs::write(p, &text).with_context(|| format!("failed to write {}", p.display()))?
        }
        None => print!("{text}"),
    }
    if let Some(p) = &a.plot {
        let (s, o) = &done[0];
        if done.len() > 1 {
            eprintln!(
                "note: --plot draws the first series ({:?}) of {}",
                s.id(),
                done.len()
            );
        }
        let tail = (4 * o.forecast.horizon()).max(7 * 86_400 / s.step_s().max(1) as usize);
        let actual = full
            .iter()
            .find(|f| f.id() == s.id())
            .filter(|f| f.len() > s.len())
            .map(|f| f.slice(s.len(), (s.len() + o.forecast.horizon()).min(f.len())));
        crest_forecast::plot::plot_forecast_with_actual(s, &o.forecast, tail, actual.as_ref(), p)
            .with_context(|| format!("failed to plot {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A number as crest writes it: at most 3 decimals, no trailing zeros.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn to_csv(done: &[(&Series, ForecastOutcome)], long: bool, quantiles: &[Quantile]) -> String {
    let mut out = String::new();
    if long {
        out.push_str("series_id,");
    }
    out.push_str("timestamp,mean");
    for q in quantiles {
        out.push(',');
        out.push_str(&q.column_name());
    }
    out.push('\n');
    for (s, o) in done {
        let f = &o.forecast;
        for i in 0..f.horizon() {
            if long {
                out.push_str(&csv_field(s.id()));
                out.push(',');
            }
            let _ = write!(
                out,
                "{},{}",
                f.time_at(i).format(s.time_format()),
                num(f.mean[i])
            );
            for q in quantiles {
                let v = f.quantiles.get(q).map_or(f64::NAN, |p| p[i]);
                let _ = write!(out, ",{}", num(v));
            }
            out.push('\n');
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[derive(Serialize)]
struct JsonForecast<'a> {
    #[serde(flatten)]
    forecast: &'a Forecast,
    model: &'static str,
    calibration_wape: BTreeMap<&'static str, f64>,
}

fn to_json(done: &[(&Series, ForecastOutcome)]) -> anyhow::Result<String> {
    let items: Vec<JsonForecast> = done
        .iter()
        .map(|(_, o)| JsonForecast {
            forecast: &o.forecast,
            model: o.model.name(),
            calibration_wape: o
                .candidates
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.name(), *v))
                .collect(),
        })
        .collect();
    let mut s = if items.len() == 1 {
        serde_json::to_string_pretty(&items[0])?
    } else {
        serde_json::to_string_pretty(&items)?
    };
    s.push('\n');
    Ok(s)
}

fn windows_of(data: &Dataset) -> Vec<(Timestamp, Timestamp)> {
    match data.source {
        Source::Bundled { .. } => crest_datasets::anomaly_windows(&data.name),
        _ => Vec::new(),
    }
}

/// Parse `BEFORE..AFTER` day offsets (`-10..16`).
fn parse_window(s: &str) -> anyhow::Result<HolidaySpan> {
    let (a, b) = s.split_once("..").with_context(|| {
        format!("--window {s:?}: expected BEFORE..AFTER day offsets, e.g. -10..16")
    })?;
    let num = |v: &str, which: &str| -> anyhow::Result<i64> {
        let n: i64 = v.trim().parse().with_context(|| {
            format!("--window {s:?}: {which} {v:?} is not a whole number of days")
        })?;
        if n.abs() > 366 {
            bail!("--window {s:?}: {which} {n} is more than a year from the holiday");
        }
        Ok(n)
    };
    let (a, b) = (num(a, "BEFORE")?, num(b, "AFTER")?);
    if a > b {
        bail!("--window {s:?}: the window ends ({b}) before it starts ({a})");
    }
    Ok(HolidaySpan::Offsets(a, b))
}

/// Parse `2013..2014` or `2014`.
fn parse_years(s: &str) -> anyhow::Result<(i32, i32)> {
    let year = |v: &str| -> anyhow::Result<i32> {
        let y: i32 = v
            .trim()
            .parse()
            .with_context(|| format!("--years {s:?}: {v:?} is not a year"))?;
        if !(1900..=2200).contains(&y) {
            bail!("--years {s:?}: {y} is not a year between 1900 and 2200");
        }
        Ok(y)
    };
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (year(a)?, year(b)?),
        None => (year(s)?, year(s)?),
    };
    if a > b {
        bail!("--years {s:?}: ends ({b}) before it starts ({a})");
    }
    Ok((a, b))
}

fn backtest_holidays(
    a: &BacktestArgs,
    data: &Dataset,
    cfg: &ForecastConfig,
) -> anyhow::Result<ExitCode> {
    let span = match &a.window {
        Some(w) => parse_window(w)?,
        None => HolidaySpan::EffectWindow,
    };
    if cfg.calendar.holiday_periods().is_empty() {
        bail!(
            "--around-holidays needs a calendar with named holidays (--calendar us|cn|FILE); {:?} has none",
            a.common.calendar
        );
    }
    let years = match &a.years {
        None => None,
        Some(y) => Some(parse_years(y)?),
    };
    let filter = HolidayFilter {
        names: a.holidays.clone(),
        years,
    };
    let known: Vec<String> = cfg
        .calendar
        .holiday_periods()
        .into_iter()
        .filter(|p| !p.event)
        .map(|p| p.name)
        .collect();
    for n in &filter.names {
        if !known.contains(n) {
            let mut names = known.clone();
            names.sort();
            names.dedup();
            bail!(
                "--holidays: the calendar {:?} has no holiday named {n:?} (it has: {})",
                a.common.calendar,
                names.join(", ")
            );
        }
    }
    let mut reports = Vec::new();
    for s in &data.series {
        match backtest_around_holidays(s, cfg, span, &filter, &|| {}) {
            Ok(r) => reports.push((s.id().to_string(), r)),
            Err(e) => eprintln!("warning: skipped series {:?}: {e}", s.id()),
        }
    }
    if reports.is_empty() {
        bail!(
            "failed to backtest any series of {} around holidays: no holiday of the calendar has a midnight origin with four weeks of history and a whole horizon after it",
            data.name
        );
    }
    match a.format {
        TableFormat::Json => {
            let map: std::collections::BTreeMap<&str, &HolidayBacktest> =
                reports.iter().map(|(k, r)| (k.as_str(), r)).collect();
            println!("{}", serde_json::to_string_pretty(&map)?);
        }
        TableFormat::Table => {
            for (sid, r) in &reports {
                if reports.len() > 1 {
                    println!("series {sid}");
                }
                print!("{}", holiday_table(r));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn holiday_table(r: &HolidayBacktest) -> String {
    use crest_forecast::metrics::Metrics;
    use std::collections::BTreeMap;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "holiday backtest, horizon {} steps, one origin per midnight (WAPE / MASE; p10..p90 coverage of crest's band)",
        r.horizon
    );
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:>7} {:>16} {:>16} {:>16} {:>8} {:>6}",
        "holiday", "year", "origins", "crest", "daily naive", "weekly naive", "p10-p90", "wins"
    );
    let cell = |m: &crest_forecast::metrics::Metrics| format!("{} / {:.2}", pct(m.wape), m.mase);
    let wins = |c: &crest_forecast::metrics::Metrics, d: &crest_forecast::metrics::Metrics| {
        if c.wape <= d.wape { "yes" } else { "NO" }
    };
    for row in &r.rows {
        let _ = writeln!(
            out,
            "{:<22} {:>5} {:>7} {:>16} {:>16} {:>16} {:>8} {:>6}",
            row.holiday,
            row.year,
            row.origins,
            cell(&row.crest),
            cell(&row.daily_naive),
            cell(&row.weekly_naive),
            pct(row.crest.interval_coverage),
            wins(&row.crest, &row.daily_naive)
        );
    }
    let total = |out: &mut String, name: &str, year: &str, m: &BTreeMap<String, Metrics>| {
        let _ = writeln!(
            out,
            "{:<22} {:>5} {:>7} {:>16} {:>16} {:>16} {:>8} {:>6}",
            name,
            year,
            "",
            cell(&m["crest"]),
            cell(&m["daily_naive"]),
            cell(&m["weekly_naive"]),
            pct(m["crest"].interval_coverage),
            wins(&m["crest"], &m["daily_naive"])
        );
    };
    for (name, m) in &r.per_holiday {
        total(&mut out, name, "all", m);
    }
    total(&mut out, "all holidays", "", &r.overall);
    out
}

fn backtest(a: BacktestArgs) -> anyhow::Result<ExitCode> {
    if !a.common.prom.is_set() && a.common.prom.step.is_some() {
        bail!(
            "--step is the Prometheus query step (it needs --prometheus URL); the spacing of backtest origins is --origin-step N"
        );
    }
    let Prepared {
        data,
        cfg,
        regressors,
    } = prepare(&a.common, a.horizon)?;
    if let Some((table, known)) = &regressors {
        let known_steps = known
            .columns
            .iter()
            .map(|c| c.iter().filter(|v| v.is_finite()).count())
            .min()
            .unwrap_or(0);
        eprintln!(
            "note: regressors {} ({}) known on {} of {} steps; each origin's horizon takes their actual values (an oracle: for weather, a perfect forecast); where they are unknown the regression goes without them",
            table.file,
            table.names.join(", "),
            known_steps,
            known.columns.first().map_or(0, Vec::len),
        );
    }
    if a.around_holidays {
        return backtest_holidays(&a, &data, &cfg);
    }
    let windows = if a.exclude_anomalies {
        windows_of(&data)
    } else {
        Vec::new()
    };
    if a.exclude_anomalies && windows.is_empty() {
        eprintln!(
            "note: {} has no labelled anomaly windows; scoring every point",
            data.name
        );
    }
    let plans: Vec<Vec<usize>> = data
        .series
        .iter()
        .map(|s| {
            if a.at_midnight {
                midnight_origins(s, a.horizon, a.origins)
            } else {
                rolling_origins(
                    s.len(),
                    a.horizon,
                    a.origins,
                    a.origin_step.unwrap_or(a.horizon),
                )
            }
        })
        .collect();
    let total: usize = plans.iter().map(Vec::len).sum();
    let bar = Progress::new(total as u64, "backtest", a.format == TableFormat::Table);
    let exclude = |t: Timestamp| windows.iter().any(|(s, e)| t >= *s && t <= *e);
    let mut results = Vec::new();
    for (s, origins) in data.series.iter().zip(&plans) {
        match backtest_series(s, &cfg, origins, &exclude, &|| bar.tick()) {
            Ok(r) => results.push(r),
            Err(e) => eprintln!("warning: skipped series {:?}: {e}", s.id()),
        }
    }
    bar.finish();
    if results.is_empty() {
        bail!("failed to backtest any series of {}", data.name);
    }
    let report = BacktestReport::new(a.horizon, &results);
    match a.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        TableFormat::Table => print!(
            "{}",
            backtest_table(&report, data.series.len() > 1 || data.long_format)
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.2}%", 100.0 * v)
    } else {
        "-".into()
    }
}

fn backtest_table(r: &BacktestReport, per_series: bool) -> String {
    let mut out = String::new();
    let header = |out: &mut String, first: &str| {
        let _ = writeln!(
            out,
            "{first:<20} {:<15} {:>7} {:>8} {:>8} {:>8} {:>7} {:>8} {:>9}  coverage",
            "model", "points", "MAPE", "WAPE", "sMAPE", "MASE", "pinball", "interval"
        );
    };
    let row = |out: &mut String, first: &str, model: &str, m: &crest_forecast::metrics::Metrics| {
        let cov: Vec<String> = m
            .coverage
            .iter()
            .map(|(k, v)| format!("{k}={:.3}", v))
            .collect();
        let _ = writeln!(
            out,
            "{first:<20} {model:<15} {:>7} {:>8} {:>8} {:>8} {:>7.3} {:>8} {:>9}  {}",
            m.points,
            pct(m.mape),
            pct(m.wape),
            pct(m.smape),
            m.mase,
            pct(m.scaled_pinball),
            pct(m.interval_coverage),
            cov.join(" ")
        );
    };
    let _ = writeln!(
        out,
        "backtest, horizon {} steps (pinball: mean over quantiles / mean |actual|)",
        r.horizon
    );
    header(&mut out, "scope");
    for (model, m) in &r.overall {
        row(&mut out, "all series", model, m);
    }
    if per_series {
        for (sid, models) in &r.per_series {
            for (model, m) in models {
                row(&mut out, sid, model, m);
            }
        }
    }
    let chosen: Vec<String> = r.chosen.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(out, "auto chose: {}", chosen.join(", "));
    out
}

#[derive(Serialize)]
struct WatchReport {
    series_id: String,
    from: String,
    to: String,
    alerts: Vec<crest_forecast::watch::Alert>,
    score: Option<crest_forecast::watch::WindowScore>,
}

fn watch(a: WatchArgs) -> anyhow::Result<ExitCode> {
    let probe = prepare(&a.common, 1)?;
    let s0 = &probe.data.series[0];
    let per_day = (86_400 / s0.step_s().max(1)).max(1) as usize;
    let horizon = a.horizon.unwrap_or(per_day);
    let mut common = a.common.clone();
    common.quantiles.extend(a.band.iter().copied());
    let Prepared { data, cfg, .. } = prepare(&common, horizon)?;
    let edge = |i: usize| {
        a.band
            .get(i)
            .copied()
            .and_then(|q| Quantile::try_new(q).ok())
            .context("invalid --band: expected two levels in (0, 1), e.g. 0.05,0.95")
    };
    let (lower, upper) = (edge(0)?, edge(1)?);
    if lower >= upper {
        bail!("invalid --band: the lower level must be below the upper one");
    }
    let windows = windows_of(&data);
    let mut reports = Vec::new();
    for s in &data.series {
        let warm = 28 * per_day;
        let days = a.days.unwrap_or(usize::MAX);
        // Origins every `horizon` steps, aligned on midnight when there is one.
        let first_midnight = (0..s.len())
            .find(|&i| s.time_at(i).millis().rem_euclid(86_400_000) == 0)
            .unwrap_or(0);
        let mut origins: Vec<usize> = (first_midnight..s.len())
            .step_by(horizon)
            .filter(|o| *o >= warm)
            .collect();
        let keep = days.saturating_mul(per_day).div_ceil(horizon);
        if origins.len() > keep {
            origins.drain(..origins.len() - keep);
        }
        if origins.is_empty() {
            eprintln!(
                "warning: series {:?} is too short to watch (needs 28 days of warm-up)",
                s.id()
            );
            continue;
        }
        let band = rolling_band(s, &cfg, &origins)?;
        let wcfg = WatchConfig {
            lower,
            upper,
            min_run: a.min_run.max(1),
            quiet_on_calendar: !a.no_quiet_days,
            ..WatchConfig::default()
        };
        let mut w = DeviationWatcher::new(band.clone(), cfg.calendar.clone(), wcfg)?;
        let mut alerts = Vec::new();
        for i in origins[0]..s.len() {
            if let Some(al) = w.observe(s.time_at(i), s.values()[i]) {
                alerts.push(al);
            }
        }
        let from = s.time_at(origins[0]);
        let to = s.time_at(s.len() - 1);
        let in_span: Vec<(Timestamp, Timestamp)> = windows
            .iter()
            .copied()
            .filter(|(ws, we)| *we >= from && *ws <= to)
            .collect();
        let score = (!in_span.is_empty()).then(|| score_windows(&alerts, &in_span));
        reports.push(WatchReport {
            series_id: s.id().to_string(),
            from: from.format(s.time_format()),
            to: to.format(s.time_format()),
            alerts,
            score,
        });
    }
    match a.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
        TableFormat::Table => {
            for r in &reports {
                let fmt = data
                    .series
                    .iter()
                    .find(|s| s.id() == r.series_id)
                    .map(Series::time_format)
                    .unwrap_or_default();
                println!(
                    "series {:?}: {} .. {}, {} alerts",
                    r.series_id,
                    r.from,
                    r.to,
                    r.alerts.len()
                );
                println!(
                    "{:<20} {:<20} {:<6} {:<9} {:>4} {:>7} {:>12} {:>12}",
                    "since", "at", "side", "severity", "run", "excess", "actual", "expected"
                );
                for al in &r.alerts {
                    println!(
                        "{:<20} {:<20} {:<6} {:<9} {:>4} {:>7.1} {:>12} {:>12}",
                        al.since.format(fmt),
                        al.at.format(fmt),
                        format!("{:?}", al.direction).to_lowercase(),
                        format!("{:?}", al.severity).to_lowercase(),
                        al.run,
                        al.excess,
                        num(al.actual),
                        num(al.expected)
                    );
                }
                if let Some(sc) = &r.score {
                    println!(
                        "labelled anomaly windows: {} of {} detected (recall {:.2}); {} of {} alerts inside a window (precision {:.2})",
                        sc.detected, sc.windows, sc.recall, sc.true_alerts, sc.alerts, sc.precision
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
