//! The HTTP API: routes, bearer-token auth, JSON errors.
//!
//! | route | auth | what |
//! | --- | --- | --- |
//! | `POST /v1/alerts/alertmanager` | bearer | Alertmanager webhook (payload v4) |
//! | `POST /v1/alerts/grafana` | bearer | Grafana alerting webhook |
//! | `POST /v1/plans` | bearer | store a `ScalingPlan` or a `crest plan --output` file (same id: replaced) |
//! | `POST /v1/plans?verify=true[&force=true][&engine=sim\|fluid]` | bearer | run the verification gate (crest-planning's `run_gate`, as `crest plan --verify` and `crest run`) on a `crest plan --output` document and store its verdict with the plan: 201/200 with the verdict when it passes; 422 with the verdict and nothing stored when it fails, unless `force=true` (then stored, marked `forced`, and the response says `passed: false`) |
//! | `GET /v1/decisions?app=&since=&after=&limit=` | — | decisions, oldest first, keyset pages |
//! | `GET /v1/plans?app=&after=&limit=`, `GET /v1/plans/{id}` | bearer (none with `public_reads`) | stored plans, by id, keyset pages of at most `max_page_bytes` |
//! | `GET /v1/apps` | — | per app: desired, observed, ready replicas, floors in force with their sources, last decision, pause flag (written by the controller) |
//! | `GET /v1/apps/{app}/history?after=&limit=` | — | the controller's decisions and actuation steps with their reasons, oldest first |
//! | `POST /v1/apps/{app}/pause` | bearer | kill switch: `{"paused": true}` (the default with no body) stops actuation of the app, `false` resumes |
//! | `GET /healthz` | — | liveness, database and write health (503 when the last write failed) |
//! | `GET /metrics` | — | Prometheus text 0.0.4 (OpenMetrics if the `Accept` header asks) |
//!
//! Auth runs as middleware before the body is read, so an unauthenticated
//! sender cannot make the server buffer a body. Every 4xx and 5xx carries
//! `{"error": "...", "field": ...}`, axum's own rejections included. A 2xx on an alert route means the alerts
//! and their decisions are committed to disk; a 503 means nothing of that
//! request was kept and the sender should retry (Alertmanager does).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::DateTime;
use crest_core::{AppId, Forecast, ScalingPlan, Timestamp};
use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tower_http::timeout::TimeoutLayer;

use crate::config::ServerConfig;
use crate::engine::map_alert;
use crate::metrics::{self, Metrics};
use crate::payload::{self, Source};
use crate::store::{DecisionQuery, Incoming, Outcome, PlanQuery, Store, StoreFailure};

/// Default and largest page size of `GET /v1/decisions`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size of `GET /v1/decisions`.
pub const MAX_LIMIT: usize = 1000;
/// Default page size of `GET /v1/plans`.
pub const DEFAULT_PLANS_LIMIT: usize = 20;
/// Largest page size of `GET /v1/plans`.
pub const MAX_PLANS_LIMIT: usize = 100;
/// Largest error body of an inner layer that is rewrapped as JSON.
const MAX_ERROR_TEXT: usize = 16 << 10;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The state database.
    pub store: Store,
    /// The validated config.
    pub config: Arc<ServerConfig>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Bumped after alerts made new decisions (see `Opened::decisions_signal`).
    pub decided: Arc<tokio::sync::watch::Sender<u64>>,
}

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, field: Option<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            field,
        }
    }

    fn bad(error: impl Into<String>, field: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, Some(field.into()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(json!({ "error": self.error, "field": self.field })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<StoreFailure> for ApiError {
    fn from(e: StoreFailure) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), None)
    }
}

/// The route name used in metrics (a fixed set: never request data).
fn route_name(path: &str) -> &'static str {
    match path {
        "/v1/alerts/alertmanager" => "alerts_alertmanager",
        "/v1/alerts/grafana" => "alerts_grafana",
        "/v1/decisions" => "decisions",
        "/v1/plans" => "plans",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/v1/plans/") => "plan",
        "/v1/apps" => "apps",
        p if p.starts_with("/v1/apps/") && p.ends_with("/history") => "app_history",
        p if p.starts_with("/v1/apps/") && p.ends_with("/pause") => "app_pause",
        _ => "other",
    }
}

