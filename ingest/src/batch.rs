//! Per-partition batches and the flush policy (docs/delivery.md, steps 1
//! and 5): a partition's open batch is due at `--batch-rows`,
//! `--batch-bytes` or `--batch-wait-ms`; batches due together form one
//! store group. A batch re-formed from a write-ahead record ends exactly at
//! its recorded offset instead. No I/O here: the poll loop (`crate::source`)
//! owns the batches and asks this module when to flush.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::encode::Rows;
use crate::sink::group::{BatchId, GroupId};
use crate::sink::write_ahead::PendingBatch;

/// A topic-partition.
pub(crate) type Tp = (String, i32);

/// The size and age at which a partition's batch is due.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub rows: usize,
    pub bytes: usize,
    pub wait: Duration,
}

impl Limits {
    pub(crate) fn of(config: &Config) -> Limits {
        Limits {
            rows: config.batch_max_rows,
            bytes: config.batch_max_bytes,
            wait: config.batch_max_wait,
        }
    }
}

/// One partition's open batch.
pub(crate) struct Batch {
    pub rows: Rows,
    pub first: i64,
    pub last: i64,
    /// Payload bytes of its messages.
    pub bytes: usize,
    pub opened: Instant,
    /// Set when a batch starting at `first` was written ahead before a crash
    /// or rebalance: this batch must end exactly there.
    pub must_end_at: Option<i64>,
    /// The store group that batch was written ahead in, when it had other
    /// members: the replay stores that group again, exactly.
    pub recorded: Option<GroupId>,
}

impl Batch {
    /// A batch starting at `first`; `pending` is the write-ahead record of
    /// a batch that started there before, which this one re-forms.
    pub(crate) fn open(first: i64, opened: Instant, pending: Option<PendingBatch>) -> Batch {
        let (must_end_at, recorded) = match pending {
            Some(p) => (Some(p.last), p.group),
            None => (None, None),
        };
        Batch {
            rows: Rows::default(),
            first,
            last: first,
            bytes: 0,
            opened,
            must_end_at,
            recorded,
        }
    }

    /// Takes the message at `offset` (its rows go into `rows` by the
    /// classifier).
    pub(crate) fn add(&mut self, offset: i64, payload_bytes: usize) {
        self.last = offset;
        self.bytes += payload_bytes;
    }

    /// Whether the message at `offset` lies past a re-formed batch's
    /// recorded end (its last message is gone: retention, compaction). The
    /// batch then closes at its recorded end — same offsets, same token —
    /// and is due before this message opens the next one.
    pub(crate) fn close_before(&mut self, offset: i64) -> bool {
        match self.must_end_at.filter(|end| offset > *end) {
            Some(end) => {
                self.last = end;
                true
            }
            None => false,
        }
    }

    /// Whether the batch must be stored now: a re-formed batch at its
    /// recorded end, any other at the row or byte limit.
    pub(crate) fn full(&self, limits: &Limits) -> bool {
        match self.must_end_at {
            Some(end) => self.last >= end,
            None => self.rows.messages() >= limits.rows || self.bytes >= limits.bytes,
        }
    }

    pub(crate) fn id(&self, (topic, partition): &Tp) -> BatchId {
        BatchId {
            topic: topic.clone(),
            partition: *partition,
            first: self.first,
            last: self.last,
        }
    }
}

/// Partition state between batches.
#[derive(Default)]
pub(crate) struct PartitionState {
    pub batch: Option<Batch>,
    /// Whether the chain of batches written ahead by earlier owners (from
    /// the resume point on) has ended: a batch start found no write-ahead
    /// record. Earlier owners' batches are contiguous from the committed
    /// offset and are re-formed exactly, so once one start has no record no
    /// later start can have one: later batches skip the lookup (one
    /// ClickHouse round trip on the poll task per batch, slow while
    /// ClickHouse is busy storing).
    pub chain_ended: bool,
}

