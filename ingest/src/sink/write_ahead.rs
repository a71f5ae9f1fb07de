//! The write-ahead record (`ingest_batches`): written before any row of a
//! store group, read when a partition resumes, so a group stored but not
//! committed is re-formed exactly (docs/delivery.md, steps 2 and 5).

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::group::GroupId;
use crate::error::Result;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingBatch {
    /// Its last offset: a replay must end there.
    pub last: i64,
    /// The group it was stored in, when it was stored with other
    /// partitions' batches (None: alone).
    pub group: Option<GroupId>,
}

/// One record per member batch, in one insert (one part). `members` lists
/// the group's batches, empty for a group of one.
pub(crate) async fn write(client: &Client, consumer_group: &str, group: &GroupId) -> Result<()> {
    let members = if group.members().len() > 1 {
        group.key()
    } else {
        String::new()
    };
    let mut record = client.insert::<BatchRecord>("ingest_batches").await?;
    for id in group.members() {
        record
            .write(&BatchRecord {
                consumer_group,
                topic: &id.topic,
                partition: id.partition as u32,
                first_offset: id.first as u64,
                last_offset: id.last as u64,
                members: &members,
            })
            .await?;
    }
    record.end().await?;
    Ok(())
}

/// The batch written ahead at `first` on this partition, if any.
pub(crate) async fn find(
    client: &Client,
    consumer_group: &str,
    (topic, partition): (&str, i32),
    first: i64,
) -> Result<Option<PendingBatch>> {
    let row: Option<Pending> = client
        .query(include_str!("find_batch.sql"))
        .param("group", consumer_group)
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
