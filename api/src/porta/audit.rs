//! `GET /api/admin/audit` (`audit:read`) and `DELETE /api/admin/audit/cleanup`
//! (`audit:write`).

use std::collections::HashMap;

use authpulse_store::{versions, AuditFilter, AuditRow};
use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{positive, text};
use crate::auth::Auth;
use crate::error::{ApiError, Result};
use crate::orgs::iso_millis;
use crate::overload::key;
use crate::AppState;

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;
/// Pages beyond this are refused (the offset would be absurd).
pub const MAX_PAGE: u64 = 1_000_000_000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    id: String,
    action: String,
    entity_type: String,
    entity_id: String,
    actor_id: Option<String>,
    actor_email: Option<String>,
    organization_id: Option<String>,
    metadata: Value,
    created_at: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    total: u64,
    page: u64,
    page_size: u64,
    total_pages: u64,
}

#[derive(Serialize)]
pub struct AuditList {
    data: Vec<Entry>,
    pagination: Pagination,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupBody {
    deleted: u64,
    retention_days: u32,
    cutoff_date: String,
}

/// Stored JSON object text → object (`{}` if it is somehow not one).
pub(super) fn metadata(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

/// Empty stored strings (optional fields never sent) become null.
pub(super) fn opt(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// ISO 8601: RFC 3339 with an offset, a date-time without offset (UTC) or a
/// date. A date as `to` means the end of that day.
/// The range of ClickHouse `DateTime64`: 1900-01-01 ..= 2299-12-31.
const FIRST_INSTANT: DateTime<Utc> = DateTime::from_timestamp_millis(-2_208_988_800_000).unwrap();
fn last_instant() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(10_413_791_999_999).unwrap_or_default()
}

fn instant(
    q: &HashMap<String, String>,
    name: &str,
    end_of_day: bool,
) -> Result<Option<DateTime<Utc>>> {
    let Some(s) = q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let parsed = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| {
                    let t = t.and_utc();
                    if end_of_day {
                        t + Duration::days(1) - Duration::milliseconds(1)
                    } else {
                        t
                    }
                })
        })
        // Any valid instant is accepted (OpenAPI `format: date-time`);
        // outside what DateTime64 holds it is clamped to that range.
        .map(|t| t.clamp(FIRST_INSTANT, last_instant()));
    parsed
        .map(Some)
        .ok_or_else(|| ApiError::Invalid(format!("{name} must be an ISO 8601 date or date-time")))
}

pub async fn list(
    auth: Auth,
    State(state): State<AppState>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    auth.0.require("audit:read")?;
    // Kept until the audit table changes (api/src/cache.rs).
    let cache = state.cache.clone();
    Ok(cache
        .answer(key(&uri), versions::AUDIT_PAGE, || async move {
            page(state, q).await.into_response()
        })
        .await)
}

async fn page(state: AppState, q: HashMap<String, String>) -> Result<Json<AuditList>> {
    let page = positive(&q, "page", 1, MAX_PAGE)?;
    let page_size = positive(&q, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let filter = AuditFilter {
        action: text(&q, "action")?,
        entity_type: text(&q, "entity_type")?,
        entity_id: text(&q, "entity_id")?,
        actor_id: text(&q, "actor_id")?,
        organization_id: text(&q, "organization_id")?,
        from: instant(&q, "from", false)?,
        to: instant(&q, "to", true)?,
    };
    let _permit = state.gate.admit().await?;
    let result = state
        .store
        .audit_page(&filter, (page - 1) * page_size, page_size)
        .await?;
    let data = result.rows.into_iter().map(entry).collect();
    Ok(Json(AuditList {
        data,
        pagination: Pagination {
            total: result.total,
            page,
            page_size,
            total_pages: result.total.div_ceil(page_size),
        },
    }))
}

fn entry(r: AuditRow) -> Entry {
    Entry {
        id: r.id.to_string(),
        action: r.action,
        entity_type: r.entity_type,
        entity_id: r.entity_id,
        actor_id: opt(r.actor_id),
        actor_email: opt(r.actor_email),
        organization_id: opt(r.organization_id),
        metadata: metadata(&r.metadata),
        created_at: iso_millis(r.created_at_ms),
    }
}

pub async fn cleanup(auth: Auth, State(state): State<AppState>) -> Result<Json<CleanupBody>> {
    auth.0.require("audit:write")?;
    let _permit = state.gate.admit().await?;
    let c = state.store.audit_cleanup(Utc::now()).await;
    // This server's own delete: drop answers now, not at the next poll.
    state.cache.forget();
    let c = c?;
    Ok(Json(CleanupBody {
        deleted: c.deleted,
        retention_days: c.retention_days,
        cutoff_date: iso_millis(c.cutoff.timestamp_millis()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(k: &str, v: &str) -> HashMap<String, String> {
        HashMap::from([(k.to_string(), v.to_string())])
    }

    #[test]
    fn instants() {
        let t = |s: &str, eod| instant(&q("x", s), "x", eod).unwrap().unwrap().to_rfc3339();
        assert_eq!(
            t("2024-01-15T10:30:00.000Z", false),
            "2024-01-15T10:30:00+00:00"
        );
        assert_eq!(
            t("2024-01-15T03:30:00-07:00", false),
            "2024-01-15T10:30:00+00:00"
        );
        assert_eq!(t("2024-01-15T10:30:00", false), "2024-01-15T10:30:00+00:00");
        assert_eq!(t("2024-01-15", false), "2024-01-15T00:00:00+00:00");
        assert_eq!(t("2024-01-15", true), "2024-01-15T23:59:59.999+00:00");
        for bad in ["yesterday", "2024-13-01", "1700000000"] {
            assert!(instant(&q("x", bad), "x", false).is_err(), "{bad}");
        }
        // Valid but outside DateTime64: clamped, not refused.
        assert_eq!(t("0001-01-01", false), "1900-01-01T00:00:00+00:00");
        assert_eq!(
            t("9999-12-31T00:00:00Z", false),
            "2299-12-31T23:59:59.999+00:00"
        );
        assert_eq!(metadata("{\"a\":1}")["a"], 1);
        assert_eq!(metadata("[1]"), Value::Object(Map::new()));
    }
}