/// The partitions whose batch is due at `now`: when any batch is old
/// enough (or `all`, at shutdown, or `full` names the partition whose batch
/// just filled), every other batch that is half as old or a quarter full
/// is taken along. That fills a store group with several partitions'
/// batches, stored concurrently, instead of a staggered run of
/// single-batch groups, and lines the partitions' batch timers up for the
/// next round. A re-formed batch is never taken along: it waits for its
/// exact end offset (then it is `full`).
pub(crate) fn due(
    partitions: &BTreeMap<Tp, PartitionState>,
    limits: &Limits,
    now: Instant,
    all: bool,
    full: Option<&Tp>,
) -> Vec<Tp> {
    let age = |b: &Batch| now.saturating_duration_since(b.opened);
    let open = || {
        partitions.iter().filter_map(|(tp, s)| {
            let b = s.batch.as_ref().filter(|b| b.must_end_at.is_none())?;
            Some((tp, b))
        })
    };
    let primary = all || full.is_some() || open().any(|(_, b)| age(b) >= limits.wait);
    if !primary {
        return Vec::new();
    }
    let mut due: Vec<Tp> = open()
        .filter(|(_, b)| {
            all || age(b) >= limits.wait / 2
                || b.rows.messages() >= limits.rows / 4
                || b.bytes >= limits.bytes / 4
        })
        .map(|(tp, _)| tp.clone())
        .collect();
    if let Some(tp) = full {
        if !due.contains(tp) {
            due.push(tp.clone());
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead_letter::DeadLetterRow;

    const LIMITS: Limits = Limits {
        rows: 100,
        bytes: 1000,
        wait: Duration::from_millis(500),
    };

    fn tp(p: i32) -> Tp {
        ("auth-events".into(), p)
    }

    /// A batch opened `age` before `now` holding `messages` messages of
    /// `bytes` payload bytes in all.
    fn batch(now: Instant, age: Duration, messages: usize, bytes: usize) -> Batch {
        let mut b = Batch::open(0, now - age, None);
        for i in 0..messages {
            b.rows.dead_letters.push(DeadLetterRow::new(
                ("auth-events", 0),
                i as i64,
                "malformed_json",
                String::new(),
                vec![],
                vec![],
            ));
            b.add(i as i64, 0);
        }
        b.bytes = bytes;
        b
    }

    fn state(b: Batch) -> PartitionState {
        PartitionState {
            batch: Some(b),
            chain_ended: true,
        }
    }

    #[test]
    fn a_batch_is_full_at_the_row_or_byte_limit() {
        let now = Instant::now();
        assert!(!batch(now, Duration::ZERO, 99, 999).full(&LIMITS));
        assert!(batch(now, Duration::ZERO, 100, 0).full(&LIMITS));
        assert!(batch(now, Duration::ZERO, 1, 1000).full(&LIMITS));
        // One message bigger than the byte limit fills a batch by itself.
        let mut b = Batch::open(7, now, None);
        b.add(7, 5000);
        assert!(b.full(&LIMITS));
        assert_eq!((b.first, b.last), (7, 7));
    }

    #[test]
    fn nothing_is_due_before_the_oldest_batch_is_old_enough() {
        let now = Instant::now();
        let parts: BTreeMap<Tp, PartitionState> = [
            (
                tp(0),
                state(batch(now, Duration::from_millis(499), 99, 999)),
            ),
            (tp(1), PartitionState::default()),
        ]
        .into();
        assert!(due(&parts, &LIMITS, now, false, None).is_empty());
        assert_eq!(
            due(&parts, &LIMITS, now + Duration::from_millis(1), false, None),
            vec![tp(0)]
        );
    }

    #[test]
    fn an_old_batch_takes_along_the_half_old_and_quarter_full() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let parts: BTreeMap<Tp, PartitionState> = [
            // Old enough: the trigger.
            (tp(0), state(batch(now, ms(600), 1, 10))),
            // Half as old.
            (tp(1), state(batch(now, ms(250), 1, 10))),
            // Young, but a quarter of the rows.
            (tp(2), state(batch(now, ms(10), 25, 10))),
            // Young, but a quarter of the bytes.
            (tp(3), state(batch(now, ms(10), 1, 250))),
            // Young and small: stays open.
            (tp(4), state(batch(now, ms(249), 24, 249))),
            // No open batch.
            (tp(5), PartitionState::default()),
        ]
        .into();
        assert_eq!(
            due(&parts, &LIMITS, now, false, None),
            vec![tp(0), tp(1), tp(2), tp(3)]
        );
        // At shutdown every open batch is due.
        assert_eq!(
            due(&parts, &LIMITS, now, true, None),
            vec![tp(0), tp(1), tp(2), tp(3), tp(4)]
        );
    }

    #[test]
    fn a_full_batch_is_due_with_those_worth_taking_along() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let parts: BTreeMap<Tp, PartitionState> = [
            (tp(0), state(batch(now, ms(10), 1, 1))),
            (tp(1), state(batch(now, ms(260), 1, 1))),
            (tp(3), state(batch(now, ms(10), 100, 1))),
        ]
        .into();
        // Partition 3 filled up (it is also a quarter full on its own).
        assert_eq!(
            due(&parts, &LIMITS, now, false, Some(&tp(3))),
            vec![tp(1), tp(3)]
        );
        // A full partition that would not be taken along is still due.
        assert_eq!(
            due(&parts, &LIMITS, now, false, Some(&tp(0))),
            vec![tp(1), tp(3), tp(0)]
        );
    }

    #[test]
    fn a_reformed_batch_ends_exactly_at_its_recorded_offset() {
        let now = Instant::now();
        let pending = PendingBatch {
            last: 104,
            group: None,
        };
        let mut b = Batch::open(100, now - Duration::from_secs(60), Some(pending));
        // Size and age do not close it ...
        for o in 100..104 {
            b.add(o, 10_000);
            assert!(!b.full(&LIMITS), "closed at {o}");
        }
        let parts: BTreeMap<Tp, PartitionState> = [(tp(0), state(b))].into();
        assert!(due(&parts, &LIMITS, now, false, None).is_empty());
        assert!(due(&parts, &LIMITS, now, true, None).is_empty());
        // ... its recorded end does.
        let mut b = parts.into_values().next().unwrap().batch.unwrap();
        b.add(104, 1);
        assert!(b.full(&LIMITS));
        assert_eq!(
            b.id(&tp(0)),
            BatchId {
                topic: "auth-events".into(),
                partition: 0,
                first: 100,
                last: 104
            }
        );
    }

    #[test]
    fn a_reformed_batch_whose_end_is_gone_closes_at_its_recorded_end() {
        let pending = PendingBatch {
            last: 104,
            group: None,
        };
        let mut b = Batch::open(100, Instant::now(), Some(pending));
        b.add(100, 1);
        assert!(!b.close_before(101));
        assert!(!b.close_before(104));
        // 101..=104 compacted away: the next message is 107.
        assert!(b.close_before(107));
        assert_eq!((b.first, b.last), (100, 104));
        // A fresh batch never closes this way.
        let mut fresh = Batch::open(0, Instant::now(), None);
        assert!(!fresh.close_before(i64::MAX));
    }

    #[test]
    fn a_batch_recorded_in_a_group_keeps_the_group() {
        let group = GroupId::parse("auth-events/0/100-104,auth-events/1/50-60").unwrap();
        let b = Batch::open(
            100,
            Instant::now(),
            Some(PendingBatch {
                last: 104,
                group: Some(group.clone()),
            }),
        );
        assert_eq!(b.recorded, Some(group));
        assert_eq!(b.must_end_at, Some(104));
    }
}
