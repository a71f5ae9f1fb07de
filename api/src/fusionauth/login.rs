use std::collections::HashMap;

use authpulse_store::{total, versions, Grain, IntervalCount, LoginFilter, Range};
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
pub struct HourlyReport {
    pub total: u64,
    pub hourly_counts: Vec<IntervalCount>,
}

/// `GET /api/report/login`: successful logins per hour of the report
/// timezone, for all applications or one, optionally for one user
/// (`userId`) or login id (`loginId`).
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
    let p = params::parse(&q);
    let user = params::uuid(&q, "userId");
    let login_id = q
        .get("loginId")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let (p, user) = match (p, user) {
        (Ok(p), Ok(u)) => (p, u),
        (p, u) => {
            return Err([p.err(), u.err()]
                .into_iter()
                .flatten()
                .reduce(ApiError::merge)
                .expect("one failed"))
        }
    };
    let range = Range::new(state.config.report_tz, Grain::Hour, p.start, p.end)?;
    let filter = LoginFilter {
        application: p.application_id,
        user,
        login_id,
    };
    let hourly_counts = if filter.user.is_none() && filter.login_id.is_none() {
        let (store, gate) = (state.store.clone(), state.gate.clone());
        state
            .cache
            .intervals(
                &("login", filter.application),
                range,
                Grain::Hour,
                versions::LOGIN_COUNTS,
                |r| {
                    let (store, gate, filter) = (store.clone(), gate.clone(), filter.clone());
                    async move {
                        let _permit = gate.admit().await?;
                        Ok::<_, ApiError>(store.login_counts(r, &filter).await?)
                    }
                },
            )
            .await?
    } else {
        let _permit = state.gate.admit().await?;
        state.store.login_counts(range, &filter).await?
    };
    Ok(Json(HourlyReport {
        total: total(&hourly_counts),
        hourly_counts,
    }))
}
