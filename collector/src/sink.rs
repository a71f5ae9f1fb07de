//! Produces a prepared batch and waits until the broker acknowledged every
//! record (idempotent producer, acks=all): the caller answers 2xx only
//! after [`Sink::send`] returned Ok. Any failure — queue full, broker down,
//! a delivery timing out — is an error the caller turns into 429/503, and
//! the client's retry is safe because ids are deterministic (ingest drops
//! re-sent ids).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::sync::Semaphore;

use crate::{Prepared, Source};

#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// The events topic (the first of the `--topics`).
    pub topic: String,
    /// Skipped source events go here with their reason.
    pub dlq_topic: String,
    /// How long a record may wait for its ack before the request fails.
    pub produce_timeout: Duration,
    /// Events in flight (enqueued, not yet acknowledged) across requests;
    /// beyond it requests are refused with 429.
    pub max_inflight_events: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            topic: "auth-events".into(),
            dlq_topic: "auth-events-dlq".into(),
            produce_timeout: Duration::from_secs(10),
            max_inflight_events: 100_000,
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum SinkError {
    /// Too many events in flight: 429, retry shortly.
    Busy,
    /// The broker did not acknowledge (down, timed out, queue full): 503.
    Unavailable(String),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Busy => f.write_str("too many events in flight; retry shortly"),
            SinkError::Unavailable(e) => write!(f, "the broker did not acknowledge: {e}"),
        }
    }
}

#[derive(Clone)]
pub struct Sink {
    producer: FutureProducer,
    opts: Arc<SinkOptions>,
    permits: Arc<Semaphore>,
}

impl Sink {
    /// Builds the producer from `base` (bootstrap servers and any security
    /// settings, chosen by the caller) plus the delivery guarantees.
    pub fn new(base: &ClientConfig, opts: SinkOptions) -> Result<Sink, String> {
        if opts.topic.is_empty() || opts.dlq_topic.is_empty() {
            return Err("the events topic and the dead-letter topic must be named".into());
        }
        let timeout = opts.produce_timeout.as_millis().max(1000).to_string();
        let mut config = base.clone();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", &timeout)
            .set("request.timeout.ms", &timeout)
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("compression.type", "lz4");
        let producer: FutureProducer = config
            .create()
            .map_err(|e| format!("creating the Kafka producer: {e}"))?;
        let permits = Arc::new(Semaphore::new(opts.max_inflight_events.max(1)));
        Ok(Sink {
            producer,
            opts: Arc::new(opts),
            permits,
        })
    }

    pub fn options(&self) -> &SinkOptions {
        &self.opts
    }

    /// Produces every record and dead letter of `p`; Ok once all are acked.
    /// With `wait` (imports) it waits for room instead of answering Busy.
    pub async fn send(&self, source: Source, p: &Prepared, wait: bool) -> Result<(), SinkError> {
        let n = (p.records.len() + p.skipped.len()).min(self.opts.max_inflight_events.max(1));
        if n == 0 {
            return Ok(());
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let _permit = if wait {
            self.permits
                .acquire_many(n)
                .await
                .map_err(|_| SinkError::Unavailable("shutting down".into()))?
        } else {
            self.permits
                .try_acquire_many(n)
                .map_err(|_| SinkError::Busy)?
        };
        let t = Instant::now();
        let mut deliveries = Vec::with_capacity(p.records.len() + p.skipped.len());
        for r in &p.records {
            let rec = FutureRecord::to(&self.opts.topic)
                .key(r.key.as_str())
                .payload(r.payload.as_slice());
            deliveries.push(self.enqueue(rec)?);
        }
        for s in &p.skipped {
            let index = s.index.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "authpulse.reason",
                    value: Some(s.reason),
                })
                .insert(Header {
                    key: "authpulse.detail",
                    value: Some(s.detail.as_str()),
                })
                .insert(Header {
                    key: "authpulse.source",
                    value: Some(source.name()),
                })
                .insert(Header {
                    key: "authpulse.source.type",
                    value: Some(s.source_type.as_str()),
                })
                .insert(Header {
                    key: "authpulse.source.index",
                    value: Some(index.as_str()),
                });
            let rec = FutureRecord::to(&self.opts.dlq_topic)
                .key(source.name())
                .payload(s.raw.as_slice())
                .headers(headers);
            deliveries.push(self.enqueue(rec)?);
        }
        let mut failure = None;
        for d in futures::future::join_all(deliveries).await {
            match d {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failure = Some(e.to_string()),
                Err(_) => failure = Some("delivery canceled".into()),
            }
        }
        metrics::histogram!("authpulse_collector_produce_seconds", "source" => source.name())
            .record(t.elapsed().as_secs_f64());
        match failure {
            None => Ok(()),
            Some(e) => Err(SinkError::Unavailable(e)),
        }
    }

    fn enqueue<'a>(
        &self,
        rec: FutureRecord<'a, str, [u8]>,
    ) -> Result<rdkafka::producer::DeliveryFuture, SinkError> {
        match self.producer.send_result(rec) {
            Ok(d) => Ok(d),
            // What was enqueued before is still delivered; the retry of the
            // whole request is deduplicated by id.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(SinkError::Unavailable("producer queue full".into()))
            }
            Err((e, _)) => Err(SinkError::Unavailable(e.to_string())),
        }
    }

    /// Ready when the broker answers metadata for the events topic.
    pub async fn ready(&self) -> Result<(), String> {
        let (producer, topic) = (self.producer.clone(), self.opts.topic.clone());
        tokio::task::spawn_blocking(move || {
            let md = producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            match md.topics().first() {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                _ => Err(format!("topic {topic} is not available")),
            }
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Waits for anything still queued (imports, shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.producer.flush(timeout).map_err(|e| e.to_string())
    }
}
