//! Entity history (`GET /api/admin/{organizations,applications,clients,users}/{id}/history`).

use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;

/// A position in an entity history: the last entry of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    pub created_at_ms: i64,
    pub id: Uuid,
}

/// Which history to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    /// `organization`, `application`, `client` or `user`.
    pub entity_type: String,
    pub entity_id: String,
    /// Only entries of this tenant (user history under an organization).
    pub org_id: Option<Uuid>,
    /// Only actions starting with this (empty = all).
    pub event_type_prefix: String,
    pub after: Option<HistoryCursor>,
    pub limit: u32,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct HistoryRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    pub created_at_ms: i64,
    pub action: String,
    pub actor_id: String,
    pub metadata: String,
    pub ip_address: String,
}

/// One page of history; `has_more` when older entries follow `rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub rows: Vec<HistoryRow>,
    pub has_more: bool,
}

impl Store {
    /// One page of an entity's history, newest first, after `q.after`.
    pub async fn history(&self, q: &HistoryQuery) -> Result<HistoryPage> {
        let limit = q.limit.max(1);
        let mut rows: Vec<HistoryRow> = self
            .client
            .query(include_str!("history.sql"))
            .param("entity_type", &q.entity_type)
            .param("entity_id", &q.entity_id)
            .param("any_org", q.org_id.is_none())
            .param("org_id", q.org_id.unwrap_or_default())
            .param("prefix", &q.event_type_prefix)
            .param("first", q.after.is_none())
            .param("after_ms", q.after.map_or(0, |c| c.created_at_ms))
            .param(
                "after_id",
                q.after.map(|c| c.id.to_string()).unwrap_or_default(),
            )
            .param("limit", limit + 1)
            .fetch_all()
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(HistoryPage { rows, has_more })
    }
}
