//! Porta admin API: dashboard statistics, the audit log (list, cleanup) and
//! per-entity change history. Each endpoint needs its permission
//! (docs/auth.md); shapes follow Porta's documents (docs/api.md).

mod audit;
mod cursor;
mod history;
mod stats;

use std::collections::HashMap;

use axum::routing::{delete, get};
use axum::Router;

use crate::error::{ApiError, Result};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/stats", get(stats::handler))
        .route("/api/admin/audit", get(audit::list))
        .route("/api/admin/audit/cleanup", delete(audit::cleanup))
        .route(
            "/api/admin/organizations/{id}/history",
            get(history::organization),
        )
        .route(
            "/api/admin/applications/{id}/history",
            get(history::application),
        )
        .route("/api/admin/clients/{id}/history", get(history::client))
        .route(
            "/api/admin/organizations/{org_id}/users/{user_id}/history",
            get(history::user),
        )
}

/// An optional non-empty string parameter (at most 1024 characters).
fn text(q: &HashMap<String, String>, name: &str) -> Result<Option<String>> {
    match q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if s.chars().count() > 1024 => {
            Err(ApiError::Invalid(format!("{name} is too long")))
        }
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// An optional positive integer parameter: `default` when absent, capped at
/// `max`, 400 when not an integer ≥ 1.
fn positive(q: &HashMap<String, String>, name: &str, default: u64, max: u64) -> Result<u64> {
    let Some(s) = q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.bytes().all(|b| b == b'0') {
        return Err(ApiError::Invalid(format!(
            "{name} must be a positive integer"
        )));
    }
    Ok(s.parse::<u64>().unwrap_or(u64::MAX).min(max))
}
