use std::collections::BTreeMap;

use authpulse_store::versions;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use uuid::Uuid;

use super::authorize;
use crate::auth::Auth;
use crate::error::Result;
use crate::overload::key;
use crate::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppTotals {
    logins: u64,
    registrations: i64,
    total_registrations: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TotalsReport {
    application_totals: BTreeMap<Uuid, AppTotals>,
    global_registrations: i64,
    total_global_registrations: u64,
}

/// `GET /api/report/totals`: all-time logins and current / all-time
/// registrations per application, and global user registrations.
pub async fn handler(auth: Auth, State(state): State<AppState>, uri: Uri) -> Result<Response> {
    authorize(&auth)?;
    let (gate, cache) = (state.gate.clone(), state.cache.clone());
    let run = || gate.coalesce(key(&uri), report(state));
    Ok(cache.answer(key(&uri), versions::TOTALS, run).await)
}

async fn report(state: AppState) -> Result<Json<TotalsReport>> {
    let t = state.store.totals().await?;
    let application_totals = t
        .apps
        .into_iter()
        .map(|a| {
            let totals = AppTotals {
                logins: a.logins,
                registrations: a.registrations,
                total_registrations: a.total_registrations,
            };
            (a.application_id, totals)
        })
        .collect();
    Ok(Json(TotalsReport {
        application_totals,
        global_registrations: t.global_registrations,
        total_global_registrations: t.total_global_registrations,
    }))
}
