//! The lag probe: per-partition committed offsets and high watermarks,
//! read by a task of its own (docs/delivery.md, "Lag").

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::batch::Tp;
use crate::config::Config;
use crate::error::Result;
use crate::metrics::Metrics;

/// Aborts a task when dropped (the lag task ends with the consumer).
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Measures lag apart from the poll loop: every 2 s it reads the broker's
/// high watermarks (ListOffsets) of the partitions this member owns — and
/// the group's committed offsets of those it has seen nothing from — with
/// a Kafka client of its own, so lag keeps moving while the poll loop waits
/// on a store. Lag = max(high watermark, last offset seen + 1) − committed
/// offset (docs/delivery.md, "Lag").
pub(crate) struct LagProbe {
    consumer: BaseConsumer<DefaultConsumerContext>,
    metrics: Arc<Metrics>,
    owned: Arc<Mutex<HashSet<Tp>>>,
}

impl LagProbe {
    pub(crate) fn start(
        config: &Config,
        metrics: Arc<Metrics>,
        owned: Arc<Mutex<HashSet<Tp>>>,
    ) -> Result<tokio::task::JoinHandle<()>> {
        // Same group id, never subscribed: it only reads offsets
        // (OffsetFetch and ListOffsets need no group membership).
        let consumer: BaseConsumer<DefaultConsumerContext> = config
            .kafka_client()
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .create()?;
        let probe = Arc::new(LagProbe {
            consumer,
            metrics,
            owned,
        });
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let p = probe.clone();
                // The requests block: run them off the async workers.
                let _ = tokio::task::spawn_blocking(move || p.probe()).await;
            }
        }))
    }

    fn probe(&self) {
        let owned: Vec<Tp> = self.owned.lock().unwrap().iter().cloned().collect();
        // A partition assigned when it was already caught up delivers
        // nothing, so its committed offset comes from the broker.
        let mut unknown = TopicPartitionList::new();
        for (topic, partition) in &owned {
            if !self.metrics.knows_committed(topic, *partition) {
                unknown.add_partition(topic, *partition);
            }
        }
        let mut committed = Vec::new();
        if unknown.count() > 0 {
            if let Ok(tpl) = self
                .consumer
                .committed_offsets(unknown, Duration::from_secs(2))
            {
                for e in tpl.elements() {
                    if let Offset::Offset(next) = e.offset() {
                        committed.push((e.topic().to_string(), e.partition(), next));
                    }
                }
            }
        }
        let mut highs = Vec::new();
        for (topic, partition) in owned {
            if let Ok((_, high)) =
                self.consumer
                    .fetch_watermarks(&topic, partition, Duration::from_secs(2))
            {
                highs.push((topic, partition, high));
            }
        }
        // Publish only for partitions still owned (checked under the lock
        // the rebalance handling forgets partitions under).
        let owned = self.owned.lock().unwrap();
        for (topic, partition, next) in committed {
            if owned.contains(&(topic.clone(), partition)) {
                self.metrics.committed_if_unknown(&topic, partition, next);
            }
        }
        for (topic, partition, high) in highs {
            if owned.contains(&(topic.clone(), partition)) {
                self.metrics.high_watermark(&topic, partition, high);
            }
        }
    }
}
