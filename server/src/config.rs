//! `crest serve` configuration: TOML in, validated [`ServerConfig`] out.
//!
//! The file is read into `Raw*` structs that reject unknown fields (a typo in
//! a key must not silently fall back to a default), then checked as a whole:
//! every problem is collected with its field path and line, and reported at
//! once (see [`ServerError::InvalidConfig`]).
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:9300"
//! db_path = "crest-state.db"        # relative paths are relative to this file
//! token_env = "CREST_TOKEN"         # or: token = "..." (at least 16 characters)
//! max_body_bytes = 1048576          # optional
//! header_timeout_ms = 10000         # optional: headers, and idle (keep-alive) connections
//! request_timeout_ms = 30000        # optional: body read + answer, else 408
//! max_connections = 512             # optional: more wait in the listen backlog
//! max_page_bytes = 4194304         # optional: plan JSON per GET /v1/plans page
//! public_reads = false              # optional: GET /v1/plans without the token
//!
//! [mapping]
//! app_labels = ["app", "service"]   # the first label present names the app
//!
//! [[mapping.rules]]                 # first matching rule wins
//! alertname = "HighLatency"         # optional matchers: alertname, severity, labels
//! severity = "page"
//! step = 4                          # replicas to add while the alert fires
//! on_resolve = "undo"               # "undo" the step, or "end" it (release, no scale-in)
//!
//! [defaults]                        # optional: bounds for apps not listed below
//! min_replicas = 1
//! max_replicas = 20
//!
//! [apps.flight-search]
//! min_replicas = 2
//! max_replicas = 40
//! base_replicas = 4                 # optional, defaults to min_replicas
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crest_core::{AppId, Replicas};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{ConfigProblem, ServerError};

/// Default request body limit: 1 MiB (Alertmanager caps a group's payload well below).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// Default cap on the requests one group commit may hold.
pub const DEFAULT_MAX_BATCH: usize = 1024;
/// Default time a client has to send a request's headers.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
/// Default time a request (its body included) has to be read and answered.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Default cap on the stored plan JSON one `GET /v1/plans` page carries.
pub const DEFAULT_MAX_PAGE_BYTES: usize = 4 << 20;
/// Default cap on open connections (the rest wait in the kernel's backlog).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// The bearer token write endpoints require. Its `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wrap a token (no validation; [`ServerConfig`] validates).
    pub fn new(s: impl Into<String>) -> Self {
        Token(s.into())
    }

    /// The secret bytes, for the constant-time comparison.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What a resolved alert does to the step it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnResolve {
    /// Decide the opposite step (scale back in by the same amount).
    #[default]
    Undo,
    /// Release the alert's hold on capacity without deciding a scale-in; the
    /// other policies (target tracking, the plan) scale in when they see fit.
    End,
}

impl OnResolve {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OnResolve::Undo => "undo",
            OnResolve::End => "end",
        }
    }
}

/// One alert → step rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRule {
    /// Matches the `alertname` label when set.
    pub alertname: Option<String>,
    /// Matches the `severity` label when set.
    pub severity: Option<String>,
    /// Every one of these labels must be present with this value.
    pub labels: BTreeMap<String, String>,
    /// Replicas to add while the alert fires (negative: remove).
    pub step: i32,
    /// What resolution does.
    pub on_resolve: OnResolve,
}

impl StepRule {
    /// Whether the rule matches an alert's labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let eq = |k: &str, want: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| labels.get(k).map(String::as_str) == Some(w))
        };
        eq("alertname", &self.alertname)
            && eq("severity", &self.severity)
            && self
                .labels
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|x| x == v))
    }
}

/// Replica bounds for one app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AppBounds {
    /// Never decide fewer.
    pub min: Replicas,
    /// Never decide more.
    pub max: Replicas,
    /// The fleet size alert steps add to.
    pub base: Replicas,
}

/// How alerts map to apps and steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Label names whose value names the app; the first present wins.
    pub app_labels: Vec<String>,
    /// Step rules, first match wins.
    pub rules: Vec<StepRule>,
    /// Bounds for apps that have no `[apps.NAME]` table; `None`: such apps are ignored.
    pub defaults: Option<AppBounds>,
    /// Per-app bounds.
    pub apps: BTreeMap<AppId, AppBounds>,
}

