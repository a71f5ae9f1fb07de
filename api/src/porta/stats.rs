//! `GET /api/admin/stats` (`stats:read`).

use std::collections::BTreeMap;

use authpulse_store::{bucket_start, versions, AdminStats, Edge};
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::auth::Auth;
use crate::error::Result;
use crate::AppState;

/// Entity types and the status keys Porta's document always shows (0 when
/// no entity has that status). Other statuses present in the data (e.g. an
/// archived user) are added, so `total` is the sum of the keys.
const SECTIONS: [(&str, &str, &[&str]); 4] = [
    (
        "organizations",
        "organization",
        &["active", "suspended", "archived"],
    ),
    (
        "users",
        "user",
        &["active", "inactive", "suspended", "locked"],
    ),
    ("applications", "application", &["active", "archived"]),
    ("clients", "client", &["active", "revoked"]),
];

pub async fn handler(auth: Auth, State(state): State<AppState>) -> Result<Json<Value>> {
    auth.0.require("stats:read")?;
    let _permit = state.gate.admit().await?;
    let s = stats(&state).await?;
    let empty = BTreeMap::new();
    let mut body = Map::new();
    for (section, entity_type, keys) in SECTIONS {
        let counts = s.entities.get(entity_type).unwrap_or(&empty);
        let mut out = Map::new();
        out.insert("total".into(), json!(counts.values().sum::<u64>()));
        for k in keys {
            out.insert((*k).into(), json!(counts.get(*k).copied().unwrap_or(0)));
        }
        for (k, v) in counts {
            if !out.contains_key(k) {
                out.insert(k.clone(), json!(v));
            }
        }
        body.insert(section.into(), Value::Object(out));
    }
    body.insert(
        "sessions".into(),
        json!({ "activeSessions": s.active_sessions, "uniqueUsers": s.unique_users }),
    );
    body.insert(
        "recentActivity".into(),
        json!({
            "loginsLast24h": s.logins_last_24h,
            "failedLoginsLast24h": s.failed_logins_last_24h,
            "newUsersLast7d": s.new_users_last_7d,
            "newOrgsLast7d": s.new_orgs_last_7d,
        }),
    );
    Ok(Json(Value::Object(body)))
}

/// The dashboard at this instant. Its parts that change only with their
/// tables and the current 15-minute bucket (snapshots, whole buckets, the
/// oldest bucket of each window per second) come from the report cache;
/// the current bucket and each window's first, partial second are read
/// live (authpulse_store::AdminStats::assemble).
async fn stats(state: &AppState) -> Result<AdminStats> {
    let now = Utc::now();
    let top = bucket_start(now);
    let (store, cache) = (&state.store, &state.cache);
    let edge = |edge: Edge, tables: &'static [&'static str]| {
        cache.value(format!("porta edge|{edge:?}|{top}"), tables, move || {
            store.activity_edge(edge, top)
        })
    };
    let (status, middle, logins_edge, audit_edge, live) = tokio::try_join!(
        cache.value("porta status".into(), versions::ADMIN_STATUS, || store
            .admin_status()),
        cache.value(
            format!("porta middle|{top}"),
            versions::ACTIVITY_MIDDLE,
            || store.activity_middle(top)
        ),
        edge(Edge::Logins, versions::LOGIN_EDGE),
        edge(Edge::Audit, versions::AUDIT_EDGE),
        store.activity_live(now),
    )?;
    Ok(AdminStats::assemble(
        now,
        &status,
        *middle,
        &logins_edge,
        &audit_edge,
        live,
    ))
}
