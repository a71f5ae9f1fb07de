//! Batches and store groups: which offsets are stored together, and the
//! deduplication tokens that make storing them again a no-op.

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
    pub(crate) fn key(&self) -> String {
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
    pub(crate) fn key(&self) -> String {
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
    pub(crate) fn token(&self, consumer_group: &str, table: &str) -> String {
        format!("{consumer_group}/{}/{table}", self.key())
    }

    /// A WHERE condition matching the group's messages by position
    /// (`topic`, `partition`, `offset` columns), with [`GroupId::bind`]
    /// supplying its parameters.
    pub(crate) fn positions(&self) -> String {
        let cond: Vec<String> = (0..self.0.len())
            .map(|i| {
                format!(
                    "(topic = {{t{i}:String}} AND partition = {{p{i}:UInt32}} AND offset BETWEEN {{f{i}:UInt64}} AND {{l{i}:UInt64}})"
                )
            })
            .collect();
        cond.join(" OR ")
    }

    /// Binds the parameters of [`GroupId::positions`].
    pub(crate) fn bind(&self, mut q: clickhouse::query::Query) -> clickhouse::query::Query {
        for (i, m) in self.0.iter().enumerate() {
            q = q
                .param(&format!("t{i}"), &m.topic)
                .param(&format!("p{i}"), m.partition as u32)
                .param(&format!("f{i}"), m.first as u64)
                .param(&format!("l{i}"), m.last as u64);
        }
        q
    }
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

    #[test]
    fn positions_match_each_member_range() {
        let g = GroupId::new(vec![id("t", 1, 5, 9), id("t", 0, 7, 7)]);
        assert_eq!(
            g.positions(),
            "(topic = {t0:String} AND partition = {p0:UInt32} AND offset BETWEEN {f0:UInt64} AND {l0:UInt64}) OR \
             (topic = {t1:String} AND partition = {p1:UInt32} AND offset BETWEEN {f1:UInt64} AND {l1:UInt64})"
        );
    }
}
