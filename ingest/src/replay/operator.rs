//! The operator replay (`--replay-from`): its starting offsets, committed
//! for its own consumer group before it joins, and its progress towards
//! the end the topics had when it started.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::batch::Tp;
use crate::config::{Config, ReplayFrom};
use crate::error::{Error, Result};

/// An operator replay's progress: where each partition stands (committed)
/// and where it ends (the high watermark when the replay started).
#[derive(Debug, Default)]
pub(crate) struct ReplayProgress {
    at: BTreeMap<Tp, i64>,
    end: BTreeMap<Tp, i64>,
}

impl ReplayProgress {
    /// Whether every partition has been committed up to its end.
    pub(crate) fn caught_up(&self) -> bool {
        self.end
            .iter()
            .all(|(tp, end)| self.at.get(tp).is_some_and(|at| at >= end))
    }

    /// A partition committed up to `next`.
    pub(crate) fn committed(&mut self, tp: Tp, next: i64) {
        self.at.insert(tp, next);
    }
}

/// Where a replay starts in a partition holding `[low, high)`: the offset
/// asked for, or the first at or after the time asked for (`found`, from
/// ListOffsets by time), clamped to what the partition still holds; the
/// end when no message is at or after the time.
fn start_offset(from: &ReplayFrom, low: i64, high: i64, found: Option<Offset>) -> i64 {
    match (from, found) {
        (ReplayFrom::Offset(n), _) => (*n).clamp(low, high),
        (ReplayFrom::Time(_), Some(Offset::Offset(o))) => o.clamp(low, high),
        (ReplayFrom::Time(_), _) => high,
    }
}

/// Sets the replay group's starting offsets in every partition of the
/// topics (only when the group has none yet: a replay started again with
/// the same start resumes), and reads where the replay ends.
pub(crate) fn seed(config: &Config, from: &ReplayFrom) -> Result<ReplayProgress> {
    let consumer: BaseConsumer<DefaultConsumerContext> = config
        .kafka_client()
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(30);
    let mut all = TopicPartitionList::new();
    for topic in &config.topics {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        let partitions = md
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if partitions == 0 {
            return Err(Error::Replay(format!("topic {topic} has no partitions")));
        }
        for p in 0..partitions as i32 {
            all.add_partition(topic, p);
        }
    }
    let committed = consumer.committed_offsets(all.clone(), timeout)?;
    let mut at = BTreeMap::new();
    for e in committed.elements() {
        if let Offset::Offset(o) = e.offset() {
            at.insert((e.topic().to_string(), e.partition()), o);
        }
    }
    let by_time = match from {
        ReplayFrom::Time(t) => {
            let mut q = TopicPartitionList::new();
            for e in all.elements() {
                q.add_partition_offset(
                    e.topic(),
                    e.partition(),
                    Offset::Offset(t.timestamp_millis()),
                )?;
            }
            Some(consumer.offsets_for_times(q, timeout)?)
        }
        ReplayFrom::Offset(_) => None,
    };
    let mut end = BTreeMap::new();
    let mut start = TopicPartitionList::new();
    for e in all.elements() {
        let tp = (e.topic().to_string(), e.partition());
        let (low, high) = consumer.fetch_watermarks(&tp.0, tp.1, timeout)?;
        end.insert(tp.clone(), high);
        let found = by_time
            .as_ref()
            .and_then(|f| f.find_partition(&tp.0, tp.1))
            .map(|f| f.offset());
        let first = start_offset(from, low, high, found);
        start.add_partition_offset(&tp.0, tp.1, Offset::Offset(first))?;
        if at.is_empty() {
            tracing::info!(topic = %tp.0, partition = tp.1, first, end = high, group = %config.group_id, "replay starts");
        }
    }
    if at.is_empty() {
        consumer.commit(&start, CommitMode::Sync)?;
        for e in start.elements() {
            if let Offset::Offset(o) = e.offset() {
                at.insert((e.topic().to_string(), e.partition()), o);
            }
        }
    } else {
        tracing::info!(group = %config.group_id, "replay resumes at its committed offsets");
    }
    Ok(ReplayProgress { at, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> Tp {
        ("auth-events".into(), p)
    }

    #[test]
    fn an_offset_start_is_clamped_to_what_the_partition_holds() {
        let from = |n| ReplayFrom::Offset(n);
        assert_eq!(start_offset(&from(0), 40, 90, None), 40);
        assert_eq!(start_offset(&from(50), 40, 90, None), 50);
        assert_eq!(start_offset(&from(90), 40, 90, None), 90);
        assert_eq!(start_offset(&from(i64::MAX), 40, 90, None), 90);
        // An empty partition.
        assert_eq!(start_offset(&from(3), 0, 0, None), 0);
    }

    #[test]
    fn a_time_start_is_the_first_message_at_or_after_it() {
        let t = ReplayFrom::Time("2026-03-08T00:00:00Z".parse().unwrap());
        assert_eq!(start_offset(&t, 40, 90, Some(Offset::Offset(55))), 55);
        // Found below what is left (retention raced the lookup): clamped.
        assert_eq!(start_offset(&t, 40, 90, Some(Offset::Offset(12))), 40);
        // No message at or after the time: nothing to replay.
        assert_eq!(start_offset(&t, 40, 90, Some(Offset::End)), 90);
        assert_eq!(start_offset(&t, 40, 90, None), 90);
    }

    #[test]
    fn caught_up_once_every_partition_reached_its_end() {
        let mut p = ReplayProgress {
            at: [(tp(0), 0), (tp(1), 5)].into(),
            end: [(tp(0), 10), (tp(1), 5), (tp(2), 0)].into(),
        };
        // Partition 2 is empty, but has no committed offset yet.
        assert!(!p.caught_up());
        p.committed(tp(2), 0);
        assert!(!p.caught_up());
        p.committed(tp(0), 9);
        assert!(!p.caught_up());
        p.committed(tp(0), 10);
        assert!(p.caught_up());
        // Other partitions committed past the end (the replay stores
        // what was produced since): still caught up.
        p.committed(tp(1), 7);
        assert!(p.caught_up());
    }
}
