//! Queries behind the Porta admin API (statistics, audit log, entity
//! history, retention) and the SSO org analytics. Counts come from rollups;
//! listings read the raw tables by their keys. Every request value is bound
//! as a server-side parameter.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::reports::Store;

/// The configuration key holding the audit retention in days.
pub const AUDIT_RETENTION_DAYS: &str = "audit_retention_days";
/// Retention used while `audit_retention_days` is unset.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;
/// Largest accepted retention (100 years).
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;
/// Keys `config set` accepts.
pub const CONFIG_KEYS: [&str; 1] = [AUDIT_RETENTION_DAYS];

/// Checks a configuration key and value; returns the normalized value.
pub fn validate_config(key: &str, value: &str) -> Result<String> {
    match key {
        AUDIT_RETENTION_DAYS => {
            let days: u32 = value.trim().parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "{key} must be a whole number of days, got {value:?}"
                ))
            })?;
            if days == 0 || days > MAX_AUDIT_RETENTION_DAYS {
                return Err(Error::InvalidArgument(format!(
                    "{key} must be between 1 and {MAX_AUDIT_RETENTION_DAYS}, got {days}"
                )));
            }
            Ok(days.to_string())
        }
        _ => Err(Error::InvalidArgument(format!(
            "unknown configuration key {key:?} (known: {})",
            CONFIG_KEYS.join(", ")
        ))),
    }
}

/// Logins of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`
    pub date: String,
    pub count: u64,
}

/// Logins of one application ("service").
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct ServiceCount {
    #[serde(with = "clickhouse::serde::uuid")]
    pub service_id: Uuid,
    /// Latest application name seen; empty when none was ever sent.
    pub service_name: String,
    pub count: u64,
}

/// Logins through one provider.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct ProviderCount {
    pub provider: String,
    pub count: u64,
}

/// One successful login.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct RecentLogin {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub user_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    pub service_id: Uuid,
    pub provider: String,
    pub created_at_ms: i64,
}

/// Largest `limit` of [`Store::recent_logins`].
pub const MAX_RECENT_LOGINS: u32 = 100;

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

/// Start of the 15-minute bucket holding `t`.
pub fn bucket_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    Utc.timestamp_opt(s - s.rem_euclid(900), 0)
        .single()
        .unwrap_or(t)
}

/// The first 15-minute bucket counted as "within `window` before `now`":
/// the one holding `now - window`. Buckets from it through the one holding
/// `now` are counted.
pub fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    bucket_start(now - window)
}

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

/// What an audit cleanup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleanup {
    pub deleted: u64,
    pub retention_days: u32,
    pub cutoff: DateTime<Utc>,
}

/// The cleanup cutoff: midnight UTC of the day `retention_days` before
/// today (entries strictly older are deleted).
pub fn cleanup_cutoff(now: DateTime<Utc>, retention_days: u32) -> DateTime<Utc> {
    let today = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    today - Duration::days(i64::from(retention_days))
}

/// One (slug, id) pair seen in events, with when it was first stored.
#[derive(Row, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct OrgClaim {
    pub org_slug: String,
    #[serde(with = "clickhouse::serde::uuid")]
    pub org_id: Uuid,
    pub ingested_ms: i64,
    pub occurred_ms: i64,
}

