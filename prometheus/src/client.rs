//! The HTTP side: one `reqwest` client per [`ClientConfig`] (auth, TLS,
//! timeout), the two query endpoints, the documented JSON envelope
//! (`status`, `data`, `errorType`, `error`) and retries with bounded
//! exponential backoff for what may pass (unreachable, 5xx, 429).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::PromError;

/// A sample's label set (sorted by name, `__name__` included when present).
pub type Labels = BTreeMap<String, String>;

/// The series id crest gives a label set: `name=value` pairs in label order,
/// comma-separated (`instance=a:80,job=booking`); the empty set (an
/// aggregate such as `sum(rate(...))`) is `""`, as a `timestamp,value` CSV's
/// only series.
pub fn series_id(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// How to authenticate, as the Prometheus HTTP API (or a proxy before it) expects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer(String),
    /// HTTP basic auth.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

/// TLS settings for `https://` URLs (rustls; the system roots are trusted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Also trust this PEM CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with [`Self::key_file`], for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (testing only).
    pub insecure_skip_verify: bool,
}

/// Retries of calls that may pass later: `attempts` in all, waiting
/// `base * 2^i` (at most `max`) between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all (1: no retry).
    pub attempts: u32,
    /// First wait.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries (live metrics: a stale answer is worse than none).
    pub const NONE: RetryPolicy = RetryPolicy {
        attempts: 1,
        base: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The wait before attempt `i + 1` (after `i + 1` failures).
    pub fn delay(&self, i: u32) -> Duration {
        let d = self.base.saturating_mul(1u32 << i.min(16));
        d.min(self.max)
    }
}

/// Where Prometheus is and how to talk to it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `http://127.0.0.1:9090` (a path prefix is kept).
    pub url: String,
    /// Credentials.
    pub auth: Auth,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Defaults for `url`: no auth, system roots, 30 s timeout, 5 attempts.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            auth: Auth::None,
            tls: TlsConfig::default(),
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// One sample of an instant vector (or a scalar, with no labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels.
    pub labels: Labels,
    /// Sample time, Unix seconds.
    pub at_s: f64,
    /// Value (may be NaN or ±Inf, as Prometheus says).
    pub value: f64,
}

