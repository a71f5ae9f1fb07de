use std::collections::HashMap;

use authpulse_rollup::{total, Grain, IntervalCount, Range};
use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;

use super::params;
use crate::auth::ApiKey;
use crate::error::Result;
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginReport {
    hourly_counts: Vec<IntervalCount>,
    total: u64,
}

/// `GET /api/report/login`: successful logins per hour of the report timezone.
pub async fn handler(
    _key: ApiKey,
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<LoginReport>> {
    let p = params::parse(&q)?;
    let range = Range::new(state.config.report_tz, Grain::Hour, p.start, p.end)?;
    let hourly_counts = state.store.login_counts(range, p.application_id).await?;
    Ok(Json(LoginReport {
        total: total(&hourly_counts),
        hourly_counts,
    }))
}
