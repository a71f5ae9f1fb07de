//! The Kafka source and its poll loop: messages are classified into
//! per-partition batches (`crate::batch`, `crate::classify`); the batches
//! due together form a store group, stored in the background
//! (`crate::sink`), and only then are their offsets committed, in one
//! request. Rebalances ([`rebalance`]) drop uncommitted batches of revoked
//! partitions; an assigned partition resumes from its committed offset and
//! first re-forms any batch that was written ahead but never committed,
//! with the rest of its group read again from the topic
//! (`crate::replay::member`). Lag is measured beside it ([`lag`]).

mod lag;
mod rebalance;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use crate::batch::{self, Batch, Limits, PartitionState, Tp};
use crate::classify::Classifier;
use crate::config::Config;
use crate::dead_letter;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::replay::member::MemberReader;
use crate::replay::operator::{self, ReplayProgress};
use crate::sink::group::{BatchId, GroupId};
use crate::sink::retry::{backoff, store_unit, Unit};
use crate::sink::write_ahead::PendingBatch;
use crate::sink::Sink;
use lag::{AbortOnDrop, LagProbe};
use rebalance::{Changes, Context, InFlight};

pub(crate) struct Ingest {
    config: Config,
    consumer: Arc<StreamConsumer<Context>>,
    /// The partitions this member owns, as the lag task sees them.
    lag_owned: Arc<Mutex<HashSet<Tp>>>,
    /// Wall clock for the future-skew check, refreshed every tick (a clock
    /// read per message showed up in profiles).
    clock: chrono::DateTime<Utc>,
    changes: Arc<Mutex<Changes>>,
    producer: FutureProducer,
    sink: Sink,
    metrics: Arc<Metrics>,
    partitions: BTreeMap<Tp, PartitionState>,
    owned: HashSet<Tp>,
    /// The batches being stored in the background, at most one group at a
    /// time: polling and parsing go on meanwhile, commits stay in order.
    inflight: Option<tokio::task::JoinHandle<Vec<(BatchId, Batch)>>>,
    inflight_flag: Arc<InFlight>,
    /// Re-reads group members this member does not own (replays).
    replayer: Arc<MemberReader>,
    /// Operator replay (`--replay-from`): stop once caught up.
    replay: Option<ReplayProgress>,
}

/// Runs the consumer until `shutdown` resolves, then stores and commits
/// what it holds and returns.
pub async fn run(mut config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let mut replay = None;
    if let Some(from) = config.replay_from.clone() {
        config.group_id = from.group(&config.group_id);
        let c = config.clone();
        replay = Some(
            tokio::task::spawn_blocking(move || operator::seed(&c, &from))
                .await
                .map_err(|e| Error::Task(e.to_string()))??,
        );
    }
    let metrics = Arc::new(Metrics::default());
    if let Some(addr) = config.metrics_addr {
        let m = metrics.clone();
        let listener_check = tokio::net::TcpListener::bind(addr).await?;
        drop(listener_check);
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, m).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
    }
    let mut ingest = Ingest::new(config, metrics)?;
    ingest.replay = replay;
    ingest.run(shutdown).await
}

