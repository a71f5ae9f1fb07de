//! Login trends, logins by service and by provider, and recent logins of one
//! organization over whole UTC days.

use chrono::NaiveDate;
use clickhouse::Row;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;
use crate::range::day_bounds;

/// Logins of one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`
    pub date: String,
    pub count: u64,
}

/// Successful logins of one UTC day and group (an application id, a
/// provider).
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct DayGroupCount {
    /// Days since 1970-01-01.
    pub day: i64,
    pub label: String,
    pub count: u64,
}

/// What [`Store::org_login_days_by`] groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgGroup {
    /// The application (`group` is its id).
    Service,
    Provider,
}

/// The latest name seen for an application.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct AppName {
    #[serde(with = "clickhouse::serde::uuid")]
    pub id: Uuid,
    pub name: String,
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

impl Store {
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
            .query(include_str!("org_login_days.sql"))
            .param("from", start)
            .param("to", end)
            .param("org_id", org)
            .fetch_all()
            .await?)
    }

    /// Successful logins of `org` per UTC day `from..=to` and application
    /// or provider (days and groups without logins absent).
    pub async fn org_login_days_by(
        &self,
        org: Uuid,
        group: OrgGroup,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayGroupCount>> {
        let (start, end) = day_bounds(from, to)?;
        let sql = match group {
            OrgGroup::Service => include_str!("org_login_days_by_service.sql"),
            OrgGroup::Provider => include_str!("org_login_days_by_provider.sql"),
        };
        Ok(self
            .client
            .query(sql)
            .param("from", start)
            .param("to", end)
            .param("org_id", org)
            .fetch_all()
            .await?)
    }

    /// The latest name seen for each application of `org`.
    pub async fn application_names(&self, org: Uuid) -> Result<Vec<AppName>> {
        Ok(self
            .client
            .query(include_str!("application_names.sql"))
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
            .query(include_str!("recent_logins.sql"))
            .param("org_id", org)
            .param("limit", limit.clamp(1, MAX_RECENT_LOGINS))
            .param("from", from)
            .param("to", to)
            .fetch_all()
            .await?)
    }
}
