//! Webhook payloads (Alertmanager v4, Grafana alerting) into [`AlertEvent`]s.
//!
//! Both senders post a group of alerts; each alert carries a `fingerprint`
//! (a hash of its labels, stable for the alert's life) and a `startsAt`.
//! `(source, fingerprint, status, startsAt)` identifies one state change of one
//! alert episode, which is what deduplication keys on: Alertmanager re-sends
//! the whole group at every `repeat_interval` and on every group change, and
//! one firing alert must still make one decision.
//!
//! Unknown fields are accepted (senders add fields over versions); missing or
//! mistyped required ones are rejected with the JSON path of the field.

use std::collections::BTreeMap;
use std::fmt;

use chrono::DateTime;
use crest_core::Timestamp;
use serde::{Deserialize, Serialize};

/// Which webhook an alert arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Prometheus Alertmanager (webhook payload version 4).
    Alertmanager,
    /// Grafana alerting's webhook contact point.
    Grafana,
}

impl Source {
    /// The wire/database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Grafana => "grafana",
        }
    }

    /// Parse the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alertmanager" => Some(Source::Alertmanager),
            "grafana" => Some(Source::Grafana),
            _ => None,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert's state in a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// The condition holds.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

impl AlertStatus {
    /// The wire/database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parse the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One alert state change, whatever webhook it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEvent {
    /// The webhook.
    pub source: Source,
    /// The sender's fingerprint (computed from the labels when absent).
    pub fingerprint: String,
    /// Firing or resolved.
    pub status: AlertStatus,
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations.
    pub annotations: BTreeMap<String, String>,
    /// When the episode started.
    pub starts_at: Timestamp,
    /// When it ended (resolved alerts), if the sender said.
    pub ends_at: Option<Timestamp>,
}

impl AlertEvent {
    /// The `alertname` label, or an empty string.
    pub fn alertname(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// A payload that could not be accepted: what is wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    /// What was expected and what was found.
    pub message: String,
    /// JSON path of the offending field (`alerts[0].startsAt`), if known.
    pub field: Option<String>,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The alert object both senders use (Grafana adds fields we do not need).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAlert {
    status: AlertStatus,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: String,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// Alertmanager webhook payload, version 4.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerPayload {
    version: String,
    #[allow(dead_code)] // parsed to check the shape; the per-alert status is what counts
    status: AlertStatus,
    alerts: Vec<WireAlert>,
}

/// Grafana alerting webhook payload (`orgId`, `title`, `state`, `message` and
/// the Alertmanager-style group fields at the top; only `alerts` is needed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GrafanaPayload {
    alerts: Vec<WireAlert>,
}

/// Longest fingerprint accepted (Alertmanager's are 16 hex digits).
const MAX_FINGERPRINT: usize = 128;

/// Parse a webhook body into alert events.
///
/// # Errors
/// [`PayloadError`] naming the field, for invalid JSON, a wrong shape, a
/// version other than 4 (Alertmanager), or unparseable timestamps.
pub fn parse(source: Source, body: &[u8]) -> Result<Vec<AlertEvent>, PayloadError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let alerts = match source {
        Source::Alertmanager => {
            let p: AlertmanagerPayload = serde_path_to_error::deserialize(de).map_err(path_err)?;
            if p.version != "4" {
                return Err(PayloadError {
                    message: format!(
                        "expected Alertmanager webhook payload version \"4\", found {:?}",
                        p.version
                    ),
                    field: Some("version".into()),
                });
            }
            p.alerts
        }
        Source::Grafana => {
            let p: GrafanaPayload = serde_path_to_error::deserialize(de).map_err(path_err)?;
            p.alerts
        }
    };
    alerts
        .into_iter()
        .enumerate()
        .map(|(i, a)| to_event(source, i, a))
        .collect()
}

fn path_err(e: serde_path_to_error::Error<serde_json::Error>) -> PayloadError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    // serde_json's message ends with " at line L column C"; keep it: it helps
    // whoever debugs a sender.
    PayloadError {
        message: format!("invalid payload: {inner}"),
        field: (path != ".").then_some(path),
    }
}

