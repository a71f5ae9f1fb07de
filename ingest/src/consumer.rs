//! The poll loop: messages are parsed into per-partition batches; the
//! batches due together form a store group, stored in ClickHouse with one
//! insert per table (see `sink`), and only then are their offsets committed.
//! Rebalances drop uncommitted batches of revoked partitions; an assigned
//! partition resumes from its committed offset and first re-forms any batch
//! that was written ahead but never committed, with the rest of its group
//! read again from the topic.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authpulse_schemas::parse;
use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, DefaultConsumerContext, Rebalance,
    StreamConsumer,
};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::rows::{DeadLetterRow, Rows};
use crate::sink::{backoff, BatchId, GroupId, PendingBatch, Sink};

type Tp = (String, i32);

/// Assignment changes seen by librdkafka's rebalance callback, drained by
/// the loop after each poll.
#[derive(Default)]
struct Changes {
    assigned: Vec<Tp>,
    revoked: Vec<Tp>,
}

struct Context {
    changes: Arc<Mutex<Changes>>,
    inflight: Arc<InFlight>,
}

/// Whether a store runs in the background. A revocation waits for it, so a
/// partition is never handed to the next owner while its batch is still
/// being written (the next owner would not find the write-ahead record).
#[derive(Default)]
struct InFlight {
    busy: Mutex<bool>,
    idle: std::sync::Condvar,
    /// Offsets after batches stored but not yet committed by the loop: a
    /// revocation commits them itself, so the next owner starts after them
    /// (no replay, no second copy of their dead letters on the DLQ topic).
    stored: Mutex<Vec<(String, i32, i64)>>,
}

