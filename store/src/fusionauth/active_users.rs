//! Daily / monthly active users (`GET /api/report/daily-active-users`,
//! `monthly-active-users`) and distinct users over a range, merged from
//! sketch states. Janssen's MAU is the monthly query for every application.

use chrono::{Datelike, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::handle::Store;
use crate::range::{IntervalCount, Range};
use crate::zone::Grain;

/// Past local days the daily-active snapshot is read for: inside the view's
/// 100-day window (counted in UTC dates) with a margin for zone offsets.
const DAILY_SNAPSHOT_DAYS: i64 = 95;

impl Store {
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
                    .query(include_str!("active_users_daily_global.sql"))
                    .param("live_from", today.to_string())
                    .param(
                        "snap_from",
                        (today - chrono::Duration::days(DAILY_SNAPSHOT_DAYS)).to_string(),
                    )
            }
            Grain::Day => self
                .client
                .query(include_str!("active_users_daily.sql"))
                .param("apps", apps),
            // Every application: past months finalized (0018), the
            // current local month = snapshot state + live days (0021).
            Grain::Month if apps.is_empty() => {
                let today = Utc::now().with_timezone(&range.tz).date_naive();
                let cur_month = today.with_day(1).unwrap_or(today);
                self.client
                    .query(include_str!("active_users_monthly_global.sql"))
                    .param("cur_month", cur_month.to_string())
            }
            Grain::Month => self
                .client
                .query(include_str!("active_users_monthly.sql"))
                .param("apps", apps),
            Grain::Hour => {
                return Err(Error::InvalidArgument(
                    "active users are daily or monthly".into(),
                ))
            }
        };
        Ok(range.bind_days(query).fetch_all().await?)
    }

    /// Distinct users active anywhere in the range's local days.
    pub async fn distinct_active(&self, range: Range, apps: &[Uuid]) -> Result<u64> {
        let query = if apps.is_empty() {
            self.client
                .query(include_str!("active_users_range_global.sql"))
        } else {
            self.client
                .query(include_str!("active_users_range.sql"))
                .param("apps", apps)
        };
        Ok(range.bind_days(query).fetch_one::<u64>().await?)
    }
}
