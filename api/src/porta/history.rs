//! Entity change history (`/api/admin/{organizations,applications,clients}/:id/history`,
//! `/api/admin/organizations/:orgId/users/:userId/history`): the entity's
//! audit entries, newest first, keyset-paginated with opaque cursors.

use std::collections::HashMap;

use authpulse_store::{versions, HistoryCursor, HistoryQuery};
use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::audit::{metadata, opt};
use super::{cursor, positive, text};
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::orgs::iso_millis;
use crate::overload::key;
use crate::AppState;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: String,
    event_type: String,
    actor_id: Option<String>,
    metadata: Value,
    ip_address: Option<String>,
    created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    data: Vec<Entry>,
    has_more: bool,
    next_cursor: Option<String>,
}

pub async fn organization(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    auth.0.require("org:read")?;
    Ok(cached(state, uri, "organization", id, None, q).await)
}

pub async fn application(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    auth.0.require("app:read")?;
    Ok(cached(state, uri, "application", id, None, q).await)
}

pub async fn client(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    auth.0.require("client:read")?;
    Ok(cached(state, uri, "client", id, None, q).await)
}

pub async fn user(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Path((org_id, user_id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    auth.0.require("user:read")?;
    let org = Uuid::parse_str(org_id.trim())
        .map_err(|_| ApiError::Invalid("orgId must be a UUID".into()))?;
    Ok(cached(state, uri, "user", user_id, Some(org), q).await)
}

/// The page; its rows are kept until the history table changes
/// (api/src/cache.rs), and identical requests in flight share one answer.
async fn cached(
    state: AppState,
    uri: Uri,
    entity_type: &'static str,
    entity_id: String,
    org_id: Option<Uuid>,
    q: HashMap<String, String>,
) -> Response {
    let gate = state.gate.clone();
    gate.share(key(&uri), async move {
        history(&state, entity_type, entity_id, org_id, &q).await
    })
    .await
}

/// Pages of up to this many entries share one cached page of this many,
/// sliced: the order is total (time, then id), so the first n entries of a
/// longer page are the page of n, and its cursor the n-th entry's.
const HISTORY_SHARED: u32 = 50;

async fn history(
    state: &AppState,
    entity_type: &str,
    entity_id: String,
    org_id: Option<Uuid>,
    q: &HashMap<String, String>,
) -> Result<Json<History>> {
    if entity_id.trim().is_empty() || entity_id.chars().count() > 1024 {
        return Err(ApiError::Invalid("invalid entity id".into()));
    }
    let limit = positive(q, "limit", DEFAULT_LIMIT, MAX_LIMIT)? as u32;
    let after = match q.get("after").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            cursor::decode(s)
                .ok_or_else(|| ApiError::Invalid("after is not a valid cursor".into()))?,
        ),
    };
    let fetch = limit.max(HISTORY_SHARED.min(MAX_LIMIT as u32));
    let query = HistoryQuery {
        entity_type: entity_type.to_string(),
        entity_id,
        org_id,
        event_type_prefix: text(q, "event_type")?.unwrap_or_default(),
        after,
        limit: fetch,
    };
    let (gate, store) = (&state.gate, &state.store);
    let fetched = state
        .cache
        .value(format!("history|{query:?}"), versions::HISTORY, || {
            gate.admitted(store.history(&query))
        })
        .await?;
    let rows = &fetched.rows[..fetched.rows.len().min(limit as usize)];
    let has_more = fetched.has_more || fetched.rows.len() > rows.len();
    let next_cursor = has_more
        .then(|| {
            rows.last().map(|r| {
                cursor::encode(HistoryCursor {
                    created_at_ms: r.created_at_ms,
                    id: r.id,
                })
            })
        })
        .flatten();
    let data = rows
        .iter()
        .map(|r| Entry {
            id: r.id.to_string(),
            event_type: r.action.clone(),
            actor_id: opt(r.actor_id.clone()),
            metadata: metadata(&r.metadata),
            ip_address: opt(r.ip_address.clone()),
            created_at: iso_millis(r.created_at_ms),
        })
        .collect();
    Ok(Json(History {
        data,
        has_more,
        next_cursor,
    }))
}
