//! Audit log retention (`DELETE /api/admin/audit/cleanup`).

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
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
            let on_cluster = self.distributed_as("audit_events").await?;
            // The copies first: a failure after them leaves the raw
            // entries to count and delete on the next run.
            for sql in [
                include_str!("cleanup_delete_by_time.sql"),
                include_str!("cleanup_delete_history.sql"),
                include_str!("cleanup_delete.sql"),
            ] {
                let sql = match &on_cluster {
                    None => sql.to_string(),
                    Some(d) => on_each_shard(sql, d),
                };
                let done = self
                    .client
                    .query(&sql)
                    .param("cutoff_ms", cutoff.timestamp_millis())
                    .execute()
                    .await;
                match (done, &on_cluster) {
                    (Err(e), Some(d)) if needs_keeper(&e) => {
                        return Err(Error::Unsupported(format!(
                            "audit cleanup on cluster `{}` deletes with ON CLUSTER, which needs \
                             ClickHouse Keeper; without it run the cleanup against each shard's \
                             database `{}` (docs/scaling.md)",
                            d.cluster, d.database
                        )))
                    }
                    (done, _) => done?,
                }
            }
        }
        Ok(Cleanup {
            deleted,
            retention_days,
            cutoff,
        })
    }
}

/// Where the Distributed table of the cluster database sends its rows.
pub(crate) struct Distributed {
    pub cluster: String,
    pub database: String,
}

impl Store {
    /// `Some` when `table` is a Distributed table (the API reads a cluster
    /// database, docs/scaling.md): ClickHouse deletes only in the shards'
    /// own tables.
    pub(crate) async fn distributed_as(&self, table: &str) -> Result<Option<Distributed>> {
        let engine: Vec<String> = self
            .client
            .query(
                "SELECT engine_full FROM system.tables WHERE database = currentDatabase() \
                 AND name = ? AND engine = 'Distributed'",
            )
            .bind(table)
            .fetch_all()
            .await?;
        Ok(engine.first().and_then(|e| {
            // Distributed('cluster', 'database', 'table', key)
            let args: Vec<&str> = e
                .strip_prefix("Distributed(")?
                .split(',')
                .map(|a| a.trim().trim_matches('\''))
                .collect();
            Some(Distributed {
                cluster: args.first()?.to_string(),
                database: args.get(1)?.to_string(),
            })
        }))
    }
}

/// `DELETE FROM t WHERE …` of a cleanup file as a delete in every shard's
/// own table: `DELETE FROM db.t ON CLUSTER 'c' WHERE …`.
fn on_each_shard(sql: &str, d: &Distributed) -> String {
    let stmt: String = sql
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let rest = stmt.trim().strip_prefix("DELETE FROM ").unwrap_or(&stmt);
    let (table, cond) = rest.split_once(' ').unwrap_or((rest, ""));
    format!(
        "DELETE FROM `{}`.`{table}` ON CLUSTER '{}' {cond}",
        d.database,
        d.cluster.replace('\'', "")
    )
}

/// ClickHouse refused ON CLUSTER for want of a coordinator.
fn needs_keeper(e: &clickhouse::error::Error) -> bool {
    let text = e.to_string();
    [
        "QUERY_IS_PROHIBITED",
        "NO_ZOOKEEPER",
        "KEEPER_EXCEPTION",
        "Replicated DDL queries are disabled",
    ]
    .iter()
    .any(|c| text.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cleanup_deletes_in_the_shards_tables_on_a_cluster() {
        let d = Distributed {
            cluster: "c1".into(),
            database: "authpulse".into(),
        };
        assert_eq!(
            on_each_shard(include_str!("cleanup_delete.sql"), &d),
            "DELETE FROM `authpulse`.`audit_events` ON CLUSTER 'c1' \
             WHERE occurred_at < fromUnixTimestamp64Milli({cutoff_ms:Int64}, 'UTC')"
        );
    }

    #[test]
    fn cutoff_is_midnight_utc_retention_days_ago() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 10, 7, 30).unwrap();
        assert_eq!(
            cleanup_cutoff(now, 365),
            Utc.with_ymd_and_hms(2025, 3, 8, 0, 0, 0).unwrap()
        );
    }
}
