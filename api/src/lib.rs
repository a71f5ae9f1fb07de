//! The HTTP API: report endpoints in the formats of the products authpulse
//! stands in for. Routes live per product; errors map to HTTP in `error`.

pub mod auth;
pub mod cache;
mod error;
mod fusionauth;
mod janssen;
mod ops;
mod orgs;
pub mod overload;
mod porta;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authpulse_store::Store;
use axum::extract::FromRef;
use axum::Router;
use chrono_tz::Tz;

pub use auth::Authenticator;
pub use error::ApiError;
pub use ops::MetricsRender;

/// API settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Verifies API keys and JWTs.
    pub auth: Arc<Authenticator>,
    /// IANA timezone the report intervals are counted in.
    pub report_tz: Tz,
    /// Scope a bearer token needs for the Janssen stat endpoint.
    pub stat_scope: String,
    /// How long a Janssen stat answer is cached per month set.
    pub stat_cache_ttl: Duration,
    /// A request still unanswered after this gets 503 (docs/operations.md).
    pub request_timeout: Duration,
    /// Largest request body accepted (413 above).
    pub body_limit: usize,
    /// Serves `/metrics` when set.
    pub metrics: Option<MetricsRender>,
    /// Admission bounds toward ClickHouse (api/src/overload.rs).
    pub limits: overload::Limits,
    /// Report answers kept until their tables change (api/src/cache.rs).
    pub cache: cache::Settings,
}

impl Config {
    /// Defaults around an authenticator: UTC, `jans_stat`, one hour cache.
    pub fn new(auth: Authenticator) -> Config {
        Config {
            auth: Arc::new(auth),
            report_tz: Tz::UTC,
            stat_scope: "jans_stat".into(),
            stat_cache_ttl: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(30),
            body_limit: 1 << 20,
            metrics: None,
            limits: overload::Limits::default(),
            cache: cache::Settings::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    store: Store,
    stat_cache: Arc<janssen::Cache>,
    slugs: Arc<orgs::SlugCache>,
    gate: Arc<overload::Gate>,
    cache: Arc<cache::ReportCache>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.config.auth.clone()
    }
}

/// The full router of the service.
pub fn router(config: Config, store: Store) -> Router {
    let ops_config = config.clone();
    let state = AppState {
        stat_cache: Arc::new(janssen::Cache::new(config.stat_cache_ttl)),
        slugs: Arc::default(),
        gate: Arc::new(overload::Gate::new(config.limits)),
        cache: cache::ReportCache::start(config.cache, store.clone()),
        config: Arc::new(config),
        store,
    };
    let router = Router::new()
        .route("/openapi.json", axum::routing::get(openapi))
        .merge(fusionauth::routes())
        .merge(janssen::routes())
        .merge(orgs::routes())
        .merge(porta::routes())
        .merge(ops::routes())
        .with_state(state);
    ops::layers(router, &ops_config)
}

/// The OpenAPI 3.1 document of every endpoint (api/openapi.json).
pub const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config, store))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    /// Every route the router serves is documented, and nothing else.
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let mut served: Vec<String> = [
            include_str!("fusionauth/mod.rs"),
            include_str!("janssen.rs"),
            include_str!("orgs.rs"),
            include_str!("ops.rs"),
            include_str!("porta/mod.rs"),
            include_str!("lib.rs").split("#[cfg(test)]").next().unwrap(),
        ]
        .iter()
        .flat_map(|src| src.split(".route(").skip(1))
        .filter_map(|rest| {
            rest.trim_start()
                .strip_prefix('"')?
                .split('"')
                .next()
                .map(str::to_string)
        })
        .collect();
        documented.sort();
        served.sort();
        served.dedup();
        assert_eq!(documented, served);
    }
}
