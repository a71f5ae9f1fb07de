//! The HTTP API: report endpoints in the formats of the products authpulse
//! stands in for. Routes live per product; errors map to HTTP in `error`.

mod auth;
mod error;
mod fusionauth;

use std::future::Future;
use std::sync::Arc;

use authpulse_rollup::Store;
use axum::Router;
use chrono_tz::Tz;

pub use error::ApiError;

/// API settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// FusionAuth-style API keys accepted in the `Authorization` header.
    pub api_keys: Vec<String>,
    /// IANA timezone the report intervals are counted in.
    pub report_tz: Tz,
}

#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    store: Store,
}

/// The full router of the service.
pub fn router(config: Config, store: Store) -> Router {
    let state = AppState {
        config: Arc::new(config),
        store,
    };
    Router::new().merge(fusionauth::routes()).with_state(state)
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
