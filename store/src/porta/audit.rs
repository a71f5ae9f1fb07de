//! The audit log listing (`GET /api/admin/audit`).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;

/// Filters of the audit log listing; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_id: Option<String>,
    pub organization_id: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive.
    pub to: Option<DateTime<Utc>>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct AuditRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    pub created_at_ms: i64,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub actor_id: String,
    pub actor_email: String,
    pub organization_id: String,
    /// Compact JSON object text.
    pub metadata: String,
    pub ip_address: String,
}

/// One page of the audit log and the number of matching entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub total: u64,
    pub rows: Vec<AuditRow>,
}

/// The audit list and count queries with the shared filter spliced in.
static AUDIT_LIST: LazyLock<String> =
    LazyLock::new(|| with_audit_filter(include_str!("audit_list.sql")));
static AUDIT_COUNT: LazyLock<String> =
    LazyLock::new(|| with_audit_filter(include_str!("audit_count.sql")));

fn with_audit_filter(sql: &str) -> String {
    sql.replace("{{filter}}", include_str!("audit_filter.sql"))
}

fn bind_audit_filter(q: clickhouse::query::Query, f: &AuditFilter) -> clickhouse::query::Query {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    q.param("any_action", f.action.is_none())
        .param("action", s(&f.action))
        .param("any_entity_type", f.entity_type.is_none())
        .param("entity_type", s(&f.entity_type))
        .param("any_entity_id", f.entity_id.is_none())
        .param("entity_id", s(&f.entity_id))
        .param("any_actor", f.actor_id.is_none())
        .param("actor_id", s(&f.actor_id))
        .param("any_org", f.organization_id.is_none())
        .param("organization_id", s(&f.organization_id))
        .param("any_from", f.from.is_none())
        .param("from_ms", f.from.map_or(0, |t| t.timestamp_millis()))
        .param("any_to", f.to.is_none())
        .param("to_ms", f.to.map_or(0, |t| t.timestamp_millis()))
}

impl Store {
    /// One page of the audit log (`offset`, `limit` rows), newest first,
    /// and the number of entries matching `filter`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        offset: u64,
        limit: u64,
    ) -> Result<AuditPage> {
        let count = bind_audit_filter(self.client.query(&AUDIT_COUNT), filter).fetch_one::<u64>();
        let list = || {
            bind_audit_filter(self.client.query(&AUDIT_LIST), filter)
                .param("last", (offset + limit).saturating_sub(1))
                .param("limit", limit)
                .param("offset", offset)
                .fetch_all()
        };
        // The first page together with the count: one round trip of
        // latency instead of two. A later page asks for the count first: a
        // page past the end finds no time window (see audit_list.sql) and
        // would sort every matching entry to return none.
        let (total, rows) = if offset == 0 {
            tokio::try_join!(count, list())?
        } else {
            let total = count.await?;
            let rows = if offset >= total {
                Vec::new()
            } else {
                list().await?
            };
            (total, rows)
        };
        Ok(AuditPage { total, rows })
    }
}
