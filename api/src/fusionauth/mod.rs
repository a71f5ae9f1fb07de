//! FusionAuth / Passport Report API (`/api/report/...`). API keys (or JWTs)
//! need the `reports:read` scope.

mod active_users;
mod login;
mod params;
mod registration;
mod totals;

use axum::routing::get;
use axum::Router;

use crate::auth::Auth;
use crate::error::Result;
use crate::AppState;

pub const SCOPE: &str = "reports:read";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/report/login", get(login::handler))
        .route("/api/report/registration", get(registration::handler))
        .route("/api/report/daily-active-users", get(active_users::daily))
        .route("/api/report/daily-active-user", get(active_users::daily))
        .route(
            "/api/report/monthly-active-users",
            get(active_users::monthly),
        )
        .route(
            "/api/report/monthly-active-user",
            get(active_users::monthly),
        )
        .route("/api/report/totals", get(totals::handler))
}

/// Valid credentials without `reports:read` are authenticated but not
/// permitted: 403 (RFC 6750 `insufficient_scope`; Passport's document only
/// defines 401 for a missing or invalid key, which stays 401).
fn authorize(auth: &Auth) -> Result<()> {
    auth.0.require(SCOPE)
}
