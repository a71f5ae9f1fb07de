//! The totals report (`GET /api/report/totals`).

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;

/// FusionAuth totals of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct AppTotals {
    #[serde(with = "clickhouse::serde::uuid")]
    pub application_id: Uuid,
    pub logins: u64,
    pub registrations: i64,
    pub total_registrations: u64,
}

/// FusionAuth totals report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub apps: Vec<AppTotals>,
    pub global_registrations: i64,
    pub total_global_registrations: u64,
}

#[derive(Row, Deserialize)]
struct Created {
    created: u64,
    deleted: u64,
}

impl Store {
    /// FusionAuth totals: per-application logins and registrations, global
    /// registrations.
    pub async fn totals(&self) -> Result<Totals> {
        let apps = self
            .client
            .query(include_str!("app_totals.sql"))
            .fetch_all::<AppTotals>();
        let global = self
            .client
            .query(include_str!("global_registrations.sql"))
            .fetch_one::<Created>();
        let (apps, g) = tokio::try_join!(apps, global)?;
        Ok(Totals {
            apps,
            global_registrations: g.created as i64 - g.deleted as i64,
            total_global_registrations: g.created,
        })
    }
}
