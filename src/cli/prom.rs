//! `--prometheus URL --query PROMQL --step DUR` with `--from TIME --to TIME`
//! or `--range DUR`: history from Prometheus, one option set shared by
//! `forecast`, `forecast backtest`, `plan` and `rehearse` (other tools
//! depend on these exact names). Parsing and the progress bar only; the
//! pull and its cache are `crest_planning::history`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use crest_datasets::Dataset;
use crest_forecast::progress::Progress;
use crest_planning::history::{PromHistory, load_prometheus, range_ending_at};
use crest_prometheus::{Auth, ClientConfig, RangeRequest};

use super::args::{parse_duration_s, parse_instant};

/// History from Prometheus (`/api/v1/query_range`).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "History from Prometheus")]
pub struct PromArgs {
    /// Prometheus base URL (http:// or https://), e.g. http://127.0.0.1:9090.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// PromQL; one series per returned label set (series_id from the labels).
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,
    /// Query step (30s, 5m, 1h): the history's interval.
    #[arg(long, value_name = "DUR")]
    pub step: Option<String>,
    /// With --prometheus: first instant pulled (RFC 3339). (crest plan
    /// --history: the first day of the planning window.)
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// With --prometheus: last instant pulled (RFC 3339). (crest plan
    /// --history: the end of the planning window.)
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Pull this much history ending now (90d, 12h), instead of --from/--to.
    #[arg(long, value_name = "DUR", conflicts_with_all = ["from", "to"], requires = "prometheus")]
    pub range: Option<String>,
    /// Send `Authorization: Bearer` with the token in this file.
    #[arg(
        long,
        value_name = "FILE",
        requires = "prometheus",
        conflicts_with = "basic_auth_user"
    )]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth user (password from --basic-auth-password-file).
    #[arg(long, value_name = "USER", requires_all = ["prometheus", "basic_auth_password_file"])]
    pub basic_auth_user: Option<String>,
    /// File holding the basic auth password.
    #[arg(long, value_name = "FILE", requires = "basic_auth_user")]
    pub basic_auth_password_file: Option<PathBuf>,
    /// Also trust this PEM CA bundle for https://.
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS (with --key-file).
    #[arg(long, value_name = "FILE", requires_all = ["prometheus", "key_file"])]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    #[arg(long, requires = "prometheus")]
    pub insecure_skip_verify: bool,
    /// Cache pulled history here (default: $XDG_CACHE_HOME/crest/prometheus
    /// or ~/.cache/crest/prometheus).
    #[arg(long, value_name = "DIR", requires = "prometheus")]
    pub cache_dir: Option<PathBuf>,
    /// Pull again even if the cache holds the range.
    #[arg(long, requires = "prometheus")]
    pub refresh: bool,
}

fn read_secret(p: &PathBuf, what: &str) -> anyhow::Result<String> {
    let s = std::fs::read_to_string(p)
        .with_context(|| format!("failed to read the {what} file {}", p.display()))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("crest").join("prometheus"))
}

impl PromArgs {
    /// Whether history comes from Prometheus.
    pub fn is_set(&self) -> bool {
        self.prometheus.is_some()
    }

    /// Without --prometheus, refuse the options that only make sense with
    /// it (`window_is_own`: the command reads --from/--to itself, as
    /// `crest plan --history` does).
    pub fn check_unused(&self, window_is_own: bool) -> anyhow::Result<()> {
        if self.is_set() {
            return Ok(());
        }
        if self.step.is_some() {
            bail!("--step is the Prometheus query step: it needs --prometheus URL");
        }
        if !window_is_own && (self.from.is_some() || self.to.is_some()) {
            bail!(
                "--from/--to choose the history pulled from Prometheus: they need --prometheus URL"
            );
        }
        Ok(())
    }

    /// The pull these options ask for (`None` without --prometheus), with
    /// every missing or contradictory option named.
    pub fn request(&self) -> anyhow::Result<Option<PromHistory>> {
        let Some(url) = &self.prometheus else {
            return Ok(None);
        };
        let query = self
            .query
            .clone()
            .context("--prometheus needs --query PROMQL")?;
        let step = self
            .step
            .as_deref()
            .context("--prometheus needs --step DUR (e.g. 5m)")?;
        let step_s = parse_duration_s(step)?;
        if step_s <= 0 {
            bail!("failed to read --step {step:?}: expected at least 1s");
        }
        let (start_s, end_s) = match (&self.range, &self.from, &self.to) {
            (Some(r), None, None) => {
                let range_s = parse_duration_s(r)?;
                if range_s <= 0 {
                    bail!("failed to read --range {r:?}: expected a positive duration");
                }
                range_ending_at(chrono::Utc::now().timestamp(), range_s, step_s)
            }
            (None, Some(f), Some(t)) => {
                let (a, b) = (parse_instant(f)?.secs(), parse_instant(t)?.secs());
                if b < a {
                    bail!("--to {t:?} is before --from {f:?}");
                }
                (a, b)
            }
            (None, Some(_), None) => bail!("--from needs --to (or use --range DUR)"),
            (None, None, Some(_)) => bail!("--to needs --from (or use --range DUR)"),
            _ => bail!("--prometheus needs --from TIME --to TIME or --range DUR"),
        };
        let mut client = ClientConfig::new(url.clone());
        client.auth = match (&self.bearer_token_file, &self.basic_auth_user) {
            (Some(f), _) => Auth::Bearer(read_secret(f, "bearer token")?),
            (None, Some(user)) => Auth::Basic {
                user: user.clone(),
                password: match &self.basic_auth_password_file {
                    Some(f) => read_secret(f, "basic auth password")?,
                    None => bail!("--basic-auth-user needs --basic-auth-password-file"),
                },
            },
            (None, None) => Auth::None,
        };
        client.tls.ca_file = self.ca_file.clone();
        client.tls.cert_file = self.cert_file.clone();
        client.tls.key_file = self.key_file.clone();
        client.tls.insecure_skip_verify = self.insecure_skip_verify;
        client.timeout = Duration::from_secs(60);
        Ok(Some(PromHistory {
            client,
            range: RangeRequest {
                query,
                start_s,
                end_s,
                step_s,
            },
            cache_dir: self.cache_dir.clone().or_else(default_cache_dir),
            refresh: self.refresh,
        }))
    }

    /// Pull (or read back from the cache) the history, with a progress bar
    /// on a terminal; `None` without --prometheus.
    pub fn load(&self) -> anyhow::Result<Option<Dataset>> {
        let Some(h) = self.request()? else {
            return Ok(None);
        };
        let bar = Progress::counting(h.range.points() as u64, "prometheus", "steps", true);
        let r = load_prometheus(&h, &|n| bar.advance(n));
        bar.finish();
        let (data, _stats) = r?;
        Ok(Some(data))
    }

    /// [`Self::load`] for commands that take one series (plan, rehearse).
    pub fn load_one(&self, cmd: &str) -> anyhow::Result<Option<crest_core::Series>> {
        let Some(d) = self.load()? else {
            return Ok(None);
        };
        if d.series.len() != 1 {
            let ids: Vec<&str> = d.series.iter().map(|s| s.id()).take(5).collect();
            bail!(
                "crest {cmd} takes one series, but --query returned {} ({}{}); aggregate it, e.g. sum(...)",
                d.series.len(),
                ids.join("; "),
                if d.series.len() > 5 { "; ..." } else { "" }
            );
        }
        Ok(d.series.into_iter().next())
    }
}
