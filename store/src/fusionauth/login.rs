//! The login report (`GET /api/report/login`).

use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;
use crate::range::{to_intervals, IntervalCount, Range, StartCount};
use crate::zone::Grain;

/// Which logins a login report counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginFilter {
    pub application: Option<Uuid>,
    pub user: Option<Uuid>,
    pub login_id: Option<String>,
}

impl Store {
    /// Successful logins per hour of the report timezone.
    pub async fn login_counts(
        &self,
        range: Range,
        filter: &LoginFilter,
    ) -> Result<Vec<IntervalCount>> {
        let query = match (&filter.user, &filter.login_id) {
            (Some(user), _) => self
                .client
                .query(include_str!("login_counts_by_user.sql"))
                .param("user_id", user),
            (None, Some(login_id)) => self
                .client
                .query(include_str!("login_counts_by_login_id.sql"))
                .param("login_id", login_id),
            // One row per hour from the hourly rollup where local hours are
            // UTC hours; the 15-minute rollup otherwise.
            (None, None) if range.hour_aligned() => self
                .client
                .query(include_str!("login_counts_hourly.sql"))
                .param("scope", u8::from(filter.application.is_some())),
            (None, None) => self.client.query(include_str!("login_counts.sql")),
        };
        let rows: Vec<StartCount> = range
            .bind_instants(query)
            .param("all_apps", filter.application.is_none())
            .param("application_id", filter.application.unwrap_or_default())
            .fetch_all()
            .await?;
        Ok(to_intervals(range.tz, Grain::Hour, rows))
    }
}
