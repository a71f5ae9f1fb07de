//! The ClickHouse side of a batch: its write-ahead record, then one insert
//! per destination table, each with a deterministic deduplication token.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::metrics::Metrics;
use crate::rows::{self, Columns, DeadLetterRow, Encoded, Rows};

/// Identifies a batch: one partition's contiguous offsets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchId {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

impl BatchId {
    /// `topic/partition/first-last` (Kafka topic names cannot contain `/`).
    fn key(&self) -> String {
        format!(
            "{}/{}/{}-{}",
            self.topic, self.partition, self.first, self.last
        )
    }

    fn parse(key: &str) -> Option<BatchId> {
        let mut parts = key.rsplitn(3, '/');
        let (range, partition, topic) = (parts.next()?, parts.next()?, parts.next()?);
        let (first, last) = range.split_once('-')?;
        Some(BatchId {
            topic: topic.to_string(),
            partition: partition.parse().ok()?,
            first: first.parse().ok()?,
            last: last.parse().ok()?,
        })
    }
}

/// A store group: batches of several partitions stored together, with one
/// insert per table. Its members are kept in (topic, partition) order, so
/// the same batches always make the same group and the same tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupId(Vec<BatchId>);

impl GroupId {
    pub fn new(mut members: Vec<BatchId>) -> GroupId {
        members.sort();
        GroupId(members)
    }

    pub fn members(&self) -> &[BatchId] {
        &self.0
    }

    /// The members' keys joined by `,`. For a one-batch group this is the
    /// batch's key, so its tokens are those of the per-batch stores before
    /// store groups (0016): a batch written ahead by an older consumer is
    /// re-formed with the tokens it was first stored with.
    fn key(&self) -> String {
        let keys: Vec<String> = self.0.iter().map(BatchId::key).collect();
        keys.join(",")
    }

    /// Parses a write-ahead record's `members` (empty: the record's batch
    /// was stored alone).
    pub fn parse(members: &str) -> Option<GroupId> {
        let ids: Option<Vec<BatchId>> = members.split(',').map(BatchId::parse).collect();
        ids.filter(|ids| !ids.is_empty()).map(GroupId::new)
    }

    /// The insert_deduplication_token of this group in `table`. Same
    /// members, same token: a replay of the group is dropped by ClickHouse,
    /// in the raw table and in every materialized view it feeds.
    fn token(&self, consumer_group: &str, table: &str) -> String {
        format!("{consumer_group}/{}/{table}", self.key())
    }
}

#[derive(Row, Serialize)]
struct BatchRecord<'a> {
    consumer_group: &'a str,
    topic: &'a str,
    partition: u32,
    first_offset: u64,
    last_offset: u64,
    members: &'a str,
}

#[derive(Row, Deserialize)]
struct Pending {
    last_offset: u64,
    members: String,
}

/// A batch written ahead at some offset and maybe not committed.
#[derive(Debug)]
pub struct PendingBatch {
    /// Its last offset: a replay must end there.
    pub last: i64,
    /// The group it was stored in, when it was stored with other
    /// partitions' batches (None: alone).
    pub group: Option<GroupId>,
}

#[derive(Clone)]
pub struct Sink {
    client: Client,
    group: String,
    /// Test hook (`AUTHPULSE_FAILPOINT_STORE_ABORT=<table>`): the process
    /// aborts right after the first group of several batches has landed in
    /// that table only, the worst place for a crash. Tests use it to prove
    /// the replay of such a group by owners that did not read all of it.
    abort_after: Option<String>,
}

