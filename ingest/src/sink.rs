//! The ClickHouse side of a batch: its write-ahead record, then one insert
//! per destination table, each with a deterministic deduplication token.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::Metrics;
use crate::rows::Rows;

/// Identifies a batch: one partition's contiguous offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchId {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

impl BatchId {
    /// The insert_deduplication_token of this batch in `table`. Same offsets,
    /// same token: a replay of the batch is dropped by ClickHouse, in the raw
    /// table and in every materialized view it feeds.
    fn token(&self, group: &str, table: &str) -> String {
        format!(
            "{group}/{}/{}/{}-{}/{table}",
            self.topic, self.partition, self.first, self.last
        )
    }
}

#[derive(Row, Serialize)]
struct BatchRecord<'a> {
    consumer_group: &'a str,
    topic: &'a str,
    partition: u32,
    first_offset: u64,
    last_offset: u64,
}

#[derive(Row, Deserialize)]
struct LastOffset {
    last_offset: u64,
}

#[derive(Clone)]
pub struct Sink {
    client: Client,
    group: String,
}

impl Sink {
    pub fn new(url: &str, database: &str, group: &str) -> Sink {
        let client = Client::default()
            .with_url(url)
            .with_database(database)
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .with_setting("insert_deduplicate", "1");
        Sink {
            client,
            group: group.to_string(),
        }
    }

    /// The last offset of a batch that was started at `first` on this
    /// partition and may not have been committed: a replay must end there.
    pub async fn pending_batch_end(
        &self,
        topic: &str,
        partition: i32,
        first: i64,
    ) -> Result<Option<i64>> {
        let row: Option<LastOffset> = self
            .client
            .query(include_str!("../sql/find_batch.sql"))
            .param("group", &self.group)
            .param("topic", topic)
            .param("partition", partition as u32)
            .param("first", first as u64)
            .fetch_optional()
            .await?;
        Ok(row.map(|r| r.last_offset as i64))
    }

    /// Event ids stored for offsets `[from, to)` of a partition, in offset
    /// order.
    pub async fn recent_ids(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<uuid::Uuid>> {
        #[derive(Row, Deserialize)]
        struct Id {
            #[serde(with = "clickhouse::serde::uuid")]
            event_id: uuid::Uuid,
        }
        let rows: Vec<Id> = self
            .client
            .query(include_str!("../sql/recent_ids.sql"))
            .param("topic", topic)
            .param("partition", partition as u32)
            .param("from", from.max(0) as u64)
            .param("to", to.max(0) as u64)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(|r| r.event_id).collect())
    }

    /// Stores a batch: the write-ahead record first, then every table.
    pub async fn store(&self, id: &BatchId, rows: &Rows, metrics: &Metrics) -> Result<()> {
        let started = Instant::now();
        let mut record = self.client.insert::<BatchRecord>("ingest_batches").await?;
        record
            .write(&BatchRecord {
                consumer_group: &self.group,
                topic: &id.topic,
                partition: id.partition as u32,
                first_offset: id.first as u64,
                last_offset: id.last as u64,
            })
            .await?;
        record.end().await?;
        // The tables are independent: insert them concurrently. (The id
        // table may land before the rows: a new owner only loads ids of
        // offsets before its resume point, i.e. of committed batches.)
        tokio::try_join!(
            self.insert(id, "login_events", &rows.logins),
            self.insert(id, "registration_events", &rows.registrations),
            self.insert(id, "token_events", &rows.tokens),
            self.insert(id, "session_events", &rows.sessions),
            self.insert(id, "audit_events", &rows.audits),
            self.insert(id, "dead_letters", &rows.dead_letters),
            self.insert(id, "ingest_event_ids", &rows.event_ids),
        )?;
        metrics.record_insert(started.elapsed());
        Ok(())
    }

    async fn insert<T>(&self, id: &BatchId, table: &str, rows: &[T]) -> Result<()>
    where
        T: clickhouse::RowOwned + clickhouse::RowWrite,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<T>(table)
            .await?
            .with_setting("insert_deduplication_token", id.token(&self.group, table));
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await?;
        Ok(())
    }
}

/// Exponential backoff for retrying a store: 100 ms doubling up to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(10))
}
