//! The claims in ClickHouse: read the claims on a group's events (found
//! through the ids and event times just written to `ingest_event_ids`),
//! judge, and insert the claims of the events stored.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::{judge, Claim};
use crate::encode::Rows;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::sink::group::GroupId;

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

/// Per part and raw table, the row numbers of the events that are
/// re-sends, after claiming the others in `ingest_claims_by_time`. `store_key`
/// names this store (consumer group and group members); `claims_token` is
/// the claims insert's deduplication token. The verdicts of a re-formed
/// group are those of its first store: its claims land before any of its
/// rows, in one block, and claims only ever grow.
pub(crate) async fn resends(
    client: &Client,
    group: &GroupId,
    store_key: &str,
    claims_token: String,
    parts: &[&Rows],
    metrics: &Metrics,
) -> Result<Vec<[HashSet<usize>; 5]>> {
    if parts.iter().all(|p| p.accepted.is_empty()) {
        return Ok(parts.iter().map(|_| Default::default()).collect());
    }
    // Claims on the group's (event time, id) pairs, found through the ids
    // just written by position (ordered by topic, partition, offset: a
    // range read). The claims are sorted by the same pair, so the lookup
    // reads the granules of the group's event times only. GLOBAL: on a
    // cluster both tables are Distributed and the pairs go to every shard.
    let sql = format!(
        "SELECT event_id, topic, partition, offset, store_key FROM ingest_claims_by_time \
         WHERE (occurred_at, event_id) GLOBAL IN \
         (SELECT occurred_at, event_id FROM ingest_event_ids WHERE {})",
        group.positions()
    );
    let started = Instant::now();
    let mut found = group
        .bind(client.query(&sql))
        // The summary header then counts the whole query: the rows read
        // are what an operator watches this lookup's cost by.
        .with_setting("wait_end_of_query", "1")
        .fetch::<ClaimRow>()?;
    let mut claims: HashMap<u128, Vec<Claim>> = HashMap::new();
    while let Some(c) = found.next().await? {
        claims.entry(c.event_id.as_u128()).or_default().push(Claim {
            topic: c.topic,
            partition: c.partition,
            offset: c.offset,
            store_key: c.store_key,
        });
    }
    metrics.claims_lookup(
        found.summary().and_then(|s| s.read_rows()),
        started.elapsed(),
    );
    let verdicts = judge(store_key, group.members(), parts, &claims);
    if !verdicts.keep.is_empty() {
        let mut insert = client
            .insert::<NewClaim>("ingest_claims_by_time")
            .await?
            .with_setting("insert_deduplication_token", claims_token)
            // One block, one part: a crash leaves all of a group's
            // claims or none (the verdicts rely on it).
            .with_setting("max_insert_block_size", "1000000000")
            .with_setting("min_insert_block_size_rows", "0")
            .with_setting("min_insert_block_size_bytes", "0");
        for k in &verdicts.keep {
            insert
                .write(&NewClaim {
                    event_id: k.event.id,
                    topic: &k.member.topic,
                    partition: k.member.partition as u32,
                    offset: k.event.offset as u64,
                    occurred_at: k.event.at_ms,
                    store_key,
                })
                .await?;
        }
        insert.end().await?;
    }
    Ok(verdicts.drop)
}