impl Sink {
    pub fn new(url: &str, database: &str, group: &str) -> Sink {
        let client = Client::default()
            .with_url(url)
            .with_database(database)
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .with_setting("insert_deduplicate", "1")
            // A batch may hold events of every month the contract accepts
            // (1970..2100, ~1560 monthly partitions); the default limit of
            // 100 partitions per insert block made such a batch fail
            // forever and stall its partition.
            .with_setting("max_partitions_per_insert_block", "0");
        Sink {
            client,
            group: group.to_string(),
            abort_after: std::env::var("AUTHPULSE_FAILPOINT_STORE_ABORT")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    /// A batch that was started at `first` on this partition and may not
    /// have been committed: a replay must re-form it (and its group).
    pub async fn pending_batch(
        &self,
        topic: &str,
        partition: i32,
        first: i64,
    ) -> Result<Option<PendingBatch>> {
        let row: Option<Pending> = self
            .client
            .query(include_str!("../sql/find_batch.sql"))
            .param("group", &self.group)
            .param("topic", topic)
            .param("partition", partition as u32)
            .param("first", first as u64)
            .fetch_optional()
            .await?;
        Ok(row.map(|r| PendingBatch {
            last: r.last_offset as i64,
            group: GroupId::parse(&r.members).filter(|g| g.members().len() > 1),
        }))
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

    /// Stores a group: the write-ahead record of every member first, then
    /// one insert per table with the rows of all members (`parts`, in the
    /// group's member order).
    pub async fn store(&self, group: &GroupId, parts: &[&Rows], metrics: &Metrics) -> Result<()> {
        let started = Instant::now();
        let members = if group.members().len() > 1 {
            group.key()
        } else {
            String::new()
        };
        let mut record = self.client.insert::<BatchRecord>("ingest_batches").await?;
        for id in group.members() {
            record
                .write(&BatchRecord {
                    consumer_group: &self.group,
                    topic: &id.topic,
                    partition: id.partition as u32,
                    first_offset: id.first as u64,
                    last_offset: id.last as u64,
                    members: &members,
                })
                .await?;
        }
        record.end().await?;
        if let Some(table) = self
            .abort_after
            .as_deref()
            .filter(|_| group.members().len() > 1)
        {
            match table {
                "login_events" => {
                    self.encoded(group, &rows::LOGIN, parts, |r| &r.logins)
                        .await?
                }
                "token_events" => {
                    self.encoded(group, &rows::TOKEN, parts, |r| &r.tokens)
                        .await?
                }
                _ => {}
            }
            tracing::error!(
                table,
                members = group.members().len(),
                "failpoint: aborting after a partial store"
            );
            std::process::abort();
        }
        // The tables are independent: insert them concurrently. (The id
        // table may land before the rows: a new owner only loads ids of
        // offsets before its resume point, i.e. of committed batches.)
        tokio::try_join!(
            self.encoded(group, &rows::LOGIN, parts, |r| &r.logins),
            self.encoded(group, &rows::REGISTRATION, parts, |r| &r.registrations),
            self.encoded(group, &rows::TOKEN, parts, |r| &r.tokens),
            self.encoded(group, &rows::SESSION, parts, |r| &r.sessions),
            self.encoded(group, &rows::AUDIT, parts, |r| &r.audits),
            self.dead_letters(group, parts),
            self.encoded(group, &rows::EVENT_ID, parts, |r| &r.event_ids),
        )?;
        metrics.record_insert(started.elapsed());
        Ok(())
    }

    /// One insert of the members' RowBinary buffers into a raw table.
    async fn encoded(
        &self,
        group: &GroupId,
        columns: &Columns,
        parts: &[&Rows],
        rows: impl Fn(&Rows) -> &Encoded,
    ) -> Result<()> {
        if parts.iter().all(|p| rows(p).rows() == 0) {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            columns.table, columns.names
        );
        let mut insert = self.client.insert_formatted_with(sql).with_setting(
            "insert_deduplication_token",
            group.token(&self.group, columns.table),
        );
        for part in parts {
            for chunk in rows(part).chunks() {
                insert.send(chunk).await?;
            }
        }
        insert.end().await?;
        Ok(())
    }

    async fn dead_letters(&self, group: &GroupId, parts: &[&Rows]) -> Result<()> {
        const TABLE: &str = "dead_letters";
        if parts.iter().all(|p| p.dead_letters.is_empty()) {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert::<DeadLetterRow>(TABLE)
            .await?
            .with_setting(
                "insert_deduplication_token",
                group.token(&self.group, TABLE),
            );
        for row in parts.iter().flat_map(|p| &p.dead_letters) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(topic: &str, partition: i32, first: i64, last: i64) -> BatchId {
        BatchId {
            topic: topic.into(),
            partition,
            first,
            last,
        }
    }

    #[test]
    fn one_batch_group_keeps_the_per_batch_token() {
        let g = GroupId::new(vec![id("auth-events", 3, 100, 199)]);
        assert_eq!(
            g.token("ingest", "login_events"),
            "ingest/auth-events/3/100-199/login_events"
        );
    }

    #[test]
    fn members_round_trip_in_partition_order() {
        let g = GroupId::new(vec![
            id("auth.events-2", 2, 5, 9),
            id("auth.events-2", 0, 7, 7),
            id("a", 1, 0, 12),
        ]);
        assert_eq!(g.key(), "a/1/0-12,auth.events-2/0/7-7,auth.events-2/2/5-9");
        assert_eq!(GroupId::parse(&g.key()), Some(g));
        assert_eq!(GroupId::parse(""), None);
        assert_eq!(GroupId::parse("t/x/1-2"), None);
    }
}