impl Ingest {
    fn new(config: Config, metrics: Arc<Metrics>) -> Result<Ingest> {
        let changes = Arc::new(Mutex::new(Changes::default()));
        let inflight_flag = Arc::new(InFlight::default());
        let mut client = config.kafka_client();
        config.group_protocol.configure(&mut client);
        let consumer: StreamConsumer<Context> = client
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // A store that retries while ClickHouse is down holds back new
            // stores (and so polling, once batches are full): allow that
            // long before the group evicts this member.
            .set("max.poll.interval.ms", "600000")
            // Bounded read-ahead, per partition: with the open batches and
            // the group being stored, what "paused" costs in memory. The
            // poll loop empties it in milliseconds (fetch.queue.backoff.ms
            // below), so more only adds RSS: a 1 M-event drain of 4
            // partitions peaked at 187-196 MiB with 12 MiB and 167-181 MiB
            // with 4 MiB, at the same events/s within run-to-run noise
            // (docs/benchmarks-analysis.md, round 13).
            .set("queued.max.messages.kbytes", "4096")
            .set("fetch.max.bytes", "52428800")
            // When the read-ahead is full librdkafka postpones the
            // partition's next fetch by this much (default 1 s). The poll
            // task empties a full read-ahead in a fraction of that, and then
            // sat idle: a 1 M-event drain took 13.9 s with the default and
            // 8.6 s with 10 ms.
            .set("fetch.queue.backoff.ms", "10")
            .create_with_context(Context {
                changes: changes.clone(),
                inflight: inflight_flag.clone(),
            })?;
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        let producer = dead_letter::topic::producer(&config)?;
        let sink = Sink::new(
            config.clickhouse_client()?,
            &config.database,
            &config.group_id,
        );
        Ok(Ingest {
            consumer: Arc::new(consumer),
            lag_owned: Arc::default(),
            clock: Utc::now(),
            changes,
            producer,
            sink,
            metrics,
            partitions: BTreeMap::new(),
            owned: HashSet::new(),
            inflight: None,
            inflight_flag,
            replayer: Arc::new(MemberReader {
                config: config.clone(),
            }),
            replay: None,
            config,
        })
    }

    async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        // Lag is measured by a task of its own with its own Kafka handle:
        // while a store retries (ClickHouse down) this loop waits in it, and
        // lag measured here froze exactly when it mattered.
        let lag = LagProbe::start(&self.config, self.metrics.clone(), self.lag_owned.clone())?;
        let _stop_lag = AbortOnDrop(lag);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                msg = self.consumer.recv() => {
                    let msg = msg.map(|m| (
                        (m.topic().to_string(), m.partition()),
                        m.offset(),
                        m.payload().unwrap_or_default().to_vec(),
                        m.key().unwrap_or_default().to_vec(),
                    ));
                    self.apply_rebalance();
                    match msg {
                        Ok((tp, offset, payload, key)) => self.accept(tp, offset, payload, key).await?,
                        Err(e) => {
                            tracing::warn!(error = %e, "kafka poll error");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                work = wait_inflight(&mut self.inflight), if self.inflight.is_some() => {
                    self.inflight = None;
                    self.apply_rebalance();
                    self.finish(work?)?;
                    self.flush_due(false).await?;
                }
                _ = tick.tick() => {
                    if self.replay.as_ref().is_some_and(ReplayProgress::caught_up) {
                        tracing::info!("replay caught up with the end the topics had at start");
                        break;
                    }
                    self.clock = Utc::now();
                    self.apply_rebalance();
                    if self.inflight.is_none() {
                        self.flush_due(false).await?;
                    }
                }
            }
        }
        tracing::info!("shutting down: storing open batches");
        self.apply_rebalance();
        let grace = self.config.shutdown_grace;
        let drain = async {
            self.flush_due(true).await?;
            self.finish_inflight().await
        };
        match tokio::time::timeout(grace, drain).await {
            Ok(r) => r,
            Err(_) => Err(Error::Interrupted),
        }
    }

    /// Drops revoked partitions' open batches (never committed: the next
    /// owner replays them) and registers new assignments.
    fn apply_rebalance(&mut self) {
        let Changes { assigned, revoked } = std::mem::take(&mut *self.changes.lock().unwrap());
        if assigned.is_empty() && revoked.is_empty() {
            return;
        }
        // Held while partitions are forgotten, so the lag task cannot
        // publish a revoked partition's watermark after it was dropped.
        let lag_owned = self.lag_owned.clone();
        let mut lag_owned = lag_owned.lock().unwrap();
        for tp in &revoked {
            lag_owned.remove(tp);
        }
        lag_owned.extend(assigned.iter().cloned());
        for tp in revoked {
            if let Some(state) = self.partitions.remove(&tp) {
                if let Some(b) = state.batch {
                    tracing::info!(topic = %tp.0, partition = tp.1, first = b.first, last = b.last, "partition revoked: dropping uncommitted batch");
                }
            }
            self.metrics.forget_partition(&tp.0, tp.1);
            self.owned.remove(&tp);
        }
        for tp in assigned {
            tracing::info!(topic = %tp.0, partition = tp.1, "partition assigned");
            self.owned.insert(tp.clone());
            self.partitions.insert(tp, PartitionState::default());
        }
    }

