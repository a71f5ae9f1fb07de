//! Storing a group until ClickHouse takes it: members this consumer did
//! not read are read again first, then the group is stored, each step
//! retried with exponential backoff, forever (docs/delivery.md, step 8).

use std::time::Duration;

use super::group::{BatchId, GroupId};
use super::Sink;
use crate::batch::Batch;
use crate::encode::Rows;
use crate::metrics::Metrics;
use crate::replay::member::MemberReader;

/// Exponential backoff for retrying a store: 100 ms doubling up to 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(10))
}

/// A store group and the batches of it that came from this member's own
/// stream (all of them, unless it is a replay of a group written ahead with
/// partitions this member did not read).
pub(crate) struct Unit {
    pub group: GroupId,
    pub own: Vec<(BatchId, Batch)>,
}

impl Unit {
    /// The rows of `member` if it is one of this member's own batches (a
    /// group has one batch per partition).
    fn own_rows(&self, member: &BatchId) -> Option<&Rows> {
        self.own
            .iter()
            .find(|(id, _)| id.topic == member.topic && id.partition == member.partition)
            .map(|(_, b)| &b.rows)
    }
}

/// Stores a group, retrying with backoff until ClickHouse takes it. Members
/// not in `own` are read again from the topic first.
pub(crate) async fn store_unit(sink: &Sink, metrics: &Metrics, reader: &MemberReader, unit: &Unit) {
    let mut others: Vec<(&BatchId, Rows)> = Vec::new();
    for member in unit.group.members() {
        if unit.own_rows(member).is_some() {
            continue;
        }
        let mut attempt = 0;
        let rows = loop {
            match reader.rows(member).await {
                Ok(rows) => break rows,
                Err(e) => {
                    metrics.insert_failed();
                    tracing::warn!(error = %e, topic = %member.topic, partition = member.partition, first = member.first, last = member.last, attempt, "reading a group member again failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        };
        others.push((member, rows));
    }
    let parts: Vec<&Rows> = unit
        .group
        .members()
        .iter()
        .filter_map(|m| {
            unit.own_rows(m)
                .or_else(|| others.iter().find(|(id, _)| *id == m).map(|(_, r)| r))
        })
        .collect();
    let mut attempt = 0;
    let resends = loop {
        match sink.store(&unit.group, &parts, metrics).await {
            Ok(n) => break n,
            Err(e) => {
                metrics.insert_failed();
                let first = &unit.group.members()[0];
                tracing::warn!(error = %e, topic = %first.topic, partition = first.partition, first = first.first, members = unit.group.members().len(), attempt, "store failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
        }
    };
    for _ in 0..resends {
        metrics.duplicate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_to_a_10s_ceiling() {
        let ms: Vec<u128> = (0..10).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(
            ms,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert_eq!(backoff(u32::MAX), Duration::from_secs(10));
    }
}
