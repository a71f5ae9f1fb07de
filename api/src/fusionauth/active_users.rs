use std::collections::HashMap;

use authpulse_store::{total, versions, Grain, IntervalCount, Range};
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::Response;
use axum::Json;
use serde::Serialize;

use super::{authorize, params};
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::overload::key;
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyReport {
    total: u64,
    daily_active_users: Vec<IntervalCount>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyReport {
    total: u64,
    monthly_active_users: Vec<IntervalCount>,
}

async fn counts(
    state: &AppState,
    q: &HashMap<String, String>,
    grain: Grain,
) -> Result<Vec<IntervalCount>> {
    let p = params::parse(q)?;
    let range = Range::new(state.config.report_tz, grain, p.start, p.end)?;
    let apps: Vec<_> = p.application_id.into_iter().collect();
    let (store, gate) = (state.store.clone(), state.gate.clone());
    state
        .cache
        .intervals(
            &("active users", grain == Grain::Day, p.application_id),
            range,
            grain,
            if apps.is_empty() {
                versions::ACTIVE_USERS_GLOBAL
            } else {
                versions::ACTIVE_USERS_APPS
            },
            |r| {
                let (store, gate, apps) = (store.clone(), gate.clone(), apps.clone());
                async move {
                    let _permit = gate.admit().await?;
                    Ok::<_, ApiError>(store.active_users(r, grain, &apps).await?)
                }
            },
        )
        .await
}

/// `GET /api/report/daily-active-users` (and `daily-active-user`): distinct
/// users with a successful login per local day; `total` is the sum.
pub async fn daily(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    authorize(&auth)?;
    Ok(state
        .gate
        .share(key(&uri), daily_report(state.clone(), q))
        .await)
}

async fn daily_report(state: AppState, q: HashMap<String, String>) -> Result<Json<DailyReport>> {
    let daily_active_users = counts(&state, &q, Grain::Day).await?;
    Ok(Json(DailyReport {
        total: total(&daily_active_users),
        daily_active_users,
    }))
}

/// `GET /api/report/monthly-active-users` (and `monthly-active-user`).
pub async fn monthly(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    authorize(&auth)?;
    Ok(state
        .gate
        .share(key(&uri), monthly_report(state.clone(), q))
        .await)
}

async fn monthly_report(
    state: AppState,
    q: HashMap<String, String>,
) -> Result<Json<MonthlyReport>> {
    let monthly_active_users = counts(&state, &q, Grain::Month).await?;
    Ok(Json(MonthlyReport {
        total: total(&monthly_active_users),
        monthly_active_users,
    }))
}
