//! Rebalances: librdkafka's callback records assignment changes for the
//! poll loop and, on a revocation, waits for the store in flight and
//! commits the stored batches of the revoked partitions (docs/delivery.md,
//! step 7).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::batch::Tp;

/// Assignment changes seen by librdkafka's rebalance callback, drained by
/// the loop after each poll.
#[derive(Default)]
pub(crate) struct Changes {
    pub assigned: Vec<Tp>,
    pub revoked: Vec<Tp>,
}

pub(crate) struct Context {
    pub changes: Arc<Mutex<Changes>>,
    pub inflight: Arc<InFlight>,
}

/// Whether a store runs in the background. A revocation waits for it, so a
/// partition is never handed to the next owner while its batch is still
/// being written (the next owner would not find the write-ahead record).
#[derive(Default)]
pub(crate) struct InFlight {
    busy: Mutex<bool>,
    idle: std::sync::Condvar,
    /// Offsets after batches stored but not yet committed by the loop: a
    /// revocation commits them itself, so the next owner starts after them
    /// (no replay, no second copy of their dead letters on the DLQ topic).
    pub stored: Mutex<Vec<(String, i32, i64)>>,
}

impl InFlight {
    pub(crate) fn set(&self, busy: bool) {
        *self.busy.lock().unwrap() = busy;
        if !busy {
            self.idle.notify_all();
        }
    }

    fn wait_idle(&self, limit: Duration) {
        let guard = self.busy.lock().unwrap();
        let _ = self.idle.wait_timeout_while(guard, limit, |busy| *busy);
    }
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.inflight.wait_idle(Duration::from_secs(60));
            let stored = std::mem::take(&mut *self.inflight.stored.lock().unwrap());
            let mut commit = TopicPartitionList::new();
            for (topic, partition, next) in stored {
                let revoked = tpl
                    .elements()
                    .iter()
                    .any(|e| e.topic() == topic && e.partition() == partition);
                if revoked {
                    let _ = commit.add_partition_offset(&topic, partition, Offset::Offset(next));
                }
            }
            if commit.count() > 0 {
                if let Err(e) = base.commit(&commit, CommitMode::Sync) {
                    tracing::warn!(error = %e, "commit on revocation failed; the next owner replays");
                }
            }
            let mut c = self.changes.lock().unwrap();
            c.revoked.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition())),
            );
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut c = self.changes.lock().unwrap();
            c.assigned.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition())),
            );
        }
    }
}
