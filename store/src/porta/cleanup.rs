//! Audit log retention (`DELETE /api/admin/audit/cleanup`).

use chrono::{DateTime, Duration, Utc};

use crate::error::Result;
use crate::handle::Store;
use crate::range::utc_midnight;

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
    utc_midnight(now.date_naive()) - Duration::days(i64::from(retention_days))
}

impl Store {
    /// Deletes the raw audit entries older than the retention (see
    /// [`cleanup_cutoff`]), and their copies sorted by time and by entity. Rollups are
    /// separate tables and keep counting the deleted entries.
    pub async fn audit_cleanup(&self, now: DateTime<Utc>) -> Result<Cleanup> {
        let retention_days = self.audit_retention_days().await?;
        let cutoff = cleanup_cutoff(now, retention_days);
        let deleted: u64 = self
            .client
            .query(include_str!("cleanup_count.sql"))
            .param("cutoff_ms", cutoff.timestamp_millis())
            .fetch_one()
            .await?;
        if deleted > 0 {
            // The copies first: a failure after them leaves the raw
            // entries to count and delete on the next run.
            for sql in [
                include_str!("cleanup_delete_by_time.sql"),
                include_str!("cleanup_delete_history.sql"),
                include_str!("cleanup_delete.sql"),
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
    use chrono::TimeZone;

    #[test]
    fn cutoff_is_midnight_utc_retention_days_ago() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 10, 7, 30).unwrap();
        assert_eq!(
            cleanup_cutoff(now, 365),
            Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).unwrap()
        );
    }
}