impl Mapping {
    /// The bounds that apply to `app`, if it is served.
    pub fn bounds(&self, app: &AppId) -> Option<AppBounds> {
        self.apps.get(app).copied().or(self.defaults)
    }
}

/// A validated `crest serve` configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (the CLI binds it; tests pass their own listener).
    pub listen: SocketAddr,
    /// SQLite state database.
    pub db_path: PathBuf,
    /// Bearer token for write endpoints.
    pub token: Token,
    /// Request body limit in bytes.
    pub max_body_bytes: usize,
    /// Cap on requests per group commit.
    pub max_batch: usize,
    /// Alert → app/step mapping.
    pub mapping: Mapping,
    /// A client must send its request headers within this many milliseconds;
    /// this is also the idle timeout (a connection silent after connecting
    /// or between keep-alive requests is waiting for headers).
    pub header_timeout_ms: u64,
    /// A request, body included, must be read and answered within this many milliseconds.
    pub request_timeout_ms: u64,
    /// At most this many connections are served at once.
    pub max_connections: usize,
    /// Stored plan JSON one `GET /v1/plans` page may carry (one plan always fits).
    pub max_page_bytes: usize,
    /// Whether `GET /v1/plans` and `GET /v1/plans/{id}` are open without the token.
    pub public_reads: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    #[serde(default)]
    mapping: RawMapping,
    #[serde(default)]
    defaults: Option<RawApp>,
    #[serde(default)]
    apps: BTreeMap<String, RawApp>,
    /// `[actuator]` and `[[app]]`: the controller's sections of the same file,
    /// read and validated by `crest-controller`, not by the server.
    #[serde(default)]
    #[allow(dead_code)] // validated by the controller
    actuator: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)] // validated by the controller
    app: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Spanned<String>,
    db_path: Spanned<String>,
    token: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<i64>>,
    max_batch: Option<Spanned<i64>>,
    header_timeout_ms: Option<Spanned<i64>>,
    request_timeout_ms: Option<Spanned<i64>>,
    max_connections: Option<Spanned<i64>>,
    max_page_bytes: Option<Spanned<i64>>,
    #[serde(default)]
    public_reads: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    app_labels: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alertname: Option<String>,
    severity: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    step: Spanned<i64>,
    #[serde(default)]
    on_resolve: OnResolve,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    min_replicas: Spanned<i64>,
    max_replicas: Spanned<i64>,
    base_replicas: Option<Spanned<i64>>,
}

/// Turns byte offsets into 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn line(&self, span: Range<usize>) -> Option<usize> {
        let upto = self.0.get(..span.start)?;
        Some(upto.bytes().filter(|&b| b == b'\n').count() + 1)
    }
}

struct Problems<'a> {
    lines: Lines<'a>,
    list: Vec<ConfigProblem>,
}

impl Problems<'_> {
    fn push(
        &mut self,
        field: impl Into<String>,
        span: Option<Range<usize>>,
        msg: impl Into<String>,
    ) {
        self.list.push(ConfigProblem {
            field: field.into(),
            line: span.and_then(|s| self.lines.line(s)),
            message: msg.into(),
        });
    }
}

impl ServerConfig {
    /// Read and validate a config file; the token environment variable is read
    /// from the process environment.
    ///
    /// # Errors
    /// [`ServerError::ReadConfig`], [`ServerError::ParseConfig`] or
    /// [`ServerError::InvalidConfig`] listing every problem.
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::ReadConfig {
            file: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::from_toml(&text, &path.display().to_string(), base, |k| {
            std::env::var(k).ok()
        })
    }

    /// Parse and validate config text. `origin` names the file in errors,
    /// relative `db_path`s are joined to `base_dir`, and `env` looks up the
    /// variable named by `token_env`.
    ///
    /// # Errors
    /// [`ServerError::ParseConfig`] or [`ServerError::InvalidConfig`].
    pub fn from_toml(
        text: &str,
        origin: &str,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ServerError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ServerError::ParseConfig {
            file: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut p = Problems {
            lines: Lines(text),
            list: Vec::new(),
        };

        let s = &raw.server;
        let listen = match s.listen.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                p.push(
                    "server.listen",
                    Some(s.listen.span()),
                    format!(
                        "expected an address like 127.0.0.1:9300, found {:?}",
                        s.listen.get_ref()
                    ),
                );
                None
            }
        };
        let db_path = if s.db_path.get_ref().trim().is_empty() {
            p.push(
                "server.db_path",
                Some(s.db_path.span()),
                "expected a file path, found an empty string",
            );
            PathBuf::new()
        } else {
            base_dir.join(s.db_path.get_ref())
        };

