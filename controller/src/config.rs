//! The controller's sections of the `crest serve --config` file: the
//! `[actuator]` table (exactly the `crest scale` TOML) and one `[[app]]`
//! table per controlled app. The server's own sections are validated by
//! `crest-server`; this module ignores them.
//!
//! ```toml
//! [actuator]                 # the `crest scale` config (examples/scale.toml)
//! journal = "journal.sqlite"
//! [actuator.containerd]
//! socket = "/run/containerd/containerd.sock"
//! image = "docker.io/crest/busybox:test"
//! command = ["/bin/sh", "-c", "busybox httpd -f -p 8080 -h /www"]
//! [actuator.haproxy]
//! socket = "/run/haproxy/admin.sock"
//!
//! [[app]]
//! name = "flight-search"
//! min_instances = 2          # never fewer (default 1)
//! base = 2                   # what the app runs when nothing asks for more (default min_instances)
//! max_instances = 40         # never more
//! max_step = 20              # at most this many instances added or removed per decision
//! cooldown_s = 300           # scale in only this long after the last scale-out / firing alert
//! period_s = 15              # evaluation period (alerts wake the loop at once)
//! lease_ttl_s = 15           # a standby takes over this long after the holder died
//! plans = ["plan.json"]      # `crest plan --output` documents, re-verified before they start
//! reverify_before_s = 300
//! force_plans = false        # follow a plan that fails re-verification
//! stored_plans = false       # also follow plans POSTed to /v1/plans (not re-verifiable)
//! ```
//!
//! Unknown keys are errors naming the key and its line (serde via toml);
//! values out of range are reported all at once, each with its field.

use std::path::{Path, PathBuf};

use crest_actuator::config::ScaleConfig;
use crest_autoscaler::PlanDocument;
use crest_core::AppId;
use crest_prometheus::AppQueries;
use serde::Deserialize;
use toml::Spanned;

use crate::error::ControllerError;

/// One controlled app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// The app (also its HAProxy backend).
    pub app: AppId,
    /// Never fewer instances.
    pub min_instances: u32,
    /// Instances when nothing asks for more.
    pub base: u32,
    /// Never more instances.
    pub max_instances: u32,
    /// At most this many instances added or removed per decision.
    pub max_step: u32,
    /// Scale in only this long after the last scale-out or firing alert, s.
    pub cooldown_s: i64,
    /// Evaluation period, ms.
    pub period_ms: u64,
    /// Lease lifetime, ms (renewed every period and during actuation).
    pub lease_ttl_ms: i64,
    /// Plan documents (`crest plan --output`), loaded.
    pub plans: Vec<(PathBuf, PlanDocument)>,
    /// Re-verify a plan this long before its first step, s.
    pub reverify_before_s: i64,
    /// Follow plans that fail re-verification.
    pub force_plans: bool,
    /// Also follow plans stored through `POST /v1/plans`.
    pub stored_plans: bool,
    /// Target tracking on live demand per ready instance (requests/s), read
    /// from the `[metrics]` source; `None`: alerts and plans only.
    pub target_rps_per_instance: Option<f64>,
    /// This app's PromQL (default: [`AppQueries::defaults`]).
    pub queries: Option<AppQueries>,
}

impl AppSpec {
    /// An app with the defaults (1 instance, at most `max`).
    pub fn new(app: AppId, max_instances: u32) -> Self {
        AppSpec {
            app,
            min_instances: 1,
            base: 1,
            max_instances,
            max_step: max_instances.max(1),
            cooldown_s: 300,
            period_ms: 15_000,
            lease_ttl_ms: 15_000,
            plans: Vec::new(),
            reverify_before_s: 300,
            force_plans: false,
            stored_plans: false,
            target_rps_per_instance: None,
            queries: None,
        }
    }
}

/// Where live metrics come from (`[metrics]`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSpec {
    /// Prometheus base URL.
    pub prometheus: String,
    /// A file holding a bearer token (never logged).
    pub bearer_token_file: Option<PathBuf>,
    /// Samples older than this are refused (the loop then holds), seconds.
    pub max_age_s: f64,
}

