//! What operators need around the report routes: `/healthz`, `/readyz`,
//! `/metrics`, request metrics by matched route, the access log, request
//! timeouts, body limits and response compression (tower-http).
//! Names and labels: docs/operations.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

/// Renders the process's Prometheus metrics (the binary passes the
/// process-wide recorder's render function).
#[derive(Clone)]
pub struct MetricsRender(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for MetricsRender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsRender")
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
}

/// `GET /readyz`: ready when ClickHouse answers within 2 s.
async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("clickhouse: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "clickhouse: no answer in 2 s\n",
        )
            .into_response(),
    }
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    match &state.config.metrics {
        Some(render) => (render.0)().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not recorded\n").into_response(),
    }
}

/// Counts requests by matched route (the route template, so org slugs and
/// ids do not make new series), method and status, and times them.
async fn record(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("authpulse_api_requests_total",
        "route" => route.clone(), "method" => method.clone(), "status" => status)
    .increment(1);
    metrics::histogram!("authpulse_api_request_duration_seconds",
        "route" => route, "method" => method)
    .record(started.elapsed().as_secs_f64());
    response
}

/// The layers around every route, innermost first: metrics see the status
/// the handler (or the timeout) produced; the access log sees everything.
pub(crate) fn layers(router: Router, config: &crate::Config) -> Router {
    metrics::describe_counter!(
        "authpulse_api_requests_total",
        "API requests by matched route, method and status."
    );
    metrics::describe_histogram!(
        "authpulse_api_request_duration_seconds",
        metrics::Unit::Seconds,
        "API request latency by matched route and method."
    );
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(axum::middleware::from_fn(record))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(CompressionLayer::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_response(
                    |res: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = res.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1e3,
                            "request"
                        );
                    },
                )
                .on_failure(()),
        )
}