        let token = match (&s.token, &s.token_env) {
            (Some(_), Some(e)) => {
                p.push(
                    "server.token_env",
                    Some(e.span()),
                    "expected either `token` or `token_env`, found both",
                );
                None
            }
            (None, None) => {
                p.push(
                    "server.token",
                    None,
                    "expected `token` or `token_env` (write endpoints need a bearer token), found neither",
                );
                None
            }
            (Some(t), None) => check_token(&mut p, "server.token", t.span(), t.get_ref().clone()),
            (None, Some(e)) => match env(e.get_ref()) {
                Some(v) => check_token(&mut p, "server.token_env", e.span(), v),
                None => {
                    p.push(
                        "server.token_env",
                        Some(e.span()),
                        format!("expected the environment variable {} to hold the token, found it unset", e.get_ref()),
                    );
                    None
                }
            },
        };

        let max_body_bytes = bounded(
            &mut p,
            "server.max_body_bytes",
            s.max_body_bytes.as_ref(),
            1024,
            64 << 20,
        )
        .unwrap_or(DEFAULT_MAX_BODY_BYTES as i64);
        let max_batch = bounded(&mut p, "server.max_batch", s.max_batch.as_ref(), 1, 100_000)
            .unwrap_or(DEFAULT_MAX_BATCH as i64);
        let ms = |p: &mut Problems<'_>, field: &str, v: Option<&Spanned<i64>>, default: u64| {
            bounded(p, field, v, 10, 3_600_000)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(default)
        };
        let header_timeout_ms = ms(
            &mut p,
            "server.header_timeout_ms",
            s.header_timeout_ms.as_ref(),
            DEFAULT_HEADER_TIMEOUT_MS,
        );
        let request_timeout_ms = ms(
            &mut p,
            "server.request_timeout_ms",
            s.request_timeout_ms.as_ref(),
            DEFAULT_REQUEST_TIMEOUT_MS,
        );
        let max_connections = bounded(
            &mut p,
            "server.max_connections",
            s.max_connections.as_ref(),
            1,
            1_000_000,
        )
        .unwrap_or(DEFAULT_MAX_CONNECTIONS as i64);
        let max_page_bytes = bounded(
            &mut p,
            "server.max_page_bytes",
            s.max_page_bytes.as_ref(),
            1024,
            256 << 20,
        )
        .unwrap_or(DEFAULT_MAX_PAGE_BYTES as i64);
        let public_reads = s.public_reads;

        let app_labels = match &raw.mapping.app_labels {
            None => vec!["app".to_string(), "service".to_string()],
            Some(l) => {
                if l.get_ref().is_empty() || l.get_ref().iter().any(|x| x.trim().is_empty()) {
                    p.push(
                        "mapping.app_labels",
                        Some(l.span()),
                        "expected a non-empty list of non-empty label names",
                    );
                }
                l.get_ref().clone()
            }
        };
        if raw.mapping.rules.is_empty() {
            p.push(
                "mapping.rules",
                None,
                "expected at least one [[mapping.rules]] entry (alert -> step), found none",
            );
        }
        let mut rules = Vec::with_capacity(raw.mapping.rules.len());
        for (i, r) in raw.mapping.rules.iter().enumerate() {
            let step = *r.step.get_ref();
            if step == 0 || step.abs() > 10_000 {
                p.push(
                    format!("mapping.rules[{i}].step"),
                    Some(r.step.span()),
                    format!(
                        "expected a non-zero step between -10000 and 10000 replicas, found {step}"
                    ),
                );
            }
            rules.push(StepRule {
                alertname: r.alertname.clone(),
                severity: r.severity.clone(),
                labels: r.labels.clone(),
                step: i32::try_from(step).unwrap_or(0),
                on_resolve: r.on_resolve,
            });
        }

        let defaults = raw
            .defaults
            .as_ref()
            .and_then(|d| check_bounds(&mut p, "defaults", d));
        let mut apps = BTreeMap::new();
        for (name, a) in &raw.apps {
            let field = format!("apps.{name}");
            let app = match AppId::try_new(name.clone()) {
                Ok(app) => Some(app),
                Err(e) => {
                    p.push(field.clone(), Some(a.min_replicas.span()), e.to_string());
                    None
                }
            };
            if let (Some(app), Some(b)) = (app, check_bounds(&mut p, &field, a)) {
                apps.insert(app, b);
            }
        }

        if !p.list.is_empty() {
            return Err(ServerError::InvalidConfig {
                file: origin.to_string(),
                problems: p.list,
            });
        }
        let (Some(listen), Some(token)) = (listen, token) else {
            // Unreachable in practice: a missing value always pushed a problem above.
            return Err(ServerError::InvalidConfig {
                file: origin.to_string(),
                problems: vec![ConfigProblem {
                    field: "server".into(),
                    line: None,
                    message: "incomplete server section".into(),
                }],
            });
        };
        Ok(ServerConfig {
            listen,
            db_path,
            token,
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_batch: usize::try_from(max_batch).unwrap_or(DEFAULT_MAX_BATCH),
            header_timeout_ms,
            request_timeout_ms,
            max_connections: usize::try_from(max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS),
            max_page_bytes: usize::try_from(max_page_bytes).unwrap_or(DEFAULT_MAX_PAGE_BYTES),
            public_reads,
            mapping: Mapping {
                app_labels,
                rules,
                defaults,
                apps,
            },
        })
    }
}

