//! `GET /api/admin/stats` (`stats:read`).

use std::collections::BTreeMap;

use authpulse_store::{bucket_start, versions, Activity, AdminStats, Edge};
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
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

/// The dashboard at this instant, from parts that change only with their
/// tables, the current 15-minute bucket or the current second: snapshots,
/// whole buckets, each window's oldest bucket per second and the second
/// holding its start per millisecond, the current bucket whole. All come
/// from the report cache while their tables are unchanged, so on a quiet
/// database a request costs no query; each that misses waits for its own
/// permit. Windows stay exact to the millisecond: the current bucket counts
/// whole only while no event in it is later than now; otherwise [top, now]
/// and the windows' partial seconds are read as they are
/// (authpulse_store::AdminStats::assemble).
async fn stats(state: &AppState) -> Result<AdminStats> {
    let now = Utc::now();
    let top = bucket_start(now);
    let (store, cache, gate) = (&state.store, &state.cache, &state.gate);
    if !cache.is_on() {
        let _permit = gate.admit().await?;
        return Ok(store.admin_stats_at(now).await?);
    }
    let edge = |edge: Edge, tables: &'static [&'static str]| {
        cache.value(format!("porta edge|{edge:?}|{top}"), tables, move || {
            gate.admitted(store.activity_edge(edge, top))
        })
    };
    let second = |edge: Edge, start: DateTime<Utc>, tables: &'static [&'static str]| {
        let s = start.timestamp();
        cache.value(format!("porta second|{edge:?}|{s}"), tables, move || {
            gate.admitted(store.activity_second(edge, s))
        })
    };
    let (d1, d7) = (now - Duration::hours(24), now - Duration::days(7));
    let (status, middle, logins_edge, audit_edge, logins_second, audit_second, top_bucket) = tokio::try_join!(
        cache.value("porta status".into(), versions::ADMIN_STATUS, || {
            gate.admitted(store.admin_status())
        }),
        cache.value(
            format!("porta middle|{top}"),
            versions::ACTIVITY_MIDDLE,
            || { gate.admitted(store.activity_middle(top)) }
        ),
        edge(Edge::Logins, versions::LOGIN_EDGE),
        edge(Edge::Audit, versions::AUDIT_EDGE),
        second(Edge::Logins, d1, versions::LOGIN_EDGE),
        second(Edge::Audit, d7, versions::AUDIT_EDGE),
        cache.value(format!("porta top|{top}"), versions::ACTIVITY_TOP, || {
            gate.admitted(store.activity_top(top))
        }),
    )?;
    let live = match top_bucket.until(now) {
        Some(bucket) => {
            let (logins, failed) = logins_second.after(d1);
            let (new_users, new_orgs) = audit_second.after(d7);
            bucket
                + Activity {
                    logins,
                    failed,
                    new_users,
                    new_orgs,
                }
        }
        // An event stamped after now is in the current bucket.
        None => gate.admitted(store.activity_live(now)).await?,
    };
    Ok(AdminStats::assemble(
        now,
        &status,
        *middle,
        &logins_edge,
        &audit_edge,
        live,
    ))
}
