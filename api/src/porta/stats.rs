//! `GET /api/admin/stats` (`stats:read`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
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
    let s = state.store.admin_stats().await?;
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