/// Build the router.
pub fn router(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/v1/alerts/alertmanager", post(alertmanager))
        .route("/v1/alerts/grafana", post(grafana))
        .route("/v1/plans", post(put_plan).get(list_plans))
        .route("/v1/plans/{id}", get(get_plan))
        .route("/v1/apps/{app}/pause", post(pause_app))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let open = Router::new()
        .route("/v1/decisions", get(list_decisions))
        .route("/v1/apps", get(list_apps))
        .route("/v1/apps/{app}/history", get(app_history))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text));
    let request_timeout = Duration::from_millis(state.config.request_timeout_ms);
    guarded
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        // Reading the body and answering: a client trickling its body gets a 408.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route", None)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
        None,
    )
}

/// Every error is JSON: an error response of an inner layer or extractor
/// (axum's rejections, the 408 of the timeout) that is not JSON already is
/// rewrapped as `{"error": <its text>, "field": null}` with its status and headers.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let mut out = ApiError::new(status, error, None).into_response();
    for (k, v) in &parts.headers {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Count and time every request.
async fn track(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_name(req.uri().path());
    let start = tokio::time::Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .request(route, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}

/// Bearer-token check on the alert and plan routes. Plans are operational
/// data: reading them needs the token too, unless `public_reads` is set.
async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::GET && st.config.public_reads {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().as_bytes());
    // Constant time in the token's content (subtle); a length mismatch fails at once.
    let ok = presented.is_some_and(|t| bool::from(t.ct_eq(st.config.token.as_bytes())));
    if !ok {
        st.metrics
            .rejected(route_name(req.uri().path()), "unauthorized");
        let msg = if presented.is_none() {
            "missing bearer token (Authorization: Bearer <token>)"
        } else {
            "invalid bearer token"
        };
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            msg,
            Some("Authorization".to_string()),
        )
        .into_response();
    }
    next.run(req).await
}

fn body_error(st: &AppState, route: &'static str, e: &BytesRejection) -> ApiError {
    let status = e.status();
    let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too_large"
    } else {
        "bad_payload"
    };
    st.metrics.rejected(route, reason);
    let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "request body larger than the limit of {} bytes",
            st.config.max_body_bytes
        )
    } else {
        format!("failed to read the request body: {e}")
    };
    ApiError::new(status, msg, None)
}

/// What one alert request did, as answered to the sender.
#[derive(Debug, Serialize)]
struct AlertsResponse {
    received: usize,
    decisions: Vec<crate::store::DecisionRecord>,
    duplicates: usize,
    ignored: Vec<Ignored>,
}

#[derive(Debug, Serialize)]
struct Ignored {
    fingerprint: String,
    reason: String,
}

