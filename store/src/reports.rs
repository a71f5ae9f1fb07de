//! Typed report queries over the rollup tables. Every value from a request is
//! bound as a server-side query parameter; nothing is spliced into SQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
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

    /// Builds the range covering whole local months `first..=last`
    /// (`(year, month)` pairs).
    pub fn months(tz: Tz, first: (i32, u32), last: (i32, u32)) -> Result<Range> {
        let date = |(y, m): (i32, u32)| {
            NaiveDate::from_ymd_opt(y, m, 1)
                .ok_or_else(|| Error::InvalidArgument(format!("no month {y}-{m}")))
        };
        let (a, b) = (date(first)?, date(last)?);
        if b < a {
            return Err(Error::InvalidArgument(
                "end month is before start month".into(),
            ));
        }
        let from = zone::local_date_start(tz, a);
        Ok(Range {
            tz,
            from,
            to: zone::next(tz, Grain::Month, zone::local_date_start(tz, b)),
        })
    }

    /// Whether the report timezone's local hours are UTC hours over the
    /// whole range, so the hourly rollups answer exactly.
    fn hour_aligned(&self) -> bool {
        zone::whole_hour_offsets(self.tz, self.from, self.to)
    }

    fn local_days(&self) -> (NaiveDate, NaiveDate) {
        (
            self.from.with_timezone(&self.tz).date_naive(),
            self.to.with_timezone(&self.tz).date_naive(),
        )
    }
}

/// Which logins a login report counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginFilter {
    pub application: Option<Uuid>,
    pub user: Option<Uuid>,
    pub login_id: Option<String>,
}

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

/// Janssen per-month statistics: month "YYYYMM" → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthStats {
    pub mau: BTreeMap<String, u64>,
    /// month → grant type → token type → count
    pub tokens: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
}

/// Past local days the daily-active snapshot is read for: inside the view's
/// 100-day window (counted in UTC dates) with a margin for zone offsets.
const DAILY_SNAPSHOT_DAYS: i64 = 95;

/// The query layer: a ClickHouse client bound to the authpulse database.
#[derive(Clone)]
pub struct Store {
    pub(crate) client: Client,
}

#[derive(Row, Deserialize)]
struct StartCount {
    start: u32,
    count: u64,
}

#[derive(Row, Deserialize)]
struct Interval {
    interval: i64,
    count: u64,
}

#[derive(Row, Deserialize)]
struct Created {
    created: u64,
    deleted: u64,
}

