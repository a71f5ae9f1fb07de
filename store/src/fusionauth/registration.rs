//! The registration report (`GET /api/report/registration`).

use uuid::Uuid;

use crate::error::Result;
use crate::handle::Store;
use crate::range::{to_intervals, IntervalCount, Range, StartCount};
use crate::zone::Grain;

impl Store {
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
                .query(include_str!("registration_counts_hourly.sql"))
                .param("scope", u8::from(application.is_some()))
        } else {
            self.client.query(include_str!("registration_counts.sql"))
        };
        let rows: Vec<StartCount> = range
            .bind_instants(query)
            .param("all_apps", application.is_none())
            .param("application_id", application.unwrap_or_default())
            .fetch_all()
            .await?;
        Ok(to_intervals(range.tz, Grain::Hour, rows))
    }
}