async fn alertmanager(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertsResponse>, ApiError> {
    receive(st, Source::Alertmanager, "alerts_alertmanager", body).await
}

async fn grafana(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertsResponse>, ApiError> {
    receive(st, Source::Grafana, "alerts_grafana", body).await
}

async fn receive(
    st: AppState,
    source: Source,
    route: &'static str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AlertsResponse>, ApiError> {
    let body = body.map_err(|e| body_error(&st, route, &e))?;
    let events = payload::parse(source, &body).map_err(|e| {
        st.metrics.rejected(route, "bad_payload");
        ApiError::new(StatusCode::BAD_REQUEST, e.message, e.field)
    })?;
    let received = events.len();
    let items: Vec<Incoming> = events
        .into_iter()
        .map(|event| {
            st.metrics
                .alert_received(source.as_str(), event.status.as_str());
            let target = map_alert(&st.config.mapping, &event);
            Incoming { event, target }
        })
        .collect();
    let fingerprints: Vec<String> = items.iter().map(|i| i.event.fingerprint.clone()).collect();
    let outcomes = if items.is_empty() {
        Vec::new()
    } else {
        st.store.record_alerts(items).await.inspect_err(|_| {
            st.metrics.rejected(route, "unavailable");
        })?
    };
    let mut resp = AlertsResponse {
        received,
        decisions: Vec::new(),
        duplicates: 0,
        ignored: Vec::new(),
    };
    if outcomes.iter().any(|o| matches!(o, Outcome::Decision(_))) {
        st.decided.send_modify(|n| *n = n.wrapping_add(1));
    }
    for (o, fingerprint) in outcomes.into_iter().zip(fingerprints) {
        match o {
            Outcome::Decision(d) => {
                st.metrics.decision(source.as_str());
                resp.decisions.push(*d);
            }
            Outcome::Duplicate => {
                st.metrics.duplicate(source.as_str());
                resp.duplicates += 1;
            }
            Outcome::Ignored(reason) => {
                st.metrics.ignored(source.as_str());
                resp.ignored.push(Ignored {
                    fingerprint,
                    reason,
                });
            }
            Outcome::NothingToResolve => {
                st.metrics.ignored(source.as_str());
                resp.ignored.push(Ignored {
                    fingerprint,
                    reason: "resolved, but it held no step (never seen firing, or already ended)"
                        .into(),
                });
            }
            Outcome::Stale => {
                st.metrics.ignored(source.as_str());
                resp.ignored.push(Ignored {
                    fingerprint,
                    reason: "older than the alert episode already recorded".into(),
                });
            }
        }
    }
    Ok(Json(resp))
}

/// A `limit` query value: a page size in `1..=max`.
fn page_size(v: &str, max: usize) -> Result<usize, ApiError> {
    v.parse::<usize>()
        .ok()
        .filter(|l| (1..=max).contains(l))
        .ok_or_else(|| {
            ApiError::bad(
                format!("expected a page size between 1 and {max}, found {v:?}"),
                "limit",
            )
        })
}

fn parse_since(s: &str) -> Option<Timestamp> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(Timestamp::from_millis(ms));
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| Timestamp::from_datetime(&d))
}

async fn list_decisions(
    State(st): State<AppState>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(format!("invalid query string: {e}"), "query"))?;
    let mut query = DecisionQuery {
        limit: DEFAULT_LIMIT,
        ..DecisionQuery::default()
    };
    for (k, v) in &q {
        match k.as_str() {
            "app" => {
                query.app = Some(
                    AppId::try_new(v.clone()).map_err(|e| ApiError::bad(e.to_string(), "app"))?,
                );
            }
            "since" => {
                query.since = Some(parse_since(v).ok_or_else(|| {
                    ApiError::bad(
                        format!("expected an RFC 3339 time or epoch milliseconds, found {v:?}"),
                        "since",
                    )
                })?);
            }
            "after" => {
                query.after = Some(v.parse::<i64>().ok().filter(|&a| a >= 0).ok_or_else(|| {
                    ApiError::bad(
                        format!("expected a decision id (integer >= 0), found {v:?}"),
                        "after",
                    )
                })?);
            }
            "limit" => query.limit = page_size(v, MAX_LIMIT)?,
            other => {
                return Err(ApiError::bad(
                    format!(
                        "unknown query parameter {other:?} (expected app, since, after, limit)"
                    ),
                    other.to_string(),
                ));
            }
        }
    }
    let limit = query.limit;
    let decisions = st.store.decisions(query).await?;
    let next_after = (decisions.len() == limit)
        .then(|| decisions.last().map(|d| d.id))
        .flatten();
    Ok(Json(
        json!({ "decisions": decisions, "next_after": next_after }),
    ))
}

async fn list_plans(
    State(st): State<AppState>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(format!("invalid query string: {e}"), "query"))?;
    let mut query = PlanQuery {
        limit: DEFAULT_PLANS_LIMIT,
        max_bytes: st.config.max_page_bytes,
        ..PlanQuery::default()
    };
    for (k, v) in &q {
        match k.as_str() {
            "app" => {
                query.app = Some(
                    AppId::try_new(v.clone()).map_err(|e| ApiError::bad(e.to_string(), "app"))?,
                );
            }
            "after" => query.after = Some(v.clone()),
            "limit" => query.limit = page_size(v, MAX_PLANS_LIMIT)?,
            other => {
                return Err(ApiError::bad(
                    format!("unknown query parameter {other:?} (expected app, after, limit)"),
                    other.to_string(),
                ));
            }
        }
    }
    let (plans, next_after) = st.store.plans(query).await?;
    Ok(Json(json!({ "plans": plans, "next_after": next_after })))
}

