//! The ClickHouse side of a batch: its write-ahead record, then one insert
//! per destination table, each with a deterministic deduplication token.

use std::collections::{HashMap, HashSet};
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
struct ClaimRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: uuid::Uuid,
    topic: String,
    partition: u32,
    offset: u64,
    store_key: String,
}

#[derive(Row, Serialize)]
struct NewClaim<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: uuid::Uuid,
    topic: &'a str,
    partition: u32,
    offset: u64,
    /// DateTime64(3): milliseconds.
    occurred_at: i64,
    store_key: &'a str,
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
    /// `client` comes from the one ClickHouse client builder
    /// (`Config::clickhouse_client`).
    pub fn new(client: Client, database: &str, group: &str) -> Sink {
        let client = client
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

    /// Stores a group: the write-ahead record of every member first, then
    /// the re-send check — the ids of the group's events (all of them, by
    /// position) into `ingest_event_ids`, the claims already held on those
    /// ids read back from `ingest_claims`, the claims of the events that are
    /// not re-sends inserted — and only then one insert per raw table with
    /// the rows of all members (`parts`, in the group's member order)
    /// without the re-sends. Returns the number of re-sends dropped.
    pub async fn store(&self, group: &GroupId, parts: &[&Rows], metrics: &Metrics) -> Result<u64> {
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
        // Same messages, same rows: deduplicated by token on a replay.
        self.encoded(group, &rows::EVENT_ID, parts, |r| &r.event_ids)
            .await?;
        let resends = self.resends(group, parts).await?;
        let dropped: u64 = resends.iter().flatten().map(|d| d.len() as u64).sum();
        // Filtered buffers, only where a part has re-sends in that table.
        let filtered: Vec<[Option<Encoded>; 5]> = parts
            .iter()
            .zip(&resends)
            .map(|(part, drop)| {
                std::array::from_fn(|t| {
                    (!drop[t].is_empty()).then(|| part.table(t).without(&drop[t]))
                })
            })
            .collect();
        let table = |p: usize, t: usize| -> &Encoded {
            filtered[p][t].as_ref().unwrap_or_else(|| parts[p].table(t))
        };
        if let Some(name) = self
            .abort_after
            .as_deref()
            .filter(|_| group.members().len() > 1)
        {
            if let Some(t) = rows::TABLES.iter().position(|c| c.table == name) {
                self.encoded_parts(group, rows::TABLES[t], parts.len(), |p| table(p, t))
                    .await?;
            }
            tracing::error!(
                table = name,
                members = group.members().len(),
                "failpoint: aborting after a partial store"
            );
            std::process::abort();
        }
        // The tables are independent: insert them concurrently.
        tokio::try_join!(
            self.encoded_parts(group, &rows::LOGIN, parts.len(), |p| table(p, 0)),
            self.encoded_parts(group, &rows::REGISTRATION, parts.len(), |p| table(p, 1)),
            self.encoded_parts(group, &rows::TOKEN, parts.len(), |p| table(p, 2)),
            self.encoded_parts(group, &rows::SESSION, parts.len(), |p| table(p, 3)),
            self.encoded_parts(group, &rows::AUDIT, parts.len(), |p| table(p, 4)),
            self.dead_letters(group, parts),
        )?;
        metrics.record_insert(started.elapsed());
        for (t, kind) in ["login", "registration", "token", "session", "audit"]
            .into_iter()
            .enumerate()
        {
            let n: usize = (0..parts.len()).map(|p| table(p, t).rows()).sum();
            if n > 0 {
                metrics.inserted(kind, n as u64);
            }
        }
        Ok(dropped)
    }

    /// Per part and raw table, the row numbers of the events that are
    /// re-sends, after claiming the others in `ingest_claims`.
    ///
    /// An event (id X at topic/partition/offset p) is stored when no claim
    /// on X exists, or when X's claim is this very group's at p (a crashed
    /// group re-formed: its claims landed, maybe not all its rows). Any
    /// other claim — another partition, an earlier offset, another consumer
    /// group such as a replay — makes it a re-send. Within the group the
    /// first occurrence (member order, then offset) wins. The verdicts of a
    /// re-formed group are those of its first store: its claims land before
    /// any of its rows, and claims only ever grow.
    async fn resends(&self, group: &GroupId, parts: &[&Rows]) -> Result<Vec<[HashSet<usize>; 5]>> {
        let mut out: Vec<[HashSet<usize>; 5]> = parts.iter().map(|_| Default::default()).collect();
        if parts.iter().all(|p| p.accepted.is_empty()) {
            return Ok(out);
        }
        let store_key = group.token(&self.group, "");
        // Claims on the group's ids, found through the ids just written by
        // position (ordered by topic, partition, offset: a range read).
        let mut cond = Vec::new();
        for (i, _) in group.members().iter().enumerate() {
            cond.push(format!(
                "(topic = {{t{i}:String}} AND partition = {{p{i}:UInt32}} AND offset BETWEEN {{f{i}:UInt64}} AND {{l{i}:UInt64}})"
            ));
        }
        let sql = format!(
            "SELECT event_id, topic, partition, offset, store_key FROM ingest_claims \
             WHERE event_id IN (SELECT event_id FROM ingest_event_ids WHERE {})",
            cond.join(" OR ")
        );
        let mut q = self.client.query(&sql);
        for (i, m) in group.members().iter().enumerate() {
            q = q
                .param(&format!("t{i}"), &m.topic)
                .param(&format!("p{i}"), m.partition as u32)
                .param(&format!("f{i}"), m.first as u64)
                .param(&format!("l{i}"), m.last as u64);
        }
        let found: Vec<ClaimRow> = q.fetch_all().await?;
        let mut claims: HashMap<u128, Vec<ClaimRow>> = HashMap::new();
        for c in found {
            claims.entry(c.event_id.as_u128()).or_default().push(c);
        }
        let mut taken: HashSet<u128> = HashSet::new();
        let mut new = Vec::new();
        for (p, (member, part)) in group.members().iter().zip(parts).enumerate() {
            for a in &part.accepted {
                let id = a.id.as_u128();
                let own = |c: &ClaimRow| {
                    c.store_key == store_key
                        && c.topic == member.topic
                        && c.partition == member.partition as u32
                        && c.offset == a.offset as u64
                };
                let keep = match claims.get(&id) {
                    None => !taken.contains(&id),
                    Some(cs) => cs.iter().any(own),
                };
                if keep {
                    taken.insert(id);
                    new.push(NewClaim {
                        event_id: a.id,
                        topic: &member.topic,
                        partition: member.partition as u32,
                        offset: a.offset as u64,
                        occurred_at: a.at_ms,
                        store_key: &store_key,
                    });
                } else {
                    out[p][a.table as usize].insert(a.row as usize);
                }
            }
        }
        if !new.is_empty() {
            let mut insert = self
                .client
                .insert::<NewClaim>("ingest_claims")
                .await?
                .with_setting(
                    "insert_deduplication_token",
                    group.token(&self.group, "ingest_claims"),
                )
                // One block, one part: a crash leaves all of a group's
                // claims or none (the verdicts above rely on it).
                .with_setting("max_insert_block_size", "1000000000")
                .with_setting("min_insert_block_size_rows", "0")
                .with_setting("min_insert_block_size_bytes", "0");
            for c in &new {
                insert.write(c).await?;
            }
            insert.end().await?;
        }
        Ok(out)
    }

    /// One insert of the members' RowBinary buffers into a raw table.
    async fn encoded_parts<'a>(
        &self,
        group: &GroupId,
        columns: &Columns,
        n: usize,
        rows: impl Fn(usize) -> &'a Encoded,
    ) -> Result<()> {
        if (0..n).all(|p| rows(p).rows() == 0) {
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
        for p in 0..n {
            for chunk in rows(p).chunks() {
                insert.send(chunk).await?;
            }
        }
        insert.end().await?;
        Ok(())
    }

    /// One insert of the members' RowBinary buffers into a table.
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

    /// The group's dead letters, without those already recorded at the
    /// same topic/partition/offset (by an operator replay or another
    /// consumer group reading the same messages). A re-formed group finds
    /// its own rows only if their single insert landed, and then inserts
    /// nothing — the same outcome as its token.
    async fn dead_letters(&self, group: &GroupId, parts: &[&Rows]) -> Result<()> {
        const TABLE: &str = "dead_letters";
        if parts.iter().all(|p| p.dead_letters.is_empty()) {
            return Ok(());
        }
        #[derive(Row, Deserialize)]
        struct Pos {
            topic: String,
            partition: u32,
            offset: u64,
        }
        let mut cond = Vec::new();
        for (i, _) in group.members().iter().enumerate() {
            cond.push(format!(
                "(topic = {{t{i}:String}} AND partition = {{p{i}:UInt32}} AND offset BETWEEN {{f{i}:UInt64}} AND {{l{i}:UInt64}})"
            ));
        }
        let sql = format!(
            "SELECT topic, partition, offset FROM dead_letters WHERE {}",
            cond.join(" OR ")
        );
        let mut q = self.client.query(&sql);
        for (i, m) in group.members().iter().enumerate() {
            q = q
                .param(&format!("t{i}"), &m.topic)
                .param(&format!("p{i}"), m.partition as u32)
                .param(&format!("f{i}"), m.first as u64)
                .param(&format!("l{i}"), m.last as u64);
        }
        let recorded: HashSet<(String, u32, u64)> = q
            .fetch_all::<Pos>()
            .await?
            .into_iter()
            .map(|p| (p.topic, p.partition, p.offset))
            .collect();
        let rows: Vec<&DeadLetterRow> = parts
            .iter()
            .flat_map(|p| &p.dead_letters)
            .filter(|r| !recorded.contains(&(r.topic.clone(), r.partition, r.offset)))
            .collect();
        if rows.is_empty() {
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