    async fn accept(&mut self, tp: Tp, offset: i64, payload: Vec<u8>, key: Vec<u8>) -> Result<()> {
        if !self.owned.contains(&tp) {
            // A message fetched before its partition was revoked.
            return Ok(());
        }
        // A re-formed batch whose last message is gone (retention, compaction)
        // closes at its recorded end: same offsets, same token.
        let past_end = self
            .partitions
            .get_mut(&tp)
            .and_then(|s| s.batch.as_mut())
            .is_some_and(|b| b.close_before(offset));
        if past_end {
            self.flush_partition(&tp).await?;
        }
        let needs_start = self.partitions.get(&tp).is_none_or(|s| s.batch.is_none());
        if needs_start {
            let chain_ended = self.partitions.get(&tp).is_some_and(|s| s.chain_ended);
            let pending = if chain_ended {
                None
            } else {
                self.pending(&tp, offset).await?
            };
            let state = self.partitions.entry(tp.clone()).or_default();
            state.chain_ended = pending.is_none();
            state.batch = Some(Batch::open(offset, Instant::now(), pending));
        }
        let classifier = Classifier::at(&self.config, self.clock);
        let metrics = self.metrics.clone();
        let state = self
            .partitions
            .get_mut(&tp)
            .expect("partition state exists");
        let batch = state.batch.as_mut().expect("batch opened above");
        batch.add(offset, payload.len());
        metrics.seen(&tp.0, tp.1, offset);
        classifier.classify(
            &mut batch.rows,
            ((&tp.0, tp.1), offset),
            payload,
            key,
            Some(&metrics),
        );
        if batch.full(&Limits::of(&self.config)) {
            self.flush_partition(&tp).await?;
        }
        Ok(())
    }