async fn get_plan(
    State(st): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<crate::store::PlanRecord>, ApiError> {
    let Path(id) =
        id.map_err(|e| ApiError::bad(format!("invalid plan id in the path: {e}"), "id"))?;
    st.store.plan(id.clone()).await?.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no plan with id {id:?}"),
            Some("id".into()),
        )
    })
}

/// The most scenarios (quantile draws) a plan posted with `verify=true` may
/// ask the server to replay.
pub const MAX_SERVER_GATE_SCENARIOS: usize = 1000;

/// The query of `POST /v1/plans`.
#[derive(Debug, Default)]
struct PutPlanQuery {
    verify: bool,
    force: bool,
    engine: Option<crest_planning::gate::GateEngine>,
}

fn put_plan_query(q: &BTreeMap<String, String>) -> Result<PutPlanQuery, ApiError> {
    let flag = |k: &str, v: &str| match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad(
            format!("invalid {k}={v:?}: expected true or false"),
            k.to_string(),
        )),
    };
    let mut out = PutPlanQuery::default();
    for (k, v) in q {
        match k.as_str() {
            "verify" => out.verify = flag(k, v)?,
            "force" => out.force = flag(k, v)?,
            "engine" => {
                out.engine = Some(match v.as_str() {
                    "sim" => crest_planning::gate::GateEngine::Sim(crest_planning::SimMode::Fluid),
                    "fluid" => crest_planning::gate::GateEngine::Planner,
                    _ => {
                        return Err(ApiError::bad(
                            format!("invalid engine={v:?}: expected sim or fluid"),
                            "engine",
                        ));
                    }
                });
            }
            other => {
                return Err(ApiError::bad(
                    format!("unknown query parameter {other:?} (expected verify, force, engine)"),
                    other.to_string(),
                ));
            }
        }
    }
    if !out.verify && (out.force || out.engine.is_some()) {
        return Err(ApiError::bad(
            "force and engine apply to verify=true only",
            if out.force { "force" } else { "engine" },
        ));
    }
    Ok(out)
}

/// Run the gate on a posted plan document (off the async workers: it
/// replays scenarios for seconds).
async fn verify_posted(
    value: &serde_json::Value,
    engine: crest_planning::gate::GateEngine,
) -> Result<crest_autoscaler::GateReport, ApiError> {
    if value.get("steps").is_some() || value.get("plan").is_none() {
        return Err(ApiError::bad(
            "verify=true needs a plan document (as `crest plan --output` writes: plan, forecast, capacity, planner, model, gate), not a bare plan",
            "plan",
        ));
    }
    let doc: crest_autoscaler::PlanDocument = serde_path_to_error::deserialize(value.clone())
        .map_err(|e| {
            let path = e.path().to_string();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid plan document: {}", e.into_inner()),
                (path != ".").then_some(path),
            )
        })?;
    doc.validate()
        .map_err(|e| ApiError::bad(format!("invalid plan document: {e}"), "gate"))?;
    if doc.gate.scenarios > MAX_SERVER_GATE_SCENARIOS {
        return Err(ApiError::bad(
            format!(
                "invalid plan document: the server's gate replays at most {MAX_SERVER_GATE_SCENARIOS} scenarios, the document asks for {}",
                doc.gate.scenarios
            ),
            "gate.scenarios",
        ));
    }
    tokio::task::spawn_blocking(move || crest_planning::gate::run_gate(&doc, engine))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the verification gate stopped: {e}"),
                None,
            )
        })?
        .map_err(|e| {
            let mut text = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                text.push_str(&format!(": {s}"));
                src = s.source();
            }
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("cannot verify the plan: {text}"),
                None,
            )
        })
}