fn to_event(source: Source, i: usize, a: WireAlert) -> Result<AlertEvent, PayloadError> {
    let starts_at = parse_time(&a.starts_at).ok_or_else(|| PayloadError {
        message: format!("expected an RFC 3339 time, found {:?}", a.starts_at),
        field: Some(format!("alerts[{i}].startsAt")),
    })?;
    let ends_at = match a.ends_at.as_deref() {
        None | Some("") => None,
        Some(s) => {
            let t = parse_time(s).ok_or_else(|| PayloadError {
                message: format!("expected an RFC 3339 time, found {s:?}"),
                field: Some(format!("alerts[{i}].endsAt")),
            })?;
            // Both senders write the zero time 0001-01-01T00:00:00Z for "not ended".
            (t.millis() > 0).then_some(t)
        }
    };
    let fingerprint = match a.fingerprint {
        Some(f) if !f.is_empty() => {
            if f.len() > MAX_FINGERPRINT || f.chars().any(char::is_control) {
                return Err(PayloadError {
                    message: format!(
                        "expected a fingerprint of at most {MAX_FINGERPRINT} printable characters"
                    ),
                    field: Some(format!("alerts[{i}].fingerprint")),
                });
            }
            f
        }
        _ => label_fingerprint(&a.labels),
    };
    Ok(AlertEvent {
        source,
        fingerprint,
        status: a.status,
        labels: a.labels,
        annotations: a.annotations,
        starts_at,
        ends_at,
    })
}

fn parse_time(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| Timestamp::from_datetime(&d))
}

/// A stable fingerprint from the labels (FNV-1a 64 over sorted `name=value`
/// pairs) for senders that leave it out.
pub fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRING: &str = include_str!("../tests/fixtures/alertmanager-v4-webhook.json");
    const RESOLVED: &str = include_str!("../tests/fixtures/alertmanager-payload-resolved.json");
    const FROM_PROM: &str =
        include_str!("../tests/fixtures/alertmanager-payload-from-prometheus.json");
    const GRAFANA: &str = include_str!("../tests/fixtures/grafana-webhook.json");

    #[test]
    fn parses_real_alertmanager_bodies() {
        let ev = parse(Source::Alertmanager, FIRING.as_bytes()).unwrap();
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e.fingerprint, "c22a44858553d3e2");
        assert_eq!(e.status, AlertStatus::Firing);
        assert_eq!(e.alertname(), "HighLatency");
        assert_eq!(e.labels["app"], "flight-search");
        assert_eq!(e.ends_at, None);
        assert_eq!(
            e.starts_at,
            Timestamp::from_millis(1_795_902_529_620) // 2026-11-28T21:48:49.620Z
        );

        let ev = parse(Source::Alertmanager, RESOLVED.as_bytes()).unwrap();
        assert_eq!(ev[0].status, AlertStatus::Resolved);
        assert!(ev[0].ends_at.is_some());
        let ev = parse(Source::Alertmanager, FROM_PROM.as_bytes()).unwrap();
        assert_eq!(ev[0].labels["service"], "booking-api");
    }

    #[test]
    fn parses_grafana_documented_body() {
        let ev = parse(Source::Grafana, GRAFANA.as_bytes()).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].fingerprint, "7d3a9e01c4b2f655");
        assert_eq!(ev[1].labels["app"], "booking-api");
        assert_eq!(ev[1].status, AlertStatus::Firing);
        // "+02:00" offsets are honoured.
        assert_eq!(ev[0].starts_at, Timestamp::from_millis(1_795_902_005_250));
    }

    #[test]
    fn errors_name_the_field() {
        let bad = FIRING.replace(
            "\"status\": \"firing\",\n            \"labels\"",
            "\"status\": \"burning\",\n            \"labels\"",
        );
        let err = parse(Source::Alertmanager, bad.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("alerts[0].status"), "{err}");

        let bad = FIRING.replace("2026-11-28T21:48:49.620085413Z", "yesterday");
        let err = parse(Source::Alertmanager, bad.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("alerts[0].startsAt"));

        let bad = FIRING.replace("\"version\": \"4\"", "\"version\": \"3\"");
        let err = parse(Source::Alertmanager, bad.as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("version"));

        let err = parse(Source::Alertmanager, b"{").unwrap_err();
        assert!(err.message.starts_with("invalid payload"), "{err}");
        let err = parse(Source::Grafana, b"[]").unwrap_err();
        assert_eq!(err.field, None, "{err}");
    }

    #[test]
    fn missing_fingerprint_is_computed_from_labels() {
        let body = r#"{"alerts":[{"status":"firing","labels":{"b":"2","a":"1"},"startsAt":"2026-01-01T00:00:00Z"}]}"#;
        let ev = parse(Source::Grafana, body.as_bytes()).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "1".to_string());
        labels.insert("b".to_string(), "2".to_string());
        assert_eq!(ev[0].fingerprint, label_fingerprint(&labels));
        assert_eq!(ev[0].fingerprint.len(), 16);
    }
}