/// The controller's part of the file.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The actuator (`crest scale` config), if the file has one.
    pub actuator: Option<ScaleConfig>,
    /// The apps, in file order.
    pub apps: Vec<AppSpec>,
    /// The live metrics source, if the file has one.
    pub metrics: Option<MetricsSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    prometheus: String,
    bearer_token_file: Option<String>,
    max_age_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct RawFile {
    #[serde(default)]
    actuator: Option<ScaleConfig>,
    #[serde(default)]
    metrics: Option<RawMetrics>,
    #[serde(default)]
    app: Vec<RawApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    min_instances: Option<i64>,
    base: Option<i64>,
    max_instances: i64,
    max_step: Option<i64>,
    cooldown_s: Option<i64>,
    period_s: Option<f64>,
    lease_ttl_s: Option<f64>,
    #[serde(default)]
    plans: Vec<String>,
    reverify_before_s: Option<i64>,
    #[serde(default)]
    force_plans: bool,
    #[serde(default)]
    stored_plans: bool,
    target_rps_per_instance: Option<f64>,
    queries: Option<AppQueries>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|&b| b == b'\n').count())
        + 1
}

impl ControllerConfig {
    /// Read the controller's sections of `path`; relative paths (journal,
    /// plans, CNI data dir) are relative to the file.
    ///
    /// # Errors
    /// [`ControllerError::Config`] naming the file, line and field of each problem.
    pub fn load(path: &Path) -> Result<Self, ControllerError> {
        let text = std::fs::read_to_string(path).map_err(|e| ControllerError::Config {
            file: path.display().to_string(),
            message: format!("failed to read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse config text; `path` names it in errors and anchors relative paths.
    ///
    /// # Errors
    /// [`ControllerError::Config`] naming the line and field of each problem.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ControllerError> {
        let file = path.display().to_string();
        let err = |message: String| ControllerError::Config {
            file: file.clone(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
        let rel = |p: &Path| -> PathBuf {
            if p.is_relative() {
                base_dir.join(p)
            } else {
                p.to_path_buf()
            }
        };
        let actuator = match raw.actuator {
            None => None,
            Some(a) => {
                // The same checks `crest scale --config` runs.
                let text = toml::to_string(&a).map_err(|e| err(format!("actuator: {e}")))?;
                let mut a = ScaleConfig::parse(&text, Path::new("[actuator]"))
                    .map_err(|e| err(format!("actuator: {e}")))?;
                a.journal = a.journal.as_deref().map(rel);
                if let Some(n) = a.network.as_mut() {
                    n.data_dir = rel(&n.data_dir);
                }
                Some(a)
            }
        };
        let mut problems = Vec::new();
        let metrics = match raw.metrics {
            None => None,
            Some(m) => {
                if !(m.prometheus.starts_with("http://") || m.prometheus.starts_with("https://")) {
                    problems.push(format!(
                        "metrics.prometheus: expected an http:// or https:// URL, found {:?}",
                        m.prometheus
                    ));
                }
                let max_age_s = m.max_age_s.unwrap_or(120.0);
                if !(1.0..=3600.0).contains(&max_age_s) {
                    problems.push(format!(
                        "metrics.max_age_s: expected 1..=3600 s, found {max_age_s}"
                    ));
                }
                Some(MetricsSpec {
                    prometheus: m.prometheus,
                    bearer_token_file: m.bearer_token_file.as_deref().map(|p| rel(Path::new(p))),
                    max_age_s,
                })
            }
        };
        let mut apps: Vec<AppSpec> = Vec::new();
        for (i, r) in raw.app.iter().enumerate() {
            let line = line_of(text, r.name.span().start);
            let mut bad = |field: &str, msg: String| {
                problems.push(format!("line {line}: app[{i}].{field}: {msg}"));
            };
            let app = match AppId::try_new(r.name.get_ref().clone()) {
                Ok(a) => a,
                Err(e) => {
                    bad("name", e.to_string());
                    continue;
                }
            };
            if apps.iter().any(|a| a.app == app) {
                bad("name", format!("expected each app once, found {app} again"));
            }
            let count =
                |v: Option<i64>, default: u32, field: &str, bad: &mut dyn FnMut(&str, String)| {
                    match v {
                        None => default,
                        Some(x) => u32::try_from(x)
                            .ok()
                            .filter(|&x| x <= 100_000)
                            .unwrap_or_else(|| {
                                bad(field, format!("expected 0..=100000 instances, found {x}"));
                                default
                            }),
                    }
                };
            let min = count(r.min_instances, 1, "min_instances", &mut bad);
            let max = count(Some(r.max_instances), min, "max_instances", &mut bad);
            let base = count(r.base, min, "base", &mut bad);
            let max_step = count(r.max_step, max.max(1), "max_step", &mut bad);
            if max < min {
                bad(
                    "max_instances",
                    format!("expected at least min_instances ({min}), found {max}"),
                );
            }
            if !(min..=max).contains(&base) {
                bad("base", format!("expected {min}..={max}, found {base}"));
            }
            if max_step == 0 {
                bad("max_step", "expected at least 1, found 0".into());
            }
            let cooldown_s = r.cooldown_s.unwrap_or(300);
            if !(0..=86_400).contains(&cooldown_s) {
                bad(
                    "cooldown_s",
                    format!("expected 0..=86400 s, found {cooldown_s}"),
                );
            }
            let secs_ms =
                |v: Option<f64>, default: u64, field: &str, bad: &mut dyn FnMut(&str, String)| {
                    match v {
                        None => default,
                        Some(s) if (0.05..=3600.0).contains(&s) => (s * 1000.0).round() as u64,
                        Some(s) => {
                            bad(field, format!("expected 0.05..=3600 s, found {s}"));
                            default
                        }
                    }
                };
            let period_ms = secs_ms(r.period_s, 15_000, "period_s", &mut bad);
            let lease_ttl_ms = secs_ms(r.lease_ttl_s, 15_000, "lease_ttl_s", &mut bad);
            if lease_ttl_ms < 2 * period_ms.min(5_000) {
                bad(
                    "lease_ttl_s",
                    format!(
                        "expected at least twice the period (or 10 s), found {} ms",
                        lease_ttl_ms
                    ),
                );
            }
            if let Some(t) = r.target_rps_per_instance {
                if !(t.is_finite() && t > 0.0) {
                    bad(
                        "target_rps_per_instance",
                        format!("expected requests/s > 0, found {t}"),
                    );
                } else if metrics.is_none() {
                    bad(
                        "target_rps_per_instance",
                        "needs a [metrics] section (where live demand comes from)".into(),
                    );
                }
            }
            if r.queries.is_some() && r.target_rps_per_instance.is_none() {
                bad(
                    "queries",
                    "only read with target_rps_per_instance (nothing else uses live metrics)"
                        .into(),
                );
            }
            let mut plans = Vec::new();
            for (k, p) in r.plans.iter().enumerate() {
                let p = rel(Path::new(p));
                match std::fs::read_to_string(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        serde_json::from_str::<PlanDocument>(&t).map_err(|e| e.to_string())
                    }) {
                    Ok(d) if d.plan.app != app => bad(
                        &format!("plans[{k}]"),
                        format!("{}: a plan for {}, not {app}", p.display(), d.plan.app),
                    ),
                    Ok(d) => plans.push((p, d)),
                    Err(e) => bad(
                        &format!("plans[{k}]"),
                        format!(
                            "{}: expected a `crest plan --output` document: {e}",
                            p.display()
                        ),
                    ),
                }
            }
            apps.push(AppSpec {
                app,
                min_instances: min,
                base,
                max_instances: max,
                max_step,
                cooldown_s,
                period_ms,
                lease_ttl_ms: i64::try_from(lease_ttl_ms).unwrap_or(15_000),
                plans,
                reverify_before_s: r.reverify_before_s.unwrap_or(300).max(0),
                force_plans: r.force_plans,
                stored_plans: r.stored_plans,
                target_rps_per_instance: r.target_rps_per_instance,
                queries: r.queries.clone(),
            });
        }
        if !problems.is_empty() {
            return Err(err(problems.join("; ")));
        }
        Ok(ControllerConfig {
            actuator,
            apps,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_section_and_target_tracking_parse_and_need_each_other() {
        let p = Path::new("/etc/crest/serve.toml");
        let ok = ControllerConfig::parse(
            "[metrics]\nprometheus = \"http://127.0.0.1:9090\"\nbearer_token_file = \"token\"\n\
             [[app]]\nname = \"web\"\nmax_instances = 20\ntarget_rps_per_instance = 40.0\n\
             [app.queries]\ndemand = 'sum(rate(x{app=\"{app}\"}[1m]))'\n",
            p,
        )
        .unwrap();
        let m = ok.metrics.unwrap();
        assert_eq!(m.prometheus, "http://127.0.0.1:9090");
        assert_eq!(
            m.bearer_token_file.as_deref(),
            Some(Path::new("/etc/crest/token"))
        );
        assert_eq!(m.max_age_s, 120.0);
        assert_eq!(ok.apps[0].target_rps_per_instance, Some(40.0));
        assert!(
            ok.apps[0]
                .queries
                .as_ref()
                .unwrap()
                .demand
                .contains("{app}")
        );

        let e = ControllerConfig::parse(
            "[[app]]\nname = \"web\"\nmax_instances = 20\ntarget_rps_per_instance = 40.0\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("app[0].target_rps_per_instance: needs a [metrics] section"),
            "{e}"
        );
        let e = ControllerConfig::parse(
            "[metrics]\nprometheus = \"localhost:9090\"\nmax_age_s = 0\n\
             [[app]]\nname = \"web\"\nmax_instances = 20\ntarget_rps_per_instance = -1\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("metrics.prometheus: expected an http"), "{e}");
        assert!(e.contains("metrics.max_age_s"), "{e}");
        assert!(
            e.contains("target_rps_per_instance: expected requests/s > 0"),
            "{e}"
        );
    }

    #[test]
    fn apps_parse_with_defaults_and_problems_name_line_and_field() {
        let p = Path::new("/etc/crest/serve.toml");
        let ok = ControllerConfig::parse(
            "[server]\nlisten = \"x\"\n[[app]]\nname = \"web\"\nmax_instances = 20\nmax_step = 5\n",
            p,
        )
        .unwrap();
        assert_eq!(ok.apps.len(), 1);
        let a = &ok.apps[0];
        assert_eq!(
            (a.min_instances, a.base, a.max_instances, a.max_step),
            (1, 1, 20, 5)
        );
        assert!(ok.actuator.is_none());

        let e = ControllerConfig::parse(
            "[[app]]\nname = \"web\"\nmax_instances = 20\n\n[[app]]\nname = \"api\"\nmin_instances = 5\nmax_instances = 3\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 6: app[1].max_instances"), "{e}");
        assert!(e.contains("serve.toml"), "{e}");

        let e = ControllerConfig::parse("[[app]]\nname = \"web\"\nmax_instance = 20\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_instance") && e.contains("line 3"), "{e}");

        let e = ControllerConfig::parse(
            "[actuator]\n[actuator.fleet]\nconcurency = 3\n[[app]]\nname = \"web\"\nmax_instances = 2\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("concurency"), "{e}");
    }

    #[test]
    fn relative_journal_is_relative_to_the_file() {
        let c = ControllerConfig::parse(
            "[actuator]\njournal = \"j.sqlite\"\n[[app]]\nname = \"web\"\nmax_instances = 2\n",
            Path::new("/srv/crest/serve.toml"),
        )
        .unwrap();
        assert_eq!(
            c.actuator.unwrap().journal.unwrap(),
            PathBuf::from("/srv/crest/j.sqlite")
        );
    }
}