#[derive(Row, Deserialize)]
struct TokenCount {
    month: String,
    grant_type: String,
    token_type: String,
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
        filter: &LoginFilter,
    ) -> Result<Vec<IntervalCount>> {
        let query = match (&filter.user, &filter.login_id) {
            (Some(user), _) => self
                .client
                .query(include_str!("queries/login_counts_by_user.sql"))
                .param("user_id", user),
            (None, Some(login_id)) => self
                .client
                .query(include_str!("queries/login_counts_by_login_id.sql"))
                .param("login_id", login_id),
            // One row per hour from the hourly rollup where local hours are
            // UTC hours; the 15-minute rollup otherwise.
            (None, None) if range.hour_aligned() => self
                .client
                .query(include_str!("queries/login_counts_hourly.sql"))
                .param("scope", u8::from(filter.application.is_some())),
            (None, None) => self.client.query(include_str!("queries/login_counts.sql")),
        };
        let rows: Vec<StartCount> = query
            .param("tz", range.tz.name())
            .param("from", range.from.timestamp())
            .param("to", range.to.timestamp())
            .param("all_apps", filter.application.is_none())
            .param("application_id", filter.application.unwrap_or_default())
            .fetch_all()
            .await?;
        Ok(to_intervals(range.tz, Grain::Hour, rows))
    }

    /// Registrations per hour of the report timezone.
    pub async fn registration_counts(
        &self,
        range: Range,
        application: Option<Uuid>,
    ) -> Result<Vec<IntervalCount>> {
        // One row per hour from the hourly rollup where local hours are UTC
        // hours; the 15-minute rollup otherwise.
        let query = if range.hour_aligned() {
            self.client
                .query(include_str!("queries/registration_counts_hourly.sql"))
                .param("scope", u8::from(application.is_some()))
        } else {
            self.client
                .query(include_str!("queries/registration_counts.sql"))
        };
        let rows: Vec<StartCount> = query
            .param("tz", range.tz.name())
            .param("from", range.from.timestamp())
            .param("to", range.to.timestamp())
            .param("all_apps", application.is_none())
            .param("application_id", application.unwrap_or_default())
            .fetch_all()
            .await?;
        Ok(to_intervals(range.tz, Grain::Hour, rows))
    }

    /// Distinct active users per local day (`Grain::Day`) or month
    /// (`Grain::Month`) for the given applications (all when empty), merged
    /// from sketch states.
    pub async fn active_users(
        &self,
        range: Range,
        grain: Grain,
        apps: &[Uuid],
    ) -> Result<Vec<IntervalCount>> {
        let query = match grain {
            // Every application: past days from the finalized snapshot
            // (0009), today live.
            Grain::Day if apps.is_empty() => {
                let today = Utc::now().with_timezone(&range.tz).date_naive();
                self.client
                    .query(include_str!("queries/active_users_daily_global.sql"))
                    .param("live_from", today.to_string())
                    .param(
                        "snap_from",
                        (today - chrono::Duration::days(DAILY_SNAPSHOT_DAYS)).to_string(),
                    )
            }
            Grain::Day => self
                .client
                .query(include_str!("queries/active_users_daily.sql"))
                .param("apps", apps),
            // Every application: past months finalized (0018), the
            // current local month = snapshot state + live days (0021).
            Grain::Month if apps.is_empty() => {
                let today = Utc::now().with_timezone(&range.tz).date_naive();
                let cur_month = today.with_day(1).unwrap_or(today);
                self.client
                    .query(include_str!("queries/active_users_monthly_global.sql"))
                    .param("cur_month", cur_month.to_string())
            }
            Grain::Month => self
                .client
                .query(include_str!("queries/active_users_monthly.sql"))
                .param("apps", apps),
            Grain::Hour => {
                return Err(Error::InvalidArgument(
                    "active users are daily or monthly".into(),
                ))
            }
        };
        let (from_day, to_day) = range.local_days();
        let rows: Vec<Interval> = query
            .param("tz", range.tz.name())
            .param("from_day", from_day.to_string())
            .param("to_day", to_day.to_string())
            .fetch_all()
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| IntervalCount {
                interval: r.interval,
                count: r.count,
            })
            .collect())
    }

    /// Distinct users active anywhere in the range's local days.
    pub async fn distinct_active(&self, range: Range, apps: &[Uuid]) -> Result<u64> {
        let (from_day, to_day) = range.local_days();
        let query = if apps.is_empty() {
            self.client
                .query(include_str!("queries/active_users_range_global.sql"))
        } else {
            self.client
                .query(include_str!("queries/active_users_range.sql"))
                .param("apps", apps)
        };
        Ok(query
            .param("tz", range.tz.name())
            .param("from_day", from_day.to_string())
            .param("to_day", to_day.to_string())
            .fetch_one::<u64>()
            .await?)
    }

    /// FusionAuth totals: per-application logins and registrations, global
    /// registrations.
    pub async fn totals(&self) -> Result<Totals> {
        let apps = self
            .client
            .query(include_str!("queries/app_totals.sql"))
            .fetch_all::<AppTotals>();
        let global = self
            .client
            .query(include_str!("queries/global_registrations.sql"))
            .fetch_one::<Created>();
        let (apps, g) = tokio::try_join!(apps, global)?;
        Ok(Totals {
            apps,
            global_registrations: g.created as i64 - g.deleted as i64,
            total_global_registrations: g.created,
        })
    }

    /// Janssen statistics for the local months of `range`: MAU from merged
    /// sketch states, tokens per grant type and token type.
    pub async fn month_stats(&self, range: Range) -> Result<MonthStats> {
        // The MAU report's query: finalized past months, live current month.
        let mau = self.active_users(range, Grain::Month, &[]);
        let tokens = self
            .client
            .query(if range.hour_aligned() {
                include_str!("queries/tokens_by_month_hourly.sql")
            } else {
                include_str!("queries/tokens_by_month.sql")
            })
            .param("tz", range.tz.name())
            .param("from", range.from.timestamp())
            .param("to", range.to.timestamp())
            .fetch_all::<TokenCount>();
        let (mau, tokens) = tokio::try_join!(mau, async { Ok(tokens.await?) })?;
        let mut stats = MonthStats {
            mau: mau
                .into_iter()
                .map(|m| (year_month(m.interval), m.count))
                .collect(),
            ..Default::default()
        };
        for t in tokens {
            *stats
                .tokens
                .entry(t.month)
                .or_default()
                .entry(t.grant_type)
                .or_default()
                .entry(t.token_type)
                .or_default() += t.count;
        }
        Ok(stats)
    }
}

/// "YYYYMM" of a month interval (months since 1970-01).
fn year_month(interval: i64) -> String {
    format!(
        "{:04}{:02}",
        1970 + interval.div_euclid(12),
        interval.rem_euclid(12) + 1
    )
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
