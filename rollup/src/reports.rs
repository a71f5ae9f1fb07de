//! Typed report queries over the rollup tables. Every value from a request is
//! bound as a server-side query parameter; nothing is spliced into SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::zone::{self, Grain};

/// One report interval and its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalCount {
    pub interval: i64,
    pub count: u64,
}

/// A report range: the local intervals from the one containing `start`
/// through the one containing `end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub tz: Tz,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    /// Builds the range from epoch-millisecond bounds, truncated to `grain`
    /// in the report timezone.
    pub fn new(tz: Tz, grain: Grain, start_ms: i64, end_ms: i64) -> Result<Range> {
        if end_ms < start_ms {
            return Err(Error::InvalidArgument("end is before start".into()));
        }
        let from = zone::truncate(tz, grain, zone::from_millis(start_ms)?);
        let last = zone::truncate(tz, grain, zone::from_millis(end_ms)?);
        Ok(Range {
            tz,
            from,
            to: zone::next(tz, grain, last),
        })
    }
}

/// The query layer: a ClickHouse client bound to the authpulse database.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

#[derive(Row, Deserialize)]
struct StartCount {
    start: u32,
    count: u64,
}

impl Store {
    pub fn new(client: Client) -> Store {
        Store { client }
    }

    /// Whether ClickHouse answers.
    pub async fn ping(&self) -> Result<()> {
        self.client.query("SELECT 1").fetch_one::<u8>().await?;
        Ok(())
    }

    /// Successful logins per hour of the report timezone.
    pub async fn login_counts(
        &self,
        range: Range,
        application: Option<Uuid>,
    ) -> Result<Vec<IntervalCount>> {
        let rows: Vec<StartCount> = self
            .client
            .query(include_str!("queries/login_counts.sql"))
            .param("tz", range.tz.name())
            .param("from", range.from.timestamp())
            .param("to", range.to.timestamp())
            .param("all_apps", application.is_none())
            .param("application_id", application.unwrap_or_default())
            .fetch_all()
            .await?;
        Ok(to_intervals(range.tz, Grain::Hour, rows))
    }
}

/// Maps local interval starts to interval numbers, merging starts that share
/// a number (the repeated hour when DST ends), in interval order.
fn to_intervals(tz: Tz, grain: Grain, rows: Vec<StartCount>) -> Vec<IntervalCount> {
    let mut merged: BTreeMap<i64, u64> = BTreeMap::new();
    for r in rows {
        let start = DateTime::from_timestamp(i64::from(r.start), 0).unwrap_or_default();
        *merged.entry(zone::interval(tz, grain, start)).or_default() += r.count;
    }
    merged
        .into_iter()
        .map(|(interval, count)| IntervalCount { interval, count })
        .collect()
}

/// Sum of the counts: the `total` of a FusionAuth report.
pub fn total(counts: &[IntervalCount]) -> u64 {
    counts.iter().map(|c| c.count).sum()
}