impl InFlight {
    fn set(&self, busy: bool) {
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

/// One partition's open batch.
struct Batch {
    rows: Rows,
    first: i64,
    last: i64,
    bytes: usize,
    opened: Instant,
    /// Set when a batch starting at `first` was written ahead before a crash
    /// or rebalance: this batch must end exactly there.
    must_end_at: Option<i64>,
    /// The store group that batch was written ahead in, when it had other
    /// members: the replay stores that group again, exactly.
    recorded: Option<GroupId>,
}

/// Partition state between batches.
#[derive(Default)]
struct PartitionState {
    batch: Option<Batch>,
    /// Whether the chain of batches written ahead by earlier owners (from
    /// the resume point on) has ended: a batch start found no write-ahead
    /// record. Earlier owners' batches are contiguous from the committed
    /// offset and are re-formed exactly, so once one start has no record no
    /// later start can have one: later batches skip the lookup (one
    /// ClickHouse round trip on the poll task per batch, slow while
    /// ClickHouse is busy storing).
    chain_ended: bool,
}

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
    replayer: Arc<Replay>,
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
            tokio::task::spawn_blocking(move || seed_replay(&c, &from))
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

/// An operator replay's progress: where each partition stands (committed)
/// and where it ends (the high watermark when the replay started).
struct ReplayProgress {
    at: BTreeMap<Tp, i64>,
    end: BTreeMap<Tp, i64>,
}

impl ReplayProgress {
    fn caught_up(&self) -> bool {
        self.end
            .iter()
            .all(|(tp, end)| self.at.get(tp).is_some_and(|at| at >= end))
    }
}

/// Sets the replay group's starting offsets in every partition of the
/// topics (only when the group has none yet: a replay started again with
/// the same start resumes), and reads where the replay ends.
fn seed_replay(config: &Config, from: &crate::ReplayFrom) -> Result<ReplayProgress> {
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
        crate::ReplayFrom::Time(t) => {
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
        crate::ReplayFrom::Offset(_) => None,
    };
    let mut end = BTreeMap::new();
    let mut start = TopicPartitionList::new();
    for e in all.elements() {
        let tp = (e.topic().to_string(), e.partition());
        let (low, high) = consumer.fetch_watermarks(&tp.0, tp.1, timeout)?;
        end.insert(tp.clone(), high);
        let first = match (from, &by_time) {
            (crate::ReplayFrom::Offset(n), _) => (*n).clamp(low, high),
            (_, Some(found)) => match found.find_partition(&tp.0, tp.1).map(|f| f.offset()) {
                Some(Offset::Offset(o)) => o.clamp(low, high),
                // No message at or after the time.
                _ => high,
            },
            _ => high,
        };
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
            // the group being stored, what "paused" costs in memory.
            // Measured (docs/benchmarks-analysis.md, 1 M-event drain, 4
            // partitions, store groups, RowBinary-encoded batches): with
            // 12 MiB read-ahead, batch bytes 8 / 16 / 24 / 32 MiB gave
            // 114k / 155k / 147k / 160k ev/s at 98 / 122 / 150 / 172 MiB
            // RSS. 12 / 16 MiB keeps well inside the 200 MB budget.
            .set("queued.max.messages.kbytes", "12288")
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
        let producer: FutureProducer = config
            .kafka_producer()
            // No second DLQ copy from a retry across a leader change.
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "30000")
            .create()?;
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
            replayer: Arc::new(Replay {
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
            .and_then(|b| {
                let end = b.must_end_at.filter(|end| offset > *end)?;
                b.last = end;
                Some(())
            });
        if past_end.is_some() {
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
            let (must_end_at, recorded) = match pending {
                Some(p) => (Some(p.last), p.group),
                None => (None, None),
            };
            state.batch = Some(Batch {
                rows: Rows::default(),
                first: offset,
                last: offset,
                bytes: 0,
                opened: Instant::now(),
                must_end_at,
                recorded,
            });
        }
        let classifier = Classifier::at(&self.config, self.clock);
        let metrics = self.metrics.clone();
        let state = self
            .partitions
            .get_mut(&tp)
            .expect("partition state exists");
        let batch = state.batch.as_mut().expect("batch opened above");
        batch.last = offset;
        batch.bytes += payload.len();
        metrics.seen(&tp.0, tp.1, offset);
        classifier.classify(&mut batch.rows, (&tp, offset), payload, key, Some(&metrics));
        let full = batch.must_end_at.map_or_else(
            || {
                batch.rows.messages() >= self.config.batch_max_rows
                    || batch.bytes >= self.config.batch_max_bytes
            },
            |end| offset >= end,
        );
        if full {
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

    /// Partitions whose batch is old enough (or every open one, at shutdown),
    /// plus `full`; and when any is, every other batch that is half as old
    /// or a quarter full. Taking those along fills a store group with
    /// several partitions' batches, stored concurrently, instead of a
    /// staggered run of single-batch groups, and lines the partitions'
    /// batch timers up for the next round.
    fn due(&self, all: bool, full: Option<&Tp>) -> Vec<Tp> {
        let wait = self.config.batch_max_wait;
        let (rows, bytes) = (self.config.batch_max_rows, self.config.batch_max_bytes);
        let open = || {
            self.partitions.iter().filter_map(|(tp, s)| {
                // A re-formed batch waits for its exact end offset.
                let b = s.batch.as_ref().filter(|b| b.must_end_at.is_none())?;
                Some((tp, b))
            })
        };
        let primary = all || full.is_some() || open().any(|(_, b)| b.opened.elapsed() >= wait);
        if !primary {
            return Vec::new();
        }
        let mut due: Vec<Tp> = open()
            .filter(|(_, b)| {
                all || b.opened.elapsed() >= wait / 2
                    || b.rows.messages() >= rows / 4
                    || b.bytes >= bytes / 4
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
                let id = BatchId {
                    topic: tp.0,
                    partition: tp.1,
                    first: batch.first,
                    last: batch.last,
                };
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
            send_dead_letters(
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
                    r.at.insert((id.topic.clone(), id.partition), id.last + 1);
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

/// Aborts a task when dropped (the lag task ends with the consumer).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

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
struct LagProbe {
    consumer: BaseConsumer<DefaultConsumerContext>,
    metrics: Arc<Metrics>,
    owned: Arc<Mutex<HashSet<Tp>>>,
}

impl LagProbe {
    fn start(
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

/// Sends a group's dead letters to the DLQ topic: all are enqueued first
/// (in order), then their deliveries awaited together. Awaiting each
/// delivery in turn cost a broker round trip per poison message: 0.5 %
/// poison in a 140 k-row group took seconds and held back the commit.
async fn send_dead_letters<'a>(
    producer: &FutureProducer,
    topic: &str,
    rows: impl Iterator<Item = &'a DeadLetterRow>,
) {
    let mut deliveries = Vec::new();
    for row in rows {
        let partition = row.partition.to_string();
        let offset = row.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "authpulse.reason",
                value: Some(row.reason),
            })
            .insert(Header {
                key: "authpulse.detail",
                value: Some(row.detail.as_str()),
            })
            .insert(Header {
                key: "authpulse.source.topic",
                value: Some(row.topic.as_str()),
            })
            .insert(Header {
                key: "authpulse.source.partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "authpulse.source.offset",
                value: Some(offset.as_str()),
            });
        let record = FutureRecord::to(topic)
            .payload(&row.payload)
            .key(&row.key)
            .headers(headers);
        match producer.send_result(record) {
            Ok(delivery) => deliveries.push(delivery),
            // Queue full: wait for room for this one (keeps the order).
            Err((_, record)) => {
                if let Err((e, _)) = producer.send(record, Duration::from_secs(30)).await {
                    // The dead_letters table already holds it; the topic is a copy.
                    tracing::warn!(error = %e, "dead-letter topic write failed");
                }
            }
        }
    }
    for delivery in futures::future::join_all(deliveries).await {
        match delivery {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => tracing::warn!(error = %e, "dead-letter topic write failed"),
            Err(_) => tracing::warn!("dead-letter topic write canceled"),
        }
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

/// A store group and the batches of it that came from this member's own
/// stream (all of them, unless it is a replay of a group written ahead with
/// partitions this member did not read).
struct Unit {
    group: GroupId,
    own: Vec<(BatchId, Batch)>,
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
async fn store_unit(sink: &Sink, metrics: &Metrics, replay: &Replay, unit: &Unit) {
    let mut others: Vec<(&BatchId, Rows)> = Vec::new();
    for member in unit.group.members() {
        if unit.own_rows(member).is_some() {
            continue;
        }
        let mut attempt = 0;
        let rows = loop {
            match replay.rows(member).await {
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

/// What becomes of one message: an event's rows, a dropped re-send, or a
/// dead letter with its reason. The same for a member's own stream and for
/// a group member read again, so a replay re-forms the same rows.
/// Re-sends (an id already stored) are found at store time, over every
/// partition and consumer group (`Sink::store`), not here.
struct Classifier {
    clock: chrono::DateTime<Utc>,
    max_skew: Duration,
}

impl Classifier {
    fn at(config: &Config, clock: chrono::DateTime<Utc>) -> Classifier {
        Classifier {
            clock,
            max_skew: config.max_future_skew,
        }
    }

    fn classify(
        &self,
        rows: &mut Rows,
        (tp, offset): (&Tp, i64),
        payload: Vec<u8>,
        key: Vec<u8>,
        metrics: Option<&Metrics>,
    ) {
        let count = |f: &dyn Fn(&Metrics)| {
            if let Some(m) = metrics {
                f(m)
            }
        };
        match parse(&payload) {
            Ok(event) => {
                let ahead = event.occurred_at.signed_duration_since(self.clock);
                if ahead.to_std().is_ok_and(|a| a > self.max_skew) {
                    count(&|m| {
                        m.consumed("invalid");
                        m.dead_lettered("future_timestamp");
                    });
                    rows.dead_letters.push(dead_letter(
                        tp,
                        offset,
                        "future_timestamp",
                        format!(
                            "occurred_at is {}s ahead of the consumer clock (limit {}s)",
                            ahead.num_seconds(),
                            self.max_skew.as_secs()
                        ),
                        payload,
                        key,
                    ));
                } else {
                    count(&|m| m.consumed(event.body.kind()));
                    rows.push(&event, &tp.0, tp.1, offset);
                }
            }
            Err(e) => {
                count(&|m| {
                    m.consumed("invalid");
                    m.dead_lettered(e.code());
                });
                rows.dead_letters.push(dead_letter(
                    tp,
                    offset,
                    e.code(),
                    e.to_string(),
                    payload,
                    key,
                ));
            }
        }
    }
}

/// A message read again: offset, payload, key.
type Replayed = (i64, Vec<u8>, Vec<u8>);

/// Reads a group member written ahead by another consumer (or for a
/// partition this member does not own) again from the topic, to re-form
/// the group's rows: the same offsets, classified alike (re-sends are
/// found when the group is stored).
struct Replay {
    config: Config,
}

impl Replay {
    async fn rows(&self, id: &BatchId) -> Result<Rows> {
        let classifier = Classifier::at(&self.config, Utc::now());
        let (kafka, group_id, member) = (
            self.config.kafka_client(),
            self.config.group_id.clone(),
            id.clone(),
        );
        let messages = tokio::task::spawn_blocking(move || read_range(&kafka, &group_id, &member))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let tp = (id.topic.clone(), id.partition);
        let mut rows = Rows::default();
        for (offset, payload, key) in messages {
            classifier.classify(&mut rows, (&tp, offset), payload, key, None);
        }
        tracing::info!(topic = %id.topic, partition = id.partition, first = id.first, last = id.last, rows = rows.messages(), "read a group member again from the topic");
        Ok(rows)
    }
}

/// The messages of `[id.first, id.last]`, read with a consumer of its own
/// that is assigned the partition directly (no group membership, no
/// commits). Offsets missing from the log (compaction) are skipped.
fn read_range(kafka: &ClientConfig, group_id: &str, id: &BatchId) -> Result<Vec<Replayed>> {
    let consumer: BaseConsumer<DefaultConsumerContext> = kafka
        .clone()
        .set("group.id", format!("{group_id}-replay"))
        // Offsets gone from the log are an error (retried and logged), not
        // a jump to the end that would re-form the group without them.
        .set("auto.offset.reset", "error")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&id.topic, id.partition, Offset::Offset(id.first))?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) if m.partition() == id.partition && m.topic() == id.topic => {
                if m.offset() > id.last {
                    return Ok(out);
                }
                out.push((
                    m.offset(),
                    m.payload().unwrap_or_default().to_vec(),
                    m.key().unwrap_or_default().to_vec(),
                ));
                if m.offset() == id.last {
                    return Ok(out);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Err(Error::Replay(format!(
        "{}/{} offsets {}..={} not all readable within 30 s",
        id.topic, id.partition, id.first, id.last
    )))
}

fn dead_letter(
    tp: &Tp,
    offset: i64,
    reason: &'static str,
    detail: String,
    payload: Vec<u8>,
    key: Vec<u8>,
) -> DeadLetterRow {
    DeadLetterRow {
        topic: tp.0.clone(),
        partition: tp.1 as u32,
        offset: offset as u64,
        reason,
        detail,
        payload,
        key,
    }
}