async fn put_plan(
    State(st): State<AppState>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad(format!("invalid query string: {e}"), "query"))?;
    let opts = put_plan_query(&q)?;
    let body = body.map_err(|e| body_error(&st, "plans", &e))?;
    let mut value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        st.metrics.rejected("plans", "bad_payload");
        ApiError::new(StatusCode::BAD_REQUEST, format!("invalid plan: {e}"), None)
    })?;
    let verdict = if opts.verify {
        let engine = opts.engine.unwrap_or(crest_planning::gate::GateEngine::Sim(
            crest_planning::SimMode::Fluid,
        ));
        let report = verify_posted(&value, engine).await.inspect_err(|_| {
            st.metrics.rejected("plans", "bad_payload");
        })?;
        if !report.passed && !opts.force {
            st.metrics.rejected("plans", "failed_gate");
            let id = value
                .get("plan")
                .and_then(|p| p.get("id"))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!(
                        "the plan failed the verification gate: P(SLO breach) {:.3} > {:.3}{}; not stored (force=true stores it anyway)",
                        report.breach_probability,
                        report.max_breach_probability,
                        if report.kinds.is_empty() { String::new() } else { format!("; breaches: {}", report.failed_kinds()) }
                    ),
                    "field": null,
                    "id": id,
                    "stored": false,
                    "verification": crate::store::PlanVerdict { gate: report, forced: false },
                })),
            )
                .into_response());
        }
        let forced = !report.passed;
        Some(crate::store::PlanVerdict {
            gate: report,
            forced,
        })
    } else {
        None
    };
    // A plan file written by `crest plan --output` (a PlanDocument) carries
    // the plan under `plan`; a bare ScalingPlan has `steps` at the top.
    let mut forecast = None;
    let prefix = if value.get("steps").is_none() && value.get("plan").is_some() {
        // Its forecast feeds `crest_forecast_requests_per_second` on /metrics.
        if let Some(f) = value.get_mut("forecast").map(serde_json::Value::take) {
            let f: Forecast = serde_path_to_error::deserialize(f).map_err(|e| {
                st.metrics.rejected("plans", "bad_payload");
                let path = e.path().to_string();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid plan: {}", e.into_inner()),
                    Some(format!(
                        "forecast{}",
                        if path == "." {
                            String::new()
                        } else {
                            format!(".{path}")
                        }
                    )),
                )
            })?;
            forecast = Some(f);
        }
        value = value["plan"].take();
        "plan."
    } else {
        ""
    };
    let plan: ScalingPlan = serde_path_to_error::deserialize(value).map_err(|e| {
        st.metrics.rejected("plans", "bad_payload");
        let path = e.path().to_string();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid plan: {}", e.into_inner()),
            (path != ".").then(|| format!("{prefix}{path}")),
        )
    })?;
    // Deserialising skips the constructor's checks; run them.
    let plan = ScalingPlan::try_new(plan.app.clone(), plan.id.clone(), plan.steps().to_vec())
        .map_err(|e| ApiError::bad(format!("invalid plan: {e}"), "steps"))?;
    if plan.id.is_empty() || plan.id.len() > 200 || plan.id.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid plan: expected an id of 1-200 printable characters",
            "id",
        ));
    }
    let id = plan.id.clone();
    let created = st
        .store
        .put_plan_verified(plan, forecast, verdict.clone())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut reply = json!({ "id": id, "created": created });
    if let Some(v) = verdict {
        reply["passed"] = json!(v.gate.passed);
        reply["verification"] = json!(v);
    }
    Ok((status, Json(reply)).into_response())
}

async fn healthz(State(st): State<AppState>) -> Result<Response, ApiError> {
    if !st.store.writer_alive() {
        return Err(StoreFailure::WriterGone.into());
    }
    let (alerts, decisions) = st.store.counts().await?;
    let last_error = st.store.last_write_error();
    let writes = json!({
        "ok": last_error.is_none(),
        "last_error": last_error,
        "wal_bytes": st.store.wal_bytes(),
    });
    Ok(match last_error {
        None => Json(json!({
            "status": "ok",
            "alerts_recorded": alerts,
            "decisions_recorded": decisions,
            "writes": writes,
        }))
        .into_response(),
        Some(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "failing",
                "error": format!("the last write to the state database failed: {e}"),
                "field": null,
                "alerts_recorded": alerts,
                "decisions_recorded": decisions,
                "writes": writes,
            })),
        )
            .into_response(),
    })
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic
/// Prometheus text format otherwise.
async fn metrics_text(State(st): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    // The plans in force at scrape time (a failed read leaves the last values).
    if let Ok(plans) = st.store.plans_now(st.store.now()).await {
        st.metrics.plans_now(&plans);
    }
    if wants_openmetrics {
        (
            [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
            st.metrics.encode(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, metrics::PROMETHEUS_CONTENT_TYPE)],
            st.metrics.encode_prometheus(),
        )
            .into_response()
    }
}

