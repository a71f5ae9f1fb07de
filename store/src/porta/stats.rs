//! Dashboard statistics (`GET /api/admin/stats`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;

use crate::error::Result;
use crate::handle::Store;

/// Dashboard statistics (Porta `GET /api/admin/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminStats {
    /// entity type → status → count (`organization`, `user`, `application`,
    /// `client`); types and statuses without entities are absent.
    pub entities: BTreeMap<String, BTreeMap<String, u64>>,
    pub active_sessions: u64,
    pub unique_users: u64,
    pub logins_last_24h: u64,
    pub failed_logins_last_24h: u64,
    pub new_users_last_7d: u64,
    pub new_orgs_last_7d: u64,
}

#[derive(Row, Deserialize)]
struct StatusCount {
    entity_type: String,
    status: String,
    count: u64,
}

#[derive(Row, Deserialize)]
struct Sessions {
    sessions: u64,
    users: u64,
}

#[derive(Row, Deserialize)]
struct Activity {
    logins: u64,
    failed: u64,
    new_users: u64,
    new_orgs: u64,
}

impl Store {
    /// Dashboard statistics: entity status counts and active sessions from
    /// their snapshots (refreshed every 30 s); logins in exactly
    /// (now − 24 h, now] and creations in exactly (now − 7 d, now], from the
    /// activity snapshot plus a live delta since its watermark.
    pub async fn admin_stats(&self) -> Result<AdminStats> {
        self.admin_stats_at(Utc::now()).await
    }

    /// [`Store::admin_stats`] with the activity windows ending at `now`.
    pub async fn admin_stats_at(&self, now: DateTime<Utc>) -> Result<AdminStats> {
        // Three independent reads: run them at once (latency = the slowest).
        let counts = self
            .client
            .query(include_str!("entity_status_counts.sql"))
            .fetch_all::<StatusCount>();
        let sessions = self
            .client
            .query(include_str!("active_sessions.sql"))
            .fetch_one::<Sessions>();
        let activity = self
            .client
            .query(include_str!("recent_activity.sql"))
            .param("now_ms", now.timestamp_millis())
            .fetch_one::<Activity>();
        let (counts, sessions, activity) = tokio::try_join!(counts, sessions, activity)?;
        let mut entities: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for c in counts {
            entities
                .entry(c.entity_type)
                .or_default()
                .insert(c.status, c.count);
        }
        Ok(AdminStats {
            entities,
            active_sessions: sessions.sessions,
            unique_users: sessions.users,
            logins_last_24h: activity.logins,
            failed_logins_last_24h: activity.failed,
            new_users_last_7d: activity.new_users,
            new_orgs_last_7d: activity.new_orgs,
        })
    }
}
