//! Scenario files (TOML): parse, validate, and say exactly where a problem is.
//!
//! Three passes, so an operator sees every problem at once where that is
//! possible: (1) TOML syntax; (2) every key checked against the schema —
//! all unknown keys are reported together, each with its line; (3) typed
//! deserialisation into `Raw*` structs (`deny_unknown_fields`, serde's error
//! carries the span) and semantic validation, every problem with its dotted
//! field path and line.
//!
//! ```toml
//! [traffic]
//! kind = "poisson"
//! rate_per_s = 9.0
//!
//! [fleet]
//! instances = 10
//! concurrency = 1
//! service = { dist = "exp", mean_s = 1.0 }
//!
//! [lb]
//! policy = "shared-queue"
//!
//! [run]
//! requests = 10_000_000
//! ```

use std::path::{Path, PathBuf};

use crest_core::{Series, Timestamp};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};

use crate::dist::ServiceDist;
use crate::error::{Problem, SimError};
use crate::scenario::{
    ApiMode, Burst, Demand, LbPolicy, Mode, PolicySpec, Provisioner, RandomBursts, RateLimit,
    Scenario, Slowdown, ZoneOutage,
};

/// Loads a history file into a demand series (requests/s): `(path, column)`.
pub type HistoryLoader<'a> = &'a dyn Fn(&Path, Option<&str>) -> Result<Series, String>;

/// A parsed scenario file.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    /// The scenario.
    pub scenario: Scenario,
    /// `[compare] platforms`: run the scenario once per provisioner platform.
    pub compare_platforms: Vec<String>,
}

impl ScenarioFile {
    /// The scenarios to run: the scenario itself, or one per compared platform
    /// (named `<name>/<platform>`).
    pub fn variants(&self) -> Vec<Scenario> {
        if self.compare_platforms.is_empty() {
            return vec![self.scenario.clone()];
        }
        self.compare_platforms
            .iter()
            .map(|p| {
                let mut sc = self.scenario.clone();
                let mut prov = platform(p).unwrap_or_else(|| sc.provisioner.clone());
                prov.image_changed = sc.provisioner.image_changed;
                sc.provisioner = prov;
                sc.name = format!("{}-{p}", self.scenario.name);
                sc
            })
            .collect()
    }
}

fn platform(name: &str) -> Option<Provisioner> {
    match name {
        "container" => Some(Provisioner::container()),
        "vm" => Some(Provisioner::vm()),
        "instant" => Some(Provisioner::instant()),
        _ => None,
    }
}

// ---- schema (pass 2) ------------------------------------------------------

fn allowed_keys(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "" => &[
            "name",
            "start",
            "traffic",
            "fleet",
            "lb",
            "provisioner",
            "failures",
            "autoscaler",
            "run",
            "slo",
            "compare",
        ],
        "traffic" => &[
            "kind",
            "rate_per_s",
            "step_s",
            "values",
            "file",
            "column",
            "from",
            "base_rps",
            "days",
            "diurnal_amplitude",
            "peak_hour",
            "crests",
            "scale",
            "overdispersion_cv",
            "overdispersion_interval_s",
            "bursts",
            "random_bursts",
        ],
        "traffic.crests" => &["start_day", "duration_days", "multiplier", "ramp_hours"],
        "traffic.bursts" => &["at_s", "duration_s", "multiplier"],
        "traffic.random_bursts" => &["per_day", "duration_s", "multiplier"],
        "fleet" => &[
            "instances",
            "concurrency",
            "service",
            "slowdown",
            "timeout_s",
            "max_queue",
            "zones",
        ],
        "fleet.service" => &["dist", "mean_s", "cv", "samples_s"],
        "fleet.slowdown" => &["knee", "factor"],
        "lb" => &["policy"],
        "provisioner" => &[
            "platform",
            "lead_time_s",
            "lead_jitter_cv",
            "image_pull_s",
            "image_changed",
            "rate_limit",
            "replace_failed",
        ],
        "provisioner.rate_limit" => &["instances", "per_s", "mode"],
        "failures" => &["crash_rate_per_hour", "zone_outages"],
        "failures.zone_outages" => &["at_s", "zone"],
        "autoscaler" => &[
            "policy",
            "replicas",
            "steps",
            "metric",
            "target",
            "min",
            "max",
            "evaluate_every_s",
        ],
        "autoscaler.steps" => &["at_s", "replicas"],
        "run" => &[
            "requests",
            "duration_s",
            "warmup_s",
            "mode",
            "fluid_above_requests",
            "timeline_step_s",
        ],
        "slo" => &["p99_ms", "max_drop_fraction"],
        "compare" => &["platforms"],
        _ => return None,
    })
}

