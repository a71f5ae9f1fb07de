//! FusionAuth / Passport Report API (`/api/report/...`).

mod login;
mod params;

use axum::routing::get;
use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/report/login", get(login::handler))
}