fn check_token(
    p: &mut Problems<'_>,
    field: &str,
    span: Range<usize>,
    value: String,
) -> Option<Token> {
    if value.chars().count() < 16 || value.chars().any(char::is_whitespace) {
        p.push(
            field,
            Some(span),
            format!(
                "expected a token of at least 16 characters without whitespace, found {} characters",
                value.chars().count()
            ),
        );
        return None;
    }
    Some(Token(value))
}

fn bounded(
    p: &mut Problems<'_>,
    field: &str,
    v: Option<&Spanned<i64>>,
    lo: i64,
    hi: i64,
) -> Option<i64> {
    let v = v?;
    let x = *v.get_ref();
    if (lo..=hi).contains(&x) {
        Some(x)
    } else {
        p.push(
            field,
            Some(v.span()),
            format!("expected a value between {lo} and {hi}, found {x}"),
        );
        None
    }
}

fn check_bounds(p: &mut Problems<'_>, field: &str, a: &RawApp) -> Option<AppBounds> {
    let replicas = |p: &mut Problems<'_>, name: &str, v: &Spanned<i64>| -> Option<u32> {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n <= 100_000 => Some(n),
            _ => {
                p.push(
                    format!("{field}.{name}"),
                    Some(v.span()),
                    format!(
                        "expected a replica count between 0 and 100000, found {}",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    };
    let min = replicas(p, "min_replicas", &a.min_replicas);
    let max = replicas(p, "max_replicas", &a.max_replicas);
    let base = match &a.base_replicas {
        Some(b) => replicas(p, "base_replicas", b),
        None => min,
    };
    let (min, max, base) = (min?, max?, base?);
    let mut ok = true;
    if max == 0 || min > max {
        p.push(
            format!("{field}.max_replicas"),
            Some(a.max_replicas.span()),
            format!("expected max_replicas >= max(1, min_replicas = {min}), found {max}"),
        );
        ok = false;
    }
    if ok && !(min..=max).contains(&base) {
        let span = a.base_replicas.as_ref().map(Spanned::span);
        p.push(
            format!("{field}.base_replicas"),
            span,
            format!("expected base_replicas between {min} and {max}, found {base}"),
        );
        ok = false;
    }
    ok.then_some(AppBounds {
        min: Replicas(min),
        max: Replicas(max),
        base: Replicas(base),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:9300"
db_path = "state.db"
token = "0123456789abcdef-secret"

[[mapping.rules]]
alertname = "HighLatency"
severity = "page"
step = 4

[[mapping.rules]]
severity = "warning"
step = 1
on_resolve = "end"

[apps.flight-search]
min_replicas = 2
max_replicas = 40
"#;

    fn parse(text: &str) -> Result<ServerConfig, ServerError> {
        ServerConfig::from_toml(text, "crest.toml", Path::new("/etc/crest"), |k| {
            (k == "CREST_TOKEN").then(|| "from-the-environment-123".to_string())
        })
    }

    #[test]
    fn good_config_validates() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.db_path, PathBuf::from("/etc/crest/state.db"));
        assert_eq!(c.mapping.rules.len(), 2);
        assert_eq!(c.mapping.rules[1].on_resolve, OnResolve::End);
        let app = AppId::try_new("flight-search").unwrap();
        assert_eq!(c.mapping.bounds(&app).unwrap().base, Replicas(2));
        assert!(
            c.mapping
                .bounds(&AppId::try_new("other").unwrap())
                .is_none()
        );
        assert_eq!(format!("{:?}", c.token), "Token(<redacted>)");
    }

    #[test]
    fn token_from_env() {
        let text = GOOD.replace(
            "token = \"0123456789abcdef-secret\"",
            "token_env = \"CREST_TOKEN\"",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.token, Token::new("from-the-environment-123"));
        let text = text.replace("CREST_TOKEN", "UNSET_VAR");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("line 5: server.token_env"), "{err}");
        assert!(err.contains("UNSET_VAR"), "{err}");
    }

    #[test]
    fn unknown_field_names_field_and_line() {
        let text = GOOD.replace("step = 4", "step = 4\nstpe = 5");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("stpe"), "{err}");
        assert!(err.contains("line 11"), "{err}");
    }

    #[test]
    fn all_problems_reported_at_once() {
        let text = GOOD
            .replace("127.0.0.1:9300", "nowhere")
            .replace("step = 4", "step = 0")
            .replace("max_replicas = 40", "max_replicas = 1")
            .replace("0123456789abcdef-secret", "short");
        let err = parse(&text).unwrap_err();
        let ServerError::InvalidConfig { problems, .. } = &err else {
            panic!("{err}");
        };
        let fields: Vec<_> = problems
            .iter()
            .map(|p| (p.field.as_str(), p.line))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("server.listen", Some(3)),
                ("server.token", Some(5)),
                ("mapping.rules[0].step", Some(10)),
                ("apps.flight-search.max_replicas", Some(19)),
            ]
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("failed to validate config file crest.toml: 4 problem(s)"),
            "{msg}"
        );
    }

    #[test]
    fn example_config_validates() {
        let text = include_str!("../crest-serve.example.toml");
        let c = ServerConfig::from_toml(text, "example", Path::new("/srv"), |k| {
            (k == "CREST_TOKEN").then(|| "example-token-0123456789".to_string())
        })
        .unwrap();
        assert_eq!(c.mapping.rules.len(), 3);
        let app = AppId::try_new("flight-search").unwrap();
        assert_eq!(c.mapping.bounds(&app).unwrap().base, Replicas(8));
        assert!(c.mapping.defaults.is_some());
        assert_eq!(c.header_timeout_ms, 10_000);
        assert_eq!(c.request_timeout_ms, 30_000);
        assert_eq!(c.max_connections, 512);
        assert_eq!(c.max_page_bytes, 4 << 20);
        assert!(!c.public_reads);
    }

    #[test]
    fn slow_client_limits_are_bounded() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\ndb_path = \"x\"\ntoken = \"0123456789abcdef\"\n\
                    header_timeout_ms = 0\nrequest_timeout_ms = -5\nmax_connections = 0\n\
                    max_page_bytes = 10\n[[mapping.rules]]\nstep = 1\n";
        let err = parse(text).unwrap_err().to_string();
        for (line, field) in [
            (5, "server.header_timeout_ms"),
            (6, "server.request_timeout_ms"),
            (7, "server.max_connections"),
            (8, "server.max_page_bytes"),
        ] {
            assert!(
                err.contains(&format!("line {line}: {field}")),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn bad_app_name_and_missing_rules() {
        let text = "[server]\nlisten = \"127.0.0.1:1\"\ndb_path = \"x\"\ntoken = \"0123456789abcdef\"\n[apps.Bad_App]\nmin_replicas = 1\nmax_replicas = 2\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("mapping.rules"), "{err}");
        assert!(err.contains("line 6: apps.Bad_App"), "{err}");
    }
}