    /// Looks up a batch written ahead at `first` but never committed.
    async fn pending(&self, tp: &Tp, first: i64) -> Result<Option<PendingBatch>> {
        let mut attempt = 0;
        loop {
            match self.sink.pending_batch(&tp.0, tp.1, first).await {
                Ok(pending) => {
                    if let Some(p) = &pending {
                        let members = p.group.as_ref().map_or(1, |g| g.members().len());
                        tracing::info!(topic = %tp.0, partition = tp.1, first, end = p.last, members, "re-forming a batch written ahead before a restart");
                    }
                    return Ok(pending);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "clickhouse unavailable (batch lookup); retrying");
                    self.metrics.insert_failed();
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The partitions whose batch is due now (`crate::batch::due`).
    fn due(&self, all: bool, full: Option<&Tp>) -> Vec<Tp> {
        let limits = Limits::of(&self.config);
        batch::due(&self.partitions, &limits, Instant::now(), all, full)
    }

    /// Flushes batches that are old enough (or all, at shutdown).
    async fn flush_due(&mut self, all: bool) -> Result<()> {
        let due = self.due(all, None);
        self.flush(due).await
    }

    /// Flushes one partition's batch (full, or at its recorded end), with
    /// the others that are due or worth taking along.
    async fn flush_partition(&mut self, tp: &Tp) -> Result<()> {
        let due = self.due(false, Some(tp));
        self.flush(due).await
    }

    /// Starts storing the batches of `tps` in the background (each group
    /// retried until ClickHouse takes it, then its dead letters sent).
    /// Fresh batches make one store group; a re-formed batch is stored in
    /// the group it was written ahead in. Waits for the previous groups
    /// first: one flush in flight bounds memory and keeps commits in offset
    /// order.
    async fn flush(&mut self, tps: Vec<Tp>) -> Result<()> {
        let mut units: Vec<Unit> = Vec::new();
        let mut fresh: Vec<(BatchId, Batch)> = Vec::new();
        for tp in tps {
            if let Some(batch) = self.partitions.get_mut(&tp).and_then(|s| s.batch.take()) {
                let id = batch.id(&tp);
                if batch.must_end_at.is_some() {
                    let group = batch
                        .recorded
                        .clone()
                        .unwrap_or_else(|| GroupId::new(vec![id.clone()]));
                    units.push(Unit {
                        group,
                        own: vec![(id, batch)],
                    });
                } else {
                    fresh.push((id, batch));
                }
            }
        }
        if !fresh.is_empty() {
            let group = GroupId::new(fresh.iter().map(|(id, _)| id.clone()).collect());
            units.push(Unit { group, own: fresh });
        }
        if units.is_empty() {
            return Ok(());
        }
        self.finish_inflight().await?;
        let (sink, metrics, producer) = (
            self.sink.clone(),
            self.metrics.clone(),
            self.producer.clone(),
        );
        let replay = self.replayer.clone();
        let (dlq_topic, flag) = (self.config.dlq_topic.clone(), self.inflight_flag.clone());
        flag.set(true);
        self.inflight = Some(tokio::spawn(async move {
            futures::future::join_all(
                units
                    .iter()
                    .map(|u| store_unit(&sink, &metrics, &replay, u)),
            )
            .await;
            let own: Vec<(BatchId, Batch)> = units.into_iter().flat_map(|u| u.own).collect();
            // All dead letters of the flush at once: awaiting each delivery
            // in turn cost a broker round trip per poison message (0.5 % of
            // a 140 k-row group took seconds and held back the commit).
            // Only this member's own batches: a group's other members, read
            // again for a replay, send theirs when their owner commits them.
            dead_letter::topic::send(
                &producer,
                &dlq_topic,
                own.iter().flat_map(|(_, b)| &b.rows.dead_letters),
            )
            .await;
            flag.stored.lock().unwrap().extend(
                own.iter()
                    .map(|(id, _)| (id.topic.clone(), id.partition, id.last + 1)),
            );
            flag.set(false);
            own
        }));
        Ok(())
    }

    /// Waits for the batches in flight, then commits them.
    async fn finish_inflight(&mut self) -> Result<()> {
        if self.inflight.is_some() {
            let work = wait_inflight(&mut self.inflight).await;
            self.inflight = None;
            self.apply_rebalance();
            self.finish(work?)?;
        }
        Ok(())
    }

    /// Records stored batches and commits the offsets after them in one
    /// request — only for partitions this member still owns: a revoked
    /// partition's next owner finds the write-ahead record instead.
    fn finish(&mut self, work: Vec<(BatchId, Batch)>) -> Result<()> {
        self.inflight_flag.stored.lock().unwrap().clear();
        let mut tpl = TopicPartitionList::new();
        for (id, batch) in &work {
            // (Rows inserted are counted by the store, without re-sends.)
            let rows = &batch.rows;
            self.metrics.batch(rows.messages());
            if self.owned.contains(&(id.topic.clone(), id.partition)) {
                tpl.add_partition_offset(&id.topic, id.partition, Offset::Offset(id.last + 1))?;
                self.metrics.committed(&id.topic, id.partition, id.last + 1);
                if let Some(r) = self.replay.as_mut() {
                    r.committed((id.topic.clone(), id.partition), id.last + 1);
                }
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                // Stored but not committed: a replay re-forms these batches
                // from their write-ahead records and ClickHouse drops them.
                tracing::warn!(error = %e, "offset commit failed");
            }
        }
        Ok(())
    }
}

/// The result of the store in flight.
async fn wait_inflight(
    h: &mut Option<tokio::task::JoinHandle<Vec<(BatchId, Batch)>>>,
) -> Result<Vec<(BatchId, Batch)>> {
    match h.as_mut() {
        Some(h) => h.await.map_err(|e| Error::Task(e.to_string())),
        None => Ok(Vec::new()),
    }
}
