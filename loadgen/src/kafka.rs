//! Producing a stream to Kafka fast (feature `kafka`): the one producer that
//! `authpulse loadgen`, `authpulse demo`, the tests and the benchmark use.
//!
//! Records are enqueued with `send_result` (librdkafka batches them) and
//! deliveries are awaited later, oldest first, only when the queue is full or
//! at [`Sender::flush`]: awaiting each send in turn is ~100× slower.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::future_producer::DeliveryFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::{generate, Oracle, Profile};

/// Deliveries kept in flight before the oldest one is awaited.
const MAX_PENDING: usize = 100_000;

/// Why producing failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the Kafka producer: {0}")]
    Create(#[source] KafkaError),
    #[error("produce to {topic}: {source}")]
    Produce {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("delivery failed: {0}")]
    Delivery(#[source] KafkaError),
    #[error("delivery canceled (producer dropped)")]
    Canceled,
}

/// A Kafka producer that enqueues without waiting and checks every
/// delivery later.
pub struct Sender {
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

impl Sender {
    /// A producer from `config` (bootstrap servers, security, compression)
    /// tuned for throughput, with acks=all and idempotence so that a retry
    /// after a leader change neither loses nor duplicates a message and the
    /// oracle stays exact.
    pub fn new(mut config: ClientConfig) -> Result<Sender, Error> {
        let producer: FutureProducer = config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "120000")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", "200000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("batch.num.messages", "10000")
            .create()
            .map_err(Error::Create)?;
        Ok(Sender {
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
    pub async fn send(&mut self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), Error> {
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
                Err((source, _)) => {
                    return Err(Error::Produce {
                        topic: topic.to_string(),
                        source,
                    })
                }
            }
        }
    }

    async fn await_oldest(&mut self) -> Result<bool, Error> {
        let Some(d) = self.pending.pop_front() else {
            return Ok(false);
        };
        match d.await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err((e, _))) => Err(Error::Delivery(e)),
            Err(_) => Err(Error::Canceled),
        }
    }

    /// Waits for every outstanding delivery; returns the records sent so far.
    pub async fn flush(&mut self) -> Result<u64, Error> {
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
    /// messages/s by a token bucket (as fast as possible for `rate <= 0`),
    /// feeds `oracle` when given, and reports progress to `progress` every
    /// 1024 messages (and once at the end).
    pub async fn produce_profile(
        &mut self,
        topic: &str,
        profile: &Profile,
        rate: f64,
        mut oracle: Option<&mut Oracle>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Produced, Error> {
        let started = Instant::now();
        let (sent0, bytes0) = (self.sent, self.bytes);
        let mut bucket = TokenBucket::new(rate);
        let mut since_tick = 0u64;
        for m in generate(profile) {
            if let Some(b) = bucket.as_mut() {
                b.take().await;
            }
            self.send(topic, m.key.as_bytes(), &m.payload).await?;
            if let Some(o) = oracle.as_deref_mut() {
                o.observe(&m);
            }
            since_tick += 1;
            if since_tick == 1024 {
                progress(since_tick);
                since_tick = 0;
            }
        }
        progress(since_tick);
        self.flush().await?;
        Ok(Produced {
            messages: self.sent - sent0,
            bytes: self.bytes - bytes0,
            secs: started.elapsed().as_secs_f64(),
        })
    }
}

/// Token-bucket pacing: `rate` tokens per second, bursts of at most 50 ms
/// worth of tokens.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `None` for `rate <= 0` (as fast as possible).
    pub fn new(rate: f64) -> Option<TokenBucket> {
        (rate > 0.0).then(|| TokenBucket {
            rate,
            burst: (rate * 0.05).max(1.0),
            tokens: 0.0,
            last: Instant::now(),
        })
    }

    /// Takes one token, sleeping until it is available.
    pub async fn take(&mut self) {
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

#[cfg(test)]
mod tests {
    use super::TokenBucket;
    use std::time::Instant;

    #[tokio::test]
    async fn token_bucket_paces_to_its_rate() {
        assert!(TokenBucket::new(0.0).is_none());
        assert!(TokenBucket::new(-1.0).is_none());
        let mut b = TokenBucket::new(2000.0).unwrap();
        let start = Instant::now();
        for _ in 0..400 {
            b.take().await;
        }
        // 400 tokens at 2000/s from an empty bucket take at least 0.2 s; the
        // upper bound is loose because a loaded machine only sleeps longer.
        let secs = start.elapsed().as_secs_f64();
        assert!((0.19..5.0).contains(&secs), "took {secs} s");
    }
}