/// One series of a range answer: `(unix seconds, value)` in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// Labels.
    pub labels: Labels,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// A Prometheus HTTP API client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VecItem>),
    Matrix(Vec<MatItem>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VecItem {
    #[serde(default)]
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatItem {
    #[serde(default)]
    metric: Labels,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// A Prometheus sample value: a decimal, `NaN`, `+Inf` or `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

impl Client {
    /// Build a client.
    ///
    /// # Errors
    /// [`PromError::Config`] for a URL that is not http(s) or unreadable TLS files.
    pub fn new(cfg: &ClientConfig) -> Result<Self, PromError> {
        let base = cfg.url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PromError::Config(format!(
                "expected an http:// or https:// URL, found {:?}",
                cfg.url
            )));
        }
        reqwest::Url::parse(&base)
            .map_err(|e| PromError::Config(format!("bad URL {:?}: {e}", cfg.url)))?;
        let read = |p: &PathBuf, what: &str| {
            std::fs::read(p).map_err(|e| {
                PromError::Config(format!("failed to read the {what} {}: {e}", p.display()))
            })
        };
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .danger_accept_invalid_certs(cfg.tls.insecure_skip_verify);
        if let Some(ca) = &cfg.tls.ca_file {
            let pem = read(ca, "CA file")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                PromError::Config(format!("CA file {}: not PEM: {e}", ca.display()))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        match (&cfg.tls.cert_file, &cfg.tls.key_file) {
            (Some(c), Some(k)) => {
                let mut pem = read(c, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read(k, "client key")?);
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    PromError::Config(format!(
                        "client certificate {} / key {}: {e}",
                        c.display(),
                        k.display()
                    ))
                })?;
                b = b.identity(id);
            }
            (None, None) => {}
            _ => {
                return Err(PromError::Config(
                    "a client certificate needs both a cert file and a key file".into(),
                ));
            }
        }
        let http = b
            .build()
            .map_err(|e| PromError::Config(format!("failed to build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            auth: cfg.auth.clone(),
            retry: cfg.retry,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// An instant query (`/api/v1/query`), evaluated at `at_s` (Unix
    /// seconds) or now. A scalar answer is one sample without labels.
    ///
    /// # Errors
    /// As [`PromError`]; retried per the client's [`RetryPolicy`].
    pub async fn query(&self, promql: &str, at_s: Option<f64>) -> Result<Vec<Sample>, PromError> {
        let mut params = vec![("query", promql.to_string())];
        if let Some(t) = at_s {
            params.push(("time", format!("{t}")));
        }
        let url = format!("{}/api/v1/query", self.base);
        match self.call(&url, promql, &params).await? {
            Data::Vector(v) => v
                .into_iter()
                .map(|i| {
                    let value = parse_value(&i.value.1)
                        .ok_or_else(|| self.protocol(&url, format!("bad value {:?}", i.value.1)))?;
                    Ok(Sample {
                        labels: i.metric,
                        at_s: i.value.0,
                        value,
                    })
                })
                .collect(),
            Data::Scalar((t, v)) => Ok(vec![Sample {
                labels: Labels::new(),
                at_s: t,
                value: parse_value(&v)
                    .ok_or_else(|| self.protocol(&url, format!("bad value {v:?}")))?,
            }]),
            _ => Err(self.protocol(&url, "expected a vector or scalar result".into())),
        }
    }

    /// One range query (`/api/v1/query_range`) from `start_s` to `end_s`
    /// (Unix seconds, inclusive) every `step_s`. Callers wanting more than
    /// the server's 11,000 points per series use [`crate::range::pull`].
    ///
    /// # Errors
    /// As [`PromError`]; retried per the client's [`RetryPolicy`].
    pub async fn query_range(
        &self,
        promql: &str,
        start_s: i64,
        end_s: i64,
        step_s: i64,
    ) -> Result<Vec<RangeSeries>, PromError> {
        let params = [
            ("query", promql.to_string()),
            ("start", start_s.to_string()),
            ("end", end_s.to_string()),
            ("step", step_s.to_string()),
        ];
        let url = format!("{}/api/v1/query_range", self.base);
        match self.call(&url, promql, &params).await? {
            Data::Matrix(m) => m
                .into_iter()
                .map(|i| {
                    let points = i
                        .values
                        .into_iter()
                        .map(|(t, v)| {
                            parse_value(&v)
                                .map(|x| (t, x))
                                .ok_or_else(|| self.protocol(&url, format!("bad value {v:?}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(RangeSeries {
                        labels: i.metric,
                        points,
                    })
                })
                .collect(),
            _ => Err(self.protocol(&url, "expected a matrix result".into())),
        }
    }

    fn protocol(&self, url: &str, message: String) -> PromError {
        PromError::Protocol {
            url: url.to_string(),
            message,
        }
    }

    /// GET with retries on [`PromError::is_retryable`] failures.
    async fn call(
        &self,
        url: &str,
        promql: &str,
        params: &[(&str, String)],
    ) -> Result<Data, PromError> {
        let mut i = 0;
        loop {
            match self.call_once(url, promql, params).await {
                Err(e) if e.is_retryable() && i + 1 < self.retry.attempts => {
                    #[allow(clippy::disallowed_methods)]
                    // backoff between real HTTP calls is real time
                    tokio::time::sleep(self.retry.delay(i)).await;
                    i += 1;
                }
                r => return r,
            }
        }
    }

    async fn call_once(
        &self,
        url: &str,
        promql: &str,
        params: &[(&str, String)],
    ) -> Result<Data, PromError> {
        let mut req = self.http.get(url).query(params);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
        };
        let unavailable = |message: String| PromError::Unavailable {
            url: url.to_string(),
            message,
        };
        let resp = req.send().await.map_err(|e| unavailable(chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| unavailable(format!("reading the body: {}", chain(&e))))?;
        if status == 401 || status == 403 {
            return Err(PromError::Auth {
                url: url.to_string(),
                status,
            });
        }
        let env: Option<Envelope> = serde_json::from_slice(&body).ok();
        let snippet = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        if status == 429 || status >= 500 {
            // 503 is also Prometheus' "too many concurrent queries / timeout".
            let why = env.and_then(|e| e.error).unwrap_or_else(snippet);
            return Err(unavailable(format!("HTTP {status}: {why}")));
        }
        let env = env.ok_or_else(|| {
            self.protocol(
                url,
                format!("HTTP {status}, not the API's JSON: {}", snippet()),
            )
        })?;
        if env.status != "success" {
            return Err(PromError::Query {
                query: promql.to_string(),
                error_type: env.error_type.unwrap_or_else(|| "unknown".into()),
                error: env.error.unwrap_or_default(),
            });
        }
        env.data
            .ok_or_else(|| self.protocol(url, "status success without data".into()))
    }
}

use crest_core::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_values_and_backoff() {
        let mut l = Labels::new();
        assert_eq!(series_id(&l), "");
        l.insert("job".into(), "booking".into());
        l.insert("instance".into(), "a:80".into());
        assert_eq!(series_id(&l), "instance=a:80,job=booking");
        assert!(parse_value("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_value("1.5e3"), Some(1500.0));
        assert_eq!(parse_value("x"), None);
        let r = RetryPolicy::default();
        assert_eq!(r.delay(0), Duration::from_millis(200));
        assert_eq!(r.delay(2), Duration::from_millis(800));
        assert_eq!(r.delay(30), Duration::from_secs(5));
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Client::new(&ClientConfig::new("127.0.0.1:9090")).unwrap_err();
        assert!(e.to_string().contains("http://"), "{e}");
        let mut c = ClientConfig::new("https://x");
        c.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let e = Client::new(&c).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let mut c = ClientConfig::new("https://x");
        c.tls.cert_file = Some("/x.pem".into());
        assert!(Client::new(&c).is_err());
    }

    #[test]
    fn envelope_shapes() {
        let v: Envelope = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"2"]]}]}}"#,
        )
        .unwrap();
        assert!(matches!(v.data, Some(Data::Matrix(ref m)) if m.len() == 1));
        let v: Envelope = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"3"]}}"#,
        )
        .unwrap();
        assert!(matches!(v.data, Some(Data::Scalar(_))));
        let e: Envelope = serde_json::from_str(
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .unwrap();
        assert_eq!(e.error.as_deref(), Some("parse error"));
    }
}
