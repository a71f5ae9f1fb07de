//! Topics and fast producing. Records are enqueued with `send_result`
//! (librdkafka batches them) and deliveries are awaited later, oldest
//! first, only when the queue is full or at [`Producer::flush`]: awaiting
//! each send in turn is ~100× slower.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use authpulse_loadgen::{generate, Oracle, Profile};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Deliveries kept in flight before the oldest one is awaited.
const MAX_PENDING: usize = 100_000;

/// Creates `new` (`partitions` partitions) with the admin client `config`.
/// A topic that already exists with that many partitions is fine: a
/// CreateTopics retried by the client under load can find its own first
/// attempt done.
pub async fn create_topic(
    config: &ClientConfig,
    new: NewTopic<'_>,
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        config.create().context("creating the Kafka admin client")?;
    let res = admin.create_topics(&[new], &AdminOptions::new()).await?;
    for r in res {
        match r {
            Ok(_) => {}
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let md = admin
                    .inner()
                    .fetch_metadata(Some(&t), Duration::from_secs(10))?;
                let n = md.topics().first().map_or(0, |x| x.partitions().len());
                anyhow::ensure!(
                    n == partitions as usize,
                    "topic {t} exists with {n} partitions, not {partitions}"
                );
            }
            Err((t, e)) => anyhow::bail!("create topic {t}: {e}"),
        }
    }
    Ok(())
}

/// A Kafka producer that enqueues without waiting and checks every
/// delivery later.
pub struct Producer {
    producer: FutureProducer,
    pending: VecDeque<DeliveryFuture>,
    sent: u64,
    bytes: u64,
}

/// What a produce run did.
#[derive(Debug, Clone)]
pub struct Produced {
    pub messages: u64,
    pub bytes: u64,
    pub secs: f64,
}

impl Produced {
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.secs.max(1e-9)
    }
}

impl Producer {
    /// A producer from `config` (bootstrap servers, security) tuned for
    /// throughput: acks=all with idempotence, so a retry after a leader
    /// change neither loses nor duplicates a message and the loadgen
    /// oracle stays exact.
    pub fn new(mut config: ClientConfig) -> anyhow::Result<Producer> {
        let producer: FutureProducer = config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "120000")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("batch.num.messages", "10000")
            .create()
            .context("creating the Kafka producer")?;
        Ok(Producer {
            producer,
            pending: VecDeque::new(),
            sent: 0,
            bytes: 0,
        })
    }

    /// The underlying producer (clones share the same queue).
    pub fn producer(&self) -> FutureProducer {
        self.producer.clone()
    }

    /// Enqueues one record; waits only when librdkafka's queue is full.
    pub async fn send(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> anyhow::Result<()> {
        loop {
            match self
                .producer
                .send_result(FutureRecord::to(topic).key(key).payload(payload))
            {
                Ok(delivery) => {
                    self.pending.push_back(delivery);
                    self.sent += 1;
                    self.bytes += payload.len() as u64;
                    while self.pending.len() >= MAX_PENDING {
                        self.await_oldest().await?;
                    }
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if !self.await_oldest().await? {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                Err((e, _)) => anyhow::bail!("produce to {topic}: {e}"),
            }
        }
    }

    async fn await_oldest(&mut self) -> anyhow::Result<bool> {
        let Some(d) = self.pending.pop_front() else {
            return Ok(false);
        };
        match d.await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err((e, _))) => anyhow::bail!("delivery failed: {e}"),
            Err(_) => anyhow::bail!("delivery canceled (producer dropped)"),
        }
    }

    /// Waits for every outstanding delivery; returns the records sent so far.
    pub async fn flush(&mut self) -> anyhow::Result<u64> {
        while self.await_oldest().await? {}
        Ok(self.sent)
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Produces every message of `profile` to `topic`, paced to `rate`
    /// messages/s by a token bucket (as fast as possible for `rate <= 0`);
    /// feeds `oracle` when given.
    pub async fn produce_profile(
        &mut self,
        topic: &str,
        profile: &Profile,
        rate: f64,
        mut oracle: Option<&mut Oracle>,
    ) -> anyhow::Result<Produced> {
        let started = Instant::now();
        let (sent0, bytes0) = (self.sent, self.bytes);
        let mut bucket = TokenBucket::new(rate);
        for m in generate(profile) {
            if let Some(b) = bucket.as_mut() {
                b.take().await;
            }
            self.send(topic, m.key.as_bytes(), &m.payload).await?;
            if let Some(o) = oracle.as_deref_mut() {
                o.observe(&m);
            }
        }
        self.flush().await?;
        Ok(Produced {
            messages: self.sent - sent0,
            bytes: self.bytes - bytes0,
            secs: started.elapsed().as_secs_f64(),
        })
    }
}

/// Produces `(key, payload)` messages to `topic` on `brokers` and waits for
/// every ack (synchronous, for tests).
pub fn produce(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    crate::block_on(async {
        let mut p = Producer::new(config)?;
        for (key, payload) in messages {
            p.send(topic, key.as_bytes(), payload).await?;
        }
        p.flush().await
    })
    .unwrap_or_else(|e| panic!("produce to {topic}: {e:#}"));
}

/// Token-bucket pacing: `rate` tokens per second, bursts of at most 50 ms
/// worth of tokens.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `None` for `rate <= 0` (as fast as possible).
    fn new(rate: f64) -> Option<TokenBucket> {
        (rate > 0.0).then(|| TokenBucket {
            rate,
            burst: (rate * 0.05).max(1.0),
            tokens: 0.0,
            last: Instant::now(),
        })
    }

    async fn take(&mut self) {
        loop {
            let now = Instant::now();
            self.tokens =
                (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = ((1.0 - self.tokens) / self.rate).max(0.001);
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}