/// `GET /v1/apps`: the controller's view of each app.
async fn list_apps(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let apps = st.store.read(crate::apps::list).await?;
    Ok(Json(json!({ "apps": apps })))
}

fn app_param(p: Result<Path<String>, PathRejection>) -> Result<AppId, ApiError> {
    let Path(app) = p.map_err(|e| ApiError::bad(format!("invalid app: {e}"), "app"))?;
    AppId::try_new(app).map_err(|e| ApiError::bad(e.to_string(), "app"))
}

/// `GET /v1/apps/{app}/history`: decisions and actuation steps, keyset pages.
async fn app_history(
    State(st): State<AppState>,
    app: Result<Path<String>, PathRejection>,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = app_param(app)?;
    let Query(q) = q.map_err(|e| ApiError::bad(format!("invalid query string: {e}"), "query"))?;
    let mut after = 0i64;
    let mut limit = DEFAULT_LIMIT;
    for (k, v) in &q {
        match k.as_str() {
            "after" => {
                after = v.parse::<i64>().ok().filter(|&a| a >= 0).ok_or_else(|| {
                    ApiError::bad(
                        format!("expected a history id (integer >= 0), found {v:?}"),
                        "after",
                    )
                })?;
            }
            "limit" => limit = page_size(v, MAX_LIMIT)?,
            other => {
                return Err(ApiError::bad(
                    format!("unknown query parameter {other:?} (expected after, limit)"),
                    other,
                ));
            }
        }
    }
    let name = app.to_string();
    let entries = st
        .store
        .read(move |c| crate::apps::history(c, &app, after, limit))
        .await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(
        json!({ "app": name, "history": entries, "next_after": next }),
    ))
}

/// `POST /v1/apps/{app}/pause`: the kill switch. Body `{"paused": bool}`,
/// or none to pause.
async fn pause_app(
    State(st): State<AppState>,
    app: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = app_param(app)?;
    let body = body.map_err(|e| body_error(&st, "app_pause", &e))?;
    let paused = if body.iter().all(u8::is_ascii_whitespace) {
        true
    } else {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PauseBody {
            paused: bool,
        }
        serde_json::from_slice::<PauseBody>(&body)
            .map_err(|e| {
                st.metrics.rejected("app_pause", "bad_payload");
                ApiError::bad(
                    format!("expected {{\"paused\": true|false}}: {e}"),
                    "paused",
                )
            })?
            .paused
    };
    let db = st.store.path().to_path_buf();
    let name = app.to_string();
    let now = crest_core::Clock::now(&crest_core::WallClock);
    tokio::task::spawn_blocking(move || crate::apps::set_paused_in(&db, &app, paused, now))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), None))?
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("failed to write the pause flag: {e}"),
                None,
            )
        })?;
    st.decided.send_modify(|n| *n = n.wrapping_add(1));
    Ok(Json(json!({ "app": name, "paused": paused })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::AlertStatus;

    #[test]
    fn route_names_are_a_fixed_set() {
        assert_eq!(route_name("/v1/plans/abc"), "plan");
        assert_eq!(route_name("/v1/alerts/grafana"), "alerts_grafana");
        assert_eq!(route_name("/anything/else?x"), "other");
    }

    #[test]
    fn since_accepts_rfc3339_and_millis() {
        assert_eq!(parse_since("1000"), Some(Timestamp(1000)));
        assert_eq!(parse_since("1970-01-01T00:00:01Z"), Some(Timestamp(1000)));
        assert_eq!(parse_since("yesterday"), None);
    }

    #[test]
    fn alert_status_spelling() {
        assert_eq!(AlertStatus::Firing.as_str(), "firing");
    }
}
