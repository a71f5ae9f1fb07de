use std::collections::HashMap;

use authpulse_store::{total, versions, Grain, Range};
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use axum::Json;

use super::login::HourlyReport;
use super::{authorize, params};
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::overload::key;
use crate::AppState;

/// `GET /api/report/registration`: registrations per hour of the report
/// timezone.
pub async fn handler(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    authorize(&auth)?;
    Ok(state.gate.share(key(&uri), report(state.clone(), q)).await)
}

async fn report(state: AppState, q: HashMap<String, String>) -> Result<Json<HourlyReport>> {
    let p = params::parse(&q)?;
    let range = Range::new(state.config.report_tz, Grain::Hour, p.start, p.end)?;
    let (store, gate) = (state.store.clone(), state.gate.clone());
    let hourly_counts = state
        .cache
        .intervals(
            &("registration", p.application_id),
            range,
            Grain::Hour,
            versions::REGISTRATION_COUNTS,
            |r| {
                let (store, gate) = (store.clone(), gate.clone());
                async move {
                    let _permit = gate.admit().await?;
                    Ok::<_, ApiError>(store.registration_counts(r, p.application_id).await?)
                }
            },
        )
        .await?;
    Ok(Json(HourlyReport {
        total: total(&hourly_counts),
        hourly_counts,
    }))
}
