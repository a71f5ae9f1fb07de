//! The collector's HTTP app (axum).
//!
//! | route | takes |
//! |---|---|
//! | `POST /v1/events` | contract events: one object, a JSON array or NDJSON |
//! | `POST /v1/sources/fusionauth` | a FusionAuth webhook body |
//! | `POST /v1/sources/keycloak` | Keycloak user/admin event(s): object, array or NDJSON |
//! | `POST /v1/sources/auth0` | an Auth0 log-stream batch (JSON array, JSON lines or object) |
//! | `GET /metrics`, `/healthz`, `/readyz` | Prometheus text; liveness; broker readiness |
//!
//! Answers: 200 `{"received","accepted","skipped":[...]}` once the broker
//! acknowledged every event; 400 (bad input, nothing produced) with
//! `{"error","detail","index"}`; 401 (credentials); 404 (source not
//! enabled); 413 (body or batch too large); 429 / 503 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::auth::{AuthError, SourceAuth};
use crate::{prepare, Orgs, Sink, SinkError, Source};

/// Default largest request body (bytes).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 << 20;
/// Default most events in one request.
pub const DEFAULT_MAX_EVENTS: usize = 5_000;

#[derive(Clone)]
pub struct Config {
    pub auth: HashMap<Source, SourceAuth>,
    pub orgs: Orgs,
    pub max_events: usize,
    pub max_body_bytes: usize,
    /// Seconds sent in `Retry-After` with 429 and 503.
    pub retry_after_secs: u64,
}

impl Config {
    pub fn new(auth: HashMap<Source, SourceAuth>, orgs: Orgs) -> Config {
        Config {
            auth,
            orgs,
            max_events: DEFAULT_MAX_EVENTS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            retry_after_secs: 2,
        }
    }

    /// Fails fast when nothing could ever be accepted.
    pub fn validate(&self) -> Result<(), String> {
        if !self.auth.values().any(SourceAuth::enabled) {
            return Err(
                "no source is enabled: give a token (--contract-token, --auth0-token, \
                        --keycloak-token, --fusionauth-token) or a FusionAuth signing key"
                    .into(),
            );
        }
        if self.max_events == 0 || self.max_body_bytes == 0 {
            return Err("--max-events and --max-body-bytes must be positive".into());
        }
        Ok(())
    }
}

struct AppState {
    config: Config,
    sink: Sink,
    metrics: Option<PrometheusHandle>,
}

pub fn app(config: Config, sink: Sink, metrics: Option<PrometheusHandle>) -> Router {
    let limit = config.max_body_bytes;
    let state = Arc::new(AppState {
        config,
        sink,
        metrics,
    });
    Router::new()
        .route("/v1/events", post(contract))
        .route("/v1/sources/{source}", post(vendor))
        .route("/metrics", get(render_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Installs the Prometheus recorder for this process (once) and keeps its
/// histograms drained.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ])
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    let h = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            h.run_upkeep();
        }
    });
    Ok(handle)
}

/// Serves until `shutdown` resolves, then waits for queued deliveries.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    sink: Sink,
    metrics: Option<PrometheusHandle>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    config.validate().map_err(std::io::Error::other)?;
    let flush = sink.clone();
    axum::serve(listener, app(config, sink, metrics))
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = tokio::task::spawn_blocking(move || flush.flush(Duration::from_secs(30))).await;
    Ok(())
}

async fn contract(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&st, Source::Contract, &headers, &body).await
}

async fn vendor(
    State(st): State<Arc<AppState>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match Source::parse(&source).filter(|s| *s != Source::Contract) {
        Some(s) => handle(&st, s, &headers, &body).await,
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_source",
            format!("no source {source:?} (fusionauth, keycloak, auth0)"),
            None,
        ),
    }
}

async fn handle(st: &AppState, source: Source, headers: &HeaderMap, body: &[u8]) -> Response {
    let t = Instant::now();
    let resp = process(st, source, headers, body).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("authpulse_collector_requests_total", "source" => source.name(), "status" => status)
        .increment(1);
    metrics::histogram!("authpulse_collector_request_seconds", "source" => source.name())
        .record(t.elapsed().as_secs_f64());
    resp
}

async fn process(st: &AppState, source: Source, headers: &HeaderMap, body: &[u8]) -> Response {
    let name = source.name();
    let auth = st.config.auth.get(&source).cloned().unwrap_or_default();
    if let Err(e) = auth.check(headers, body) {
        let status = if e == AuthError::NotEnabled {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::UNAUTHORIZED
        };
        rejected(name, "unauthorized", 1);
        return error(status, "unauthorized", e.to_string(), None);
    }
    let prepared = match prepare(source, body, &st.config.orgs, st.config.max_events) {
        Ok(p) => p,
        Err(bad) => {
            rejected(name, &bad.code, 1);
            let status = if bad.code == "too_many_events" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return error(status, &bad.code, bad.detail, bad.index);
        }
    };
    if let Err(e) = st.sink.send(source, &prepared, false).await {
        let (status, code) = match e {
            SinkError::Busy => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            SinkError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "broker_unavailable"),
        };
        rejected(name, code, prepared.items as u64);
        tracing::warn!(source = name, error = %e, "request not acknowledged");
        let mut resp = error(status, code, e.to_string(), None);
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(st.config.retry_after_secs),
        );
        return resp;
    }
    metrics::counter!("authpulse_collector_events_accepted_total", "source" => name)
        .increment(prepared.records.len() as u64);
    for s in &prepared.skipped {
        metrics::counter!("authpulse_collector_events_skipped_total", "source" => name, "reason" => s.reason)
            .increment(1);
    }
    let skipped: Vec<_> = prepared
        .skipped
        .iter()
        .map(|s| json!({"index": s.index, "type": s.source_type, "reason": s.reason, "detail": s.detail}))
        .collect();
    Json(json!({
        "received": prepared.items,
        "accepted": prepared.records.len(),
        "skipped": skipped,
    }))
    .into_response()
}

fn rejected(source: &'static str, reason: &str, n: u64) {
    metrics::counter!("authpulse_collector_events_rejected_total", "source" => source, "reason" => reason.to_string())
        .increment(n);
}

fn error(status: StatusCode, code: &str, detail: String, index: Option<usize>) -> Response {
    let mut body = json!({ "error": code, "detail": detail });
    if let Some(i) = index {
        body["index"] = json!(i);
    }
    (status, Json(body)).into_response()
}

async fn render_metrics(State(st): State<Arc<AppState>>) -> Response {
    match &st.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn ready(State(st): State<Arc<AppState>>) -> Response {
    match st.sink.ready().await {
        Ok(()) => "ready".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}")).into_response(),
    }
}