/// The owner of `slug` under "first claim wins" (migration 0019): the id
/// that claimed the slug first (by ingest time, then event time, then id
/// text), provided the slug is also that id's own first slug. Otherwise
/// nobody: a slug taken over by a second id, or an id re-labelled with
/// another org's slug, never resolves to someone else's data.
pub fn owner_of(slug: &str, claims: &[OrgClaim]) -> Option<Uuid> {
    let owner = claims
        .iter()
        .filter(|c| c.org_slug == slug)
        .min_by_key(|c| (c.ingested_ms, c.occurred_ms, c.org_id.to_string()))?
        .org_id;
    let first_slug = claims
        .iter()
        .filter(|c| c.org_id == owner)
        .min_by_key(|c| (c.ingested_ms, c.occurred_ms, c.org_slug.clone()))?;
    if first_slug.org_slug != slug {
        tracing::warn!(
            slug,
            %owner,
            its_slug = %first_slug.org_slug,
            "org slug not resolved: its first claimant owns another slug"
        );
        return None;
    }
    Some(owner)
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

#[derive(Row, Deserialize)]
struct ConfigValue {
    value: String,
    n: u64,
}

/// `[from 00:00, to + 1 day 00:00)` in UTC seconds.
fn day_bounds(from: NaiveDate, to: NaiveDate) -> Result<(i64, i64)> {
    if to < from {
        return Err(Error::InvalidArgument(
            "end_date is before start_date".into(),
        ));
    }
    let start = from
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    let end = (to + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp();
    Ok((start, end))
}

/// The audit list and count queries with the shared filter spliced in.
static AUDIT_LIST: LazyLock<String> =
    LazyLock::new(|| with_audit_filter(include_str!("queries/admin/audit_list.sql")));
static AUDIT_COUNT: LazyLock<String> =
    LazyLock::new(|| with_audit_filter(include_str!("queries/admin/audit_count.sql")));

fn with_audit_filter(sql: &str) -> String {
    sql.replace("{{filter}}", include_str!("queries/admin/audit_filter.sql"))
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
    /// The organization that owns `slug` ([`owner_of`]), if any.
    pub async fn org_by_slug(&self, slug: &str) -> Result<Option<Uuid>> {
        let claims: Vec<OrgClaim> = self
            .client
            .query(include_str!("queries/admin/org_by_slug.sql"))
            .param("slug", slug)
            .fetch_all()
            .await?;
        Ok(owner_of(slug, &claims))
    }

    /// Successful logins of `org` per UTC day `from..=to` (days without
    /// logins absent), chronological.
    pub async fn org_login_days(
        &self,
        org: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayCount>> {
        let (start, end) = day_bounds(from, to)?;
        Ok(self
            .client
            .query(include_str!("queries/admin/org_login_days.sql"))
            .param("from", start)
            .param("to", end)
            .param("org_id", org)
            .fetch_all()
            .await?)
    }

    /// Successful logins of `org` per application over UTC days
    /// `from..=to`, most logins first.
    pub async fn org_logins_by_service(
        &self,
        org: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ServiceCount>> {
        let (start, end) = day_bounds(from, to)?;
        Ok(self
            .client
            .query(include_str!("queries/admin/org_logins_by_service.sql"))
            .param("from", start)
            .param("to", end)
            .param("org_id", org)
            .fetch_all()
            .await?)
    }

    /// Successful logins of `org` per provider over UTC days `from..=to`,
    /// most logins first.
    pub async fn org_logins_by_provider(
        &self,
        org: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ProviderCount>> {
        let (start, end) = day_bounds(from, to)?;
        Ok(self
            .client
            .query(include_str!("queries/admin/org_logins_by_provider.sql"))
            .param("from", start)
            .param("to", end)
            .param("org_id", org)
            .fetch_all()
            .await?)
    }

    /// The `limit` (clamped to 1..=[`MAX_RECENT_LOGINS`]) newest successful
    /// logins of `org`, newest first (ties: larger id first); with `days`,
    /// only those on UTC days `from..=to`.
    pub async fn recent_logins(
        &self,
        org: Uuid,
        limit: u32,
        days: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Vec<RecentLogin>> {
        let (from, to) = match days {
            Some((from, to)) => day_bounds(from, to)?,
            // Every login (DateTime ends in 2106).
            None => (0, i64::from(u32::MAX)),
        };
        Ok(self
            .client
            .query(include_str!("queries/admin/recent_logins.sql"))
            .param("org_id", org)
            .param("limit", limit.clamp(1, MAX_RECENT_LOGINS))
            .param("from", from)
            .param("to", to)
            .fetch_all()
            .await?)
    }

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
            .query(include_str!("queries/admin/entity_status_counts.sql"))
            .fetch_all::<StatusCount>();
        let sessions = self
            .client
            .query(include_str!("queries/admin/active_sessions.sql"))
            .fetch_one::<Sessions>();
        let activity = self
            .client
            .query(include_str!("queries/admin/recent_activity.sql"))
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

    /// One page of an entity's history, newest first, after `q.after`.
    pub async fn history(&self, q: &HistoryQuery) -> Result<HistoryPage> {
        let limit = q.limit.max(1);
        let mut rows: Vec<HistoryRow> = self
            .client
            .query(include_str!("queries/admin/history.sql"))
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

    /// The latest value of a configuration key.
    pub async fn config_get(&self, key: &str) -> Result<Option<String>> {
        let row: ConfigValue = self
            .client
            .query(include_str!("queries/admin/config_get.sql"))
            .param("key", key)
            .fetch_one()
            .await?;
        Ok((row.n > 0).then_some(row.value))
    }

    /// Stores a configuration value after [`validate_config`]; returns the
    /// normalized value.
    pub async fn config_set(&self, key: &str, value: &str) -> Result<String> {
        let value = validate_config(key, value)?;
        self.client
            .query(include_str!("queries/admin/config_set.sql"))
            .param("key", key)
            .param("value", &value)
            .execute()
            .await?;
        Ok(value)
    }

    /// `audit_retention_days`, or [`DEFAULT_AUDIT_RETENTION_DAYS`] when unset.
    pub async fn audit_retention_days(&self) -> Result<u32> {
        match self.config_get(AUDIT_RETENTION_DAYS).await? {
            None => Ok(DEFAULT_AUDIT_RETENTION_DAYS),
            Some(v) => validate_config(AUDIT_RETENTION_DAYS, &v)?
                .parse()
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "stored {AUDIT_RETENTION_DAYS} {v:?} is invalid"
                    ))
                }),
        }
    }

    /// Deletes the raw audit entries older than the retention (see
    /// [`cleanup_cutoff`]), and their copies sorted by time and by entity. Rollups are
    /// separate tables and keep counting the deleted entries.
    pub async fn audit_cleanup(&self, now: DateTime<Utc>) -> Result<Cleanup> {
        let retention_days = self.audit_retention_days().await?;
        let cutoff = cleanup_cutoff(now, retention_days);
        let deleted: u64 = self
            .client
            .query(include_str!("queries/admin/cleanup_count.sql"))
            .param("cutoff_ms", cutoff.timestamp_millis())
            .fetch_one()
            .await?;
        if deleted > 0 {
            // The copies first: a failure after them leaves the raw
            // entries to count and delete on the next run.
            for sql in [
                include_str!("queries/admin/cleanup_delete_by_time.sql"),
                include_str!("queries/admin/cleanup_delete_history.sql"),
                include_str!("queries/admin/cleanup_delete.sql"),
            ] {
                self.client
                    .query(sql)
                    .param("cutoff_ms", cutoff.timestamp_millis())
                    .execute()
                    .await?;
            }
        }
        Ok(Cleanup {
            deleted,
            retention_days,
            cutoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_validated() {
        assert_eq!(validate_config(AUDIT_RETENTION_DAYS, " 30 ").unwrap(), "30");
        assert!(validate_config(AUDIT_RETENTION_DAYS, "0").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "-1").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "36501").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "ten").is_err());
        assert!(validate_config("retention", "30").is_err());
    }

    #[test]
    fn windows_and_cutoffs() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 10, 7, 30).unwrap();
        assert_eq!(
            bucket_start(now),
            Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap()
        );
        assert_eq!(
            window_start(now, Duration::hours(24)),
            Utc.with_ymd_and_hms(2026, 3, 7, 10, 0, 0).unwrap()
        );
        assert_eq!(
            cleanup_cutoff(now, 365),
            Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).unwrap()
        );
        assert!(day_bounds(
            NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        )
        .is_err());
    }

    fn claim(slug: &str, org: u128, ingested_ms: i64, occurred_ms: i64) -> OrgClaim {
        OrgClaim {
            org_slug: slug.into(),
            org_id: Uuid::from_u128(org),
            ingested_ms,
            occurred_ms,
        }
    }

    #[test]
    fn first_claim_owns_a_slug() {
        let (acme, evil) = (Uuid::from_u128(1), Uuid::from_u128(2));
        // Normal: each org its own slug.
        let normal = [claim("acme", 1, 100, 100), claim("evil-co", 2, 200, 200)];
        assert_eq!(owner_of("acme", &normal), Some(acme));
        assert_eq!(owner_of("evil-co", &normal), Some(evil));
        assert_eq!(owner_of("ghost", &normal), None);

        // Spoof: acme's id sent under evil-co's slug, later. evil-co stays
        // evil's, and acme's data is never behind evil-co.
        let mut spoof = normal.to_vec();
        spoof.push(claim("evil-co", 1, 300, 1));
        assert_eq!(owner_of("evil-co", &spoof), Some(evil));
        assert_eq!(owner_of("acme", &spoof), Some(acme));

        // Spoof before evil-co's own events: evil-co's first claimant is
        // acme's id, whose own slug is acme: evil-co resolves to nobody.
        let early = [
            claim("acme", 1, 100, 100),
            claim("evil-co", 1, 150, 1),
            claim("evil-co", 2, 200, 200),
        ];
        assert_eq!(owner_of("evil-co", &early), None);
        assert_eq!(owner_of("acme", &early), Some(acme));

        // A backdated event time does not beat an earlier ingest.
        let backdated = [claim("acme", 1, 100, 100), claim("acme", 2, 200, 1)];
        assert_eq!(owner_of("acme", &backdated), Some(acme));

        // Two ids sharing a slug: the first keeps it, the second gets
        // nothing under it; an id that changes slug keeps its first one.
        let renamed = [claim("acme", 1, 100, 100), claim("acme-inc", 1, 200, 200)];
        assert_eq!(owner_of("acme", &renamed), Some(acme));
        assert_eq!(owner_of("acme-inc", &renamed), None);

        // Same ingest (one insert): event time, then id text decide.
        let tie = [claim("x", 2, 100, 50), claim("x", 1, 100, 60)];
        assert_eq!(owner_of("x", &tie), Some(evil));
        let tie = [claim("x", 2, 100, 50), claim("x", 1, 100, 50)];
        assert_eq!(owner_of("x", &tie), Some(acme));
    }
}