fn check_keys(table: &DeTable<'_>, path: &str, text: &str, out: &mut Vec<Problem>) {
    let Some(allowed) = allowed_keys(path) else {
        return;
    };
    for (k, v) in table.iter() {
        let key: &str = k.get_ref();
        let full = if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        };
        if !allowed.contains(&key) {
            out.push(Problem {
                field: full,
                line: Some(line_of(text, k.span().start)),
                message: format!("unknown field; expected one of: {}", allowed.join(", ")),
            });
            continue;
        }
        match v.get_ref() {
            DeValue::Table(t) => check_keys(t, &full, text, out),
            DeValue::Array(a) => {
                for item in a.iter() {
                    if let DeValue::Table(t) = item.get_ref() {
                        check_keys(t, &full, text, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of a dotted path's key (`fleet.service.mean_s`; array indices as
/// `steps[2]` resolve to the array's key).
fn line_of_path(doc: &DeTable<'_>, text: &str, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut line = None;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        let (k, v) = table.iter().find(|(k, _)| {
            let key: &str = k.get_ref();
            key == name
        })?;
        line = Some(line_of(text, k.span().start));
        match (v.get_ref(), index) {
            (DeValue::Table(t), None) => table = t,
            (DeValue::Array(a), Some(i)) => {
                let item = a.get(i)?;
                line = Some(line_of(text, item.span().start));
                match item.get_ref() {
                    DeValue::Table(t) => table = t,
                    _ => return line,
                }
            }
            _ => return line,
        }
    }
    line
}

// ---- raw structs (pass 3) ---------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    start: Option<String>,
    traffic: RawTraffic,
    #[serde(default)]
    fleet: Option<RawFleet>,
    #[serde(default)]
    lb: Option<RawLb>,
    #[serde(default)]
    provisioner: Option<RawProvisioner>,
    #[serde(default)]
    failures: Option<RawFailures>,
    #[serde(default)]
    autoscaler: Option<RawAutoscaler>,
    #[serde(default)]
    run: Option<RawRun>,
    #[serde(default)]
    slo: Option<RawSlo>,
    #[serde(default)]
    compare: Option<RawCompare>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    kind: String,
    rate_per_s: Option<f64>,
    step_s: Option<i64>,
    values: Option<Vec<f64>>,
    file: Option<String>,
    column: Option<String>,
    from: Option<String>,
    base_rps: Option<f64>,
    days: Option<f64>,
    diurnal_amplitude: Option<f64>,
    peak_hour: Option<f64>,
    #[serde(default)]
    crests: Vec<RawCrest>,
    scale: Option<f64>,
    overdispersion_cv: Option<f64>,
    overdispersion_interval_s: Option<f64>,
    #[serde(default)]
    bursts: Vec<Burst>,
    random_bursts: Option<RandomBursts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrest {
    start_day: f64,
    duration_days: f64,
    multiplier: f64,
    #[serde(default)]
    ramp_hours: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    instances: Option<u32>,
    concurrency: Option<u32>,
    service: Option<ServiceDist>,
    slowdown: Option<Slowdown>,
    timeout_s: Option<f64>,
    max_queue: Option<u32>,
    zones: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLb {
    policy: LbPolicy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvisioner {
    platform: Option<String>,
    lead_time_s: Option<f64>,
    lead_jitter_cv: Option<f64>,
    image_pull_s: Option<f64>,
    image_changed: Option<bool>,
    rate_limit: Option<RawRateLimit>,
    replace_failed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    instances: u32,
    per_s: f64,
    #[serde(default = "default_api_mode")]
    mode: ApiMode,
}

fn default_api_mode() -> ApiMode {
    ApiMode::Sync
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailures {
    #[serde(default)]
    crash_rate_per_hour: f64,
    #[serde(default)]
    zone_outages: Vec<ZoneOutage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at_s: f64,
    replicas: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoscaler {
    policy: String,
    replicas: Option<u32>,
    #[serde(default)]
    steps: Vec<RawStep>,
    metric: Option<String>,
    target: Option<f64>,
    min: Option<u32>,
    max: Option<u32>,
    evaluate_every_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    requests: Option<u64>,
    duration_s: Option<f64>,
    warmup_s: Option<f64>,
    mode: Option<Mode>,
    fluid_above_requests: Option<f64>,
    timeline_step_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    p99_ms: Option<f64>,
    max_drop_fraction: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompare {
    platforms: Vec<String>,
}

/// Read and parse a scenario file; `history` paths resolve against its folder.
///
/// # Errors
/// [`SimError::Invalid`] with every problem found (field and line).
pub fn load_scenario(
    path: &Path,
    history: Option<HistoryLoader<'_>>,
) -> Result<ScenarioFile, SimError> {
    let text = std::fs::read_to_string(path).map_err(|e| SimError::Invalid {
        source_name: path.display().to_string(),
        problems: vec![Problem {
            field: "(file)".into(),
            line: None,
            message: format!("failed to read: {e}"),
        }],
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut file = parse_scenario(&text, &path.display().to_string(), &base, history)?;
    if !text.lines().any(|l| l.trim_start().starts_with("name"))
        && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
    {
        file.scenario.name = stem.to_string();
    }
    Ok(file)
}

/// Parse a scenario from TOML text; `source_name` names it in errors.
///
/// # Errors
/// [`SimError::Invalid`] with every problem found (field and line).
pub fn parse_scenario(
    text: &str,
    source_name: &str,
    base_dir: &Path,
    history: Option<HistoryLoader<'_>>,
) -> Result<ScenarioFile, SimError> {
    let invalid = |problems: Vec<Problem>| SimError::Invalid {
        source_name: source_name.to_string(),
        problems,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        invalid(vec![Problem {
            field: "(syntax)".into(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        }])
    })?;
    let mut problems = Vec::new();
    check_keys(doc.get_ref(), "", text, &mut problems);
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_string();
        let field = e
            .span()
            .and_then(|s| key_at(doc.get_ref(), s.start, ""))
            .unwrap_or_else(|| "(value)".into());
        invalid(vec![Problem {
            field,
            line: e.span().map(|s| line_of(text, s.start)),
            message: msg,
        }])
    })?;
    let mut problems = Vec::new();
    let file = build(raw, base_dir, history, &mut problems);
    if let Some(f) = &file {
        problems.extend(f.scenario.problems());
    }
    if !problems.is_empty() {
        for p in &mut problems {
            if p.line.is_none() {
                p.line = line_of_path(doc.get_ref(), text, &p.field);
            }
        }
        return Err(invalid(problems));
    }
    file.ok_or_else(|| invalid(Vec::new()))
}

/// The dotted path of the innermost key whose value contains `offset`.
/// Tables are searched whatever their span: a `[header]` table's span does not
/// cover its body.
fn key_at(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    for (k, v) in table.iter() {
        let key: &str = k.get_ref();
        let full = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        match v.get_ref() {
            DeValue::Table(t) => {
                if let Some(inner) = key_at(t, offset, &full) {
                    return Some(inner);
                }
            }
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    if let DeValue::Table(t) = item.get_ref()
                        && let Some(inner) = key_at(t, offset, &format!("{full}[{i}]"))
                    {
                        return Some(inner);
                    }
                    if item.span().contains(&offset) {
                        return Some(format!("{full}[{i}]"));
                    }
                }
            }
            _ => {}
        }
        if v.span().contains(&offset) || k.span().contains(&offset) {
            return Some(full);
        }
    }
    None
}

fn need<T>(v: Option<T>, field: &str, why: &str, problems: &mut Vec<Problem>) -> Option<T> {
    if v.is_none() {
        problems.push(Problem {
            field: field.into(),
            line: None,
            message: format!("missing: {why}"),
        });
    }
    v
}

fn build(
    raw: RawFile,
    base_dir: &Path,
    history: Option<HistoryLoader<'_>>,
    problems: &mut Vec<Problem>,
) -> Option<ScenarioFile> {
    let t = raw.traffic;
    let start = match raw.start.as_deref() {
        None => None,
        Some(s) => match chrono_free_parse(s) {
            Some(ts) => Some(ts),
            None => {
                problems.push(Problem {
                    field: "start".into(),
                    line: None,
                    message: format!(
                        "expected an RFC 3339 UTC time like 2026-01-29T00:00:00Z, found {s:?}"
                    ),
                });
                None
            }
        },
    };
    let demand: Option<Demand> = match t.kind.as_str() {
        "poisson" => need(
            t.rate_per_s,
            "traffic.rate_per_s",
            "poisson traffic needs a rate",
            problems,
        )
        .map(|rate_per_s| Demand::Constant { rate_per_s }),
        "series" => {
            let step = need(
                t.step_s,
                "traffic.step_s",
                "series traffic needs step_s",
                problems,
            );
            let values = need(
                t.values,
                "traffic.values",
                "series traffic needs values (requests/s)",
                problems,
            );
            match (step, values) {
                (Some(step), Some(values)) => {
                    match Series::try_new("demand", start.unwrap_or(Timestamp::EPOCH), step, values)
                    {
                        Ok(s) => Some(Demand::Series(s)),
                        Err(e) => {
                            problems.push(Problem {
                                field: "traffic.values".into(),
                                line: None,
                                message: e.to_string(),
                            });
                            None
                        }
                    }
                }
                _ => None,
            }
        }
        "history" => {
            let file = need(
                t.file,
                "traffic.file",
                "history traffic needs a file",
                problems,
            );
            match (file, history) {
                (Some(f), Some(load)) => {
                    let p: PathBuf = base_dir.join(&f);
                    match load(&p, t.column.as_deref()) {
                        Ok(s) => match t.from.as_deref() {
                            None => Some(Demand::Series(s)),
                            Some(from) => {
                                match chrono_free_parse(from).and_then(|ts| first_step_at(&s, ts)) {
                                    Some(i) => Some(Demand::Series(s.slice(i, s.len()))),
                                    None => {
                                        problems.push(Problem {
                                        field: "traffic.from".into(),
                                        line: None,
                                        message: format!(
                                            "expected a time like 2014-12-29T00:00:00Z inside the history ({} .. {}), found {from:?}",
                                            s.start(),
                                            s.end().unwrap_or(s.start())
                                        ),
                                    });
                                        None
                                    }
                                }
                            }
                        },
                        Err(e) => {
                            problems.push(Problem {
                                field: "traffic.file".into(),
                                line: None,
                                message: format!("failed to load {}: {e}", p.display()),
                            });
                            None
                        }
                    }
                }
                (Some(_), None) => {
                    problems.push(Problem {
                        field: "traffic.kind".into(),
                        line: None,
                        message: "history files need a loader (the crest binary provides one)"
                            .into(),
                    });
                    None
                }
                _ => None,
            }
        }
        "crest" => {
            let base = need(
                t.base_rps,
                "traffic.base_rps",
                "crest traffic needs base_rps",
                problems,
            );
            let days = need(t.days, "traffic.days", "crest traffic needs days", problems);
            match (base, days) {
                (Some(base), Some(days)) => crest_series(
                    base,
                    days,
                    t.diurnal_amplitude.unwrap_or(0.5),
                    t.peak_hour.unwrap_or(20.0),
                    &t.crests,
                    start.unwrap_or(Timestamp::EPOCH),
                )
                .map_err(|m| {
                    problems.push(Problem {
                        field: "traffic".into(),
                        line: None,
                        message: m,
                    })
                })
                .ok()
                .map(Demand::Series),
                _ => None,
            }
        }
        other => {
            problems.push(Problem {
                field: "traffic.kind".into(),
                line: None,
                message: format!(
                    "expected \"poisson\", \"series\", \"history\" or \"crest\", found {other:?}"
                ),
            });
            None
        }
    };
    let demand = demand?;
    let mut sc = match demand {
        Demand::Series(s) => Scenario::from_demand(s),
        Demand::Constant { rate_per_s } => Scenario::poisson(rate_per_s),
    };
    if let Some(st) = start {
        sc.start = st;
    }
    sc.name = raw.name.unwrap_or_else(|| "scenario".into());
    if let Some(v) = t.scale {
        sc.traffic.scale = v;
    }
    if let Some(v) = t.overdispersion_cv {
        sc.traffic.overdispersion_cv = v;
    }
    if let Some(v) = t.overdispersion_interval_s {
        sc.traffic.overdispersion_interval_s = v;
    }
    sc.traffic.bursts = t.bursts;
    sc.traffic.random_bursts = t.random_bursts;
    if let Some(f) = raw.fleet {
        if let Some(v) = f.instances {
            sc.fleet.instances = v;
        }
        if let Some(v) = f.concurrency {
            sc.fleet.concurrency = v;
        }
        if let Some(v) = f.service {
            sc.fleet.service = v;
        }
        sc.fleet.slowdown = f.slowdown;
        sc.fleet.timeout_s = f.timeout_s;
        sc.fleet.max_queue = f.max_queue;
        if let Some(z) = f.zones {
            sc.fleet.zones = z;
        }
    }
    if let Some(lb) = raw.lb {
        sc.lb = lb.policy;
    }
    if let Some(p) = raw.provisioner {
        let mut prov = match p.platform.as_deref() {
            None => Provisioner::instant(),
            Some(name) => platform(name).unwrap_or_else(|| {
                if p.lead_time_s.is_none() {
                    problems.push(Problem {
                        field: "provisioner.lead_time_s".into(),
                        line: None,
                        message: format!(
                            "missing: platform {name:?} is not a preset (container, vm, instant), so lead_time_s is required"
                        ),
                    });
                }
                let mut x = Provisioner::instant();
                x.platform = name.to_string();
                x
            }),
        };
        if let Some(v) = p.lead_time_s {
            prov.lead_time_s = v;
        }
        if let Some(v) = p.lead_jitter_cv {
            prov.lead_jitter_cv = v;
        }
        if let Some(v) = p.image_pull_s {
            prov.image_pull_s = v;
        }
        if let Some(v) = p.image_changed {
            prov.image_changed = v;
        }
        if let Some(r) = p.rate_limit {
            prov.rate_limit = Some(RateLimit {
                instances: r.instances,
                per_s: r.per_s,
                mode: r.mode,
            });
        }
        if let Some(v) = p.replace_failed {
            prov.replace_failed = v;
        }
        sc.provisioner = prov;
    }
    if let Some(f) = raw.failures {
        sc.failures.crash_rate_per_hour = f.crash_rate_per_hour;
        sc.failures.zone_outages = f.zone_outages;
    }
    if let Some(a) = raw.autoscaler {
        if let Some(e) = a.evaluate_every_s {
            sc.autoscaler.evaluate_every_s = e;
        }
        sc.autoscaler.policy = match a.policy.as_str() {
            "none" => PolicySpec::None,
            "fixed" => PolicySpec::Fixed {
                replicas: a.replicas.unwrap_or(sc.fleet.instances),
            },
            "schedule" => {
                if a.steps.is_empty() {
                    problems.push(Problem {
                        field: "autoscaler.steps".into(),
                        line: None,
                        message:
                            "missing: the schedule policy needs steps = [{ at_s, replicas }, ...]"
                                .into(),
                    });
                }
                PolicySpec::Schedule {
                    steps: a.steps.iter().map(|s| (s.at_s, s.replicas)).collect(),
                }
            }
            "target-tracking" => PolicySpec::TargetTracking {
                metric: a.metric.unwrap_or_else(|| "utilisation".into()),
                target: need(
                    a.target,
                    "autoscaler.target",
                    "target tracking needs a target",
                    problems,
                )
                .unwrap_or(f64::NAN),
                min: a.min.unwrap_or(1),
                max: a.max.unwrap_or(10_000),
            },
            other => {
                problems.push(Problem {
                    field: "autoscaler.policy".into(),
                    line: None,
                    message: format!(
                        "expected \"none\", \"fixed\", \"schedule\" or \"target-tracking\", found {other:?}"
                    ),
                });
                PolicySpec::None
            }
        };
    }
    if let Some(r) = raw.run {
        sc.run.requests = r.requests;
        sc.run.duration_s = r.duration_s.or(sc.run.duration_s);
        if let Some(v) = r.warmup_s {
            sc.run.warmup_s = v;
        }
        if let Some(v) = r.mode {
            sc.run.mode = v;
        }
        if let Some(v) = r.fluid_above_requests {
            sc.run.fluid_above_requests = v;
        }
        sc.run.timeline_step_s = r.timeline_step_s;
    }
    if let Some(s) = raw.slo {
        if let Some(v) = s.p99_ms {
            sc.slo.p99_ms = v;
        }
        if let Some(v) = s.max_drop_fraction {
            sc.slo.max_drop_fraction = v;
        }
    }
    let compare_platforms = raw.compare.map(|c| c.platforms).unwrap_or_default();
    for (i, p) in compare_platforms.iter().enumerate() {
        if platform(p).is_none() {
            problems.push(Problem {
                field: format!("compare.platforms[{i}]"),
                line: None,
                message: format!("expected \"container\", \"vm\" or \"instant\", found {p:?}"),
            });
        }
    }
    Some(ScenarioFile {
        scenario: sc,
        compare_platforms,
    })
}

/// A synthetic demand: `base_rps` with a daily cycle (peak at `peak_hour`,
/// trough 12 h later, ±`amplitude`), times smooth crests (raised-cosine ramps
/// of `ramp_hours` at each end), at one-minute steps.
///
/// # Errors
/// A message when the parameters make no sense.
pub fn crest_series(
    base_rps: f64,
    days: f64,
    amplitude: f64,
    peak_hour: f64,
    crests: &[impl CrestLike],
    start: Timestamp,
) -> Result<Series, String> {
    if !(base_rps.is_finite() && base_rps >= 0.0) {
        return Err(format!("expected base_rps >= 0, found {base_rps}"));
    }
    if !(days.is_finite() && days > 0.0 && days <= 366.0) {
        return Err(format!("expected days in (0, 366], found {days}"));
    }
    if !(0.0..=1.0).contains(&amplitude) {
        return Err(format!(
            "expected diurnal_amplitude in [0, 1], found {amplitude}"
        ));
    }
    let n = (days * 1440.0).round() as usize;
    let values = (0..n)
        .map(|i| {
            let h = i as f64 / 60.0;
            let day = 1.0 + amplitude * (std::f64::consts::TAU * (h - peak_hour) / 24.0).cos();
            let mut m = 1.0;
            for c in crests {
                let (s, d, mult, ramp) = c.parts();
                let (s, e) = (s * 24.0, (s + d) * 24.0);
                let w = if h < s - ramp || h > e + ramp {
                    0.0
                } else if h < s {
                    0.5 - 0.5 * (std::f64::consts::PI * (h - (s - ramp)) / ramp.max(1e-9)).cos()
                } else if h <= e {
                    1.0
                } else {
                    0.5 + 0.5 * (std::f64::consts::PI * (h - e) / ramp.max(1e-9)).cos()
                };
                m *= 1.0 + (mult - 1.0) * w;
            }
            base_rps * day * m
        })
        .collect();
    Series::try_new("demand", start, 60, values).map_err(|e| e.to_string())
}

/// A crest description: `(start_day, duration_days, multiplier, ramp_hours)`.
pub trait CrestLike {
    /// The four numbers.
    fn parts(&self) -> (f64, f64, f64, f64);
}

impl CrestLike for (f64, f64, f64, f64) {
    fn parts(&self) -> (f64, f64, f64, f64) {
        *self
    }
}

impl CrestLike for RawCrest {
    fn parts(&self) -> (f64, f64, f64, f64) {
        (
            self.start_day,
            self.duration_days,
            self.multiplier,
            self.ramp_hours,
        )
    }
}

/// The first step of `s` at or after `t`, if inside the series.
fn first_step_at(s: &Series, t: Timestamp) -> Option<usize> {
    let d = t.millis() - s.start().millis();
    let step = s.step_s() * 1000;
    let i = if d <= 0 { 0 } else { (d + step - 1) / step };
    let i = usize::try_from(i).ok()?;
    (d >= -step && i < s.len()).then_some(i)
}

/// `YYYY-MM-DDTHH:MM:SSZ` to a timestamp (UTC only; keeps this crate free of a
/// date library).
fn chrono_free_parse(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Timestamp::from_secs(
        days * 86_400 + h * 3600 + mi * 60 + se,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MMC: &str = r#"
[traffic]
kind = "poisson"
rate_per_s = 9.0

[fleet]
instances = 10
concurrency = 1
service = { dist = "exp", mean_s = 1.0 }

[lb]
policy = "shared-queue"

[run]
requests = 10_000_000
"#;

    fn parse(s: &str) -> Result<ScenarioFile, SimError> {
        parse_scenario(s, "t.toml", Path::new("."), None)
    }

    fn problems(s: &str) -> Vec<Problem> {
        match parse(s) {
            Err(SimError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let f = parse(MMC).unwrap();
        let sc = f.scenario;
        assert_eq!(sc.fleet.instances, 10);
        assert_eq!(sc.run.requests, Some(10_000_000));
        assert_eq!(sc.lb, LbPolicy::SharedQueue);
        assert_eq!(sc.traffic.demand, Demand::Constant { rate_per_s: 9.0 });
    }

    #[test]
    fn all_unknown_fields_at_once_with_lines() {
        let text = MMC
            .replace("concurrency = 1", "concurency = 1")
            .replace("[run]", "[run]\nrequets = 5");
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].field, "fleet.concurency");
        assert_eq!(p[0].line, Some(8));
        assert_eq!(p[1].field, "run.requets");
        assert_eq!(p[1].line, Some(15));
    }

    #[test]
    fn a_fleet_that_never_has_an_instance_is_refused() {
        // `instances = 0` and no policy used to print NaN for every statistic.
        let p = problems(&MMC.replace("instances = 10", "instances = 0"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].field, "fleet.instances");
        assert_eq!(p[0].line, Some(7));
        assert!(p[0].message.contains("no request could be served"), "{p:?}");
        // Starting from zero is fine when a policy scales up.
        let from_zero = MMC.replace("instances = 10", "instances = 0")
            + "\n[autoscaler]\npolicy = \"schedule\"\nsteps = [{ at_s = 60.0, replicas = 4 }]\n";
        assert!(parse(&from_zero).is_ok(), "{:?}", parse(&from_zero).err());
    }

    #[test]
    fn semantic_problems_are_all_reported_with_lines() {
        let text = MMC
            .replace("mean_s = 1.0", "mean_s = -1.0")
            .replace("concurrency = 1", "concurrency = 0");
        let p = problems(&text);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["fleet.concurrency", "fleet.service.mean_s"],
            "{p:?}"
        );
        assert_eq!(p[0].line, Some(8));
        assert_eq!(p[1].line, Some(9));
        let msg = SimError::Invalid {
            source_name: "t.toml".into(),
            problems: p,
        }
        .to_string();
        assert!(
            msg.contains("line 8: `fleet.concurrency`: expected at least 1"),
            "{msg}"
        );
    }

    #[test]
    fn type_errors_name_the_field_and_line() {
        let p = problems(&MMC.replace("rate_per_s = 9.0", "rate_per_s = \"fast\""));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "traffic.rate_per_s");
        assert_eq!(p[0].line, Some(4));
        let p = problems("[traffic\nkind=1");
        assert_eq!(p[0].field, "(syntax)");
        assert_eq!(p[0].line, Some(1));
    }

    #[test]
    fn crest_traffic_and_timestamps() {
        let f = parse(
            r#"
start = "2026-01-29T00:00:00Z"
[traffic]
kind = "crest"
base_rps = 100
days = 4
crests = [{ start_day = 1, duration_days = 2, multiplier = 3, ramp_hours = 6 }]
[compare]
platforms = ["container", "vm"]
"#,
        )
        .unwrap();
        let Demand::Series(s) = &f.scenario.traffic.demand else {
            panic!()
        };
        assert_eq!(s.len(), 4 * 1440);
        assert_eq!(f.scenario.start, Timestamp::from_secs(1_769_644_800));
        let mid = s.values()[2 * 1440 + 20 * 60];
        assert!((mid - 100.0 * 1.5 * 3.0).abs() < 1.0, "{mid}");
        let v = f.variants();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].provisioner.platform, "vm");
    }
}
