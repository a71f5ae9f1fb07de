//! The DLQ producer: a copy of every dead letter on the dead-letter topic.

use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::DeadLetterRow;
use crate::config::Config;
use crate::error::Result;

/// The producer of the DLQ copies.
pub(crate) fn producer(config: &Config) -> Result<FutureProducer> {
    Ok(config
        .kafka_producer()
        // No second DLQ copy from a retry across a leader change.
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()?)
}

/// Sends a group's dead letters to the DLQ topic: all are enqueued first
/// (in order), then their deliveries awaited together. Awaiting each
/// delivery in turn cost a broker round trip per poison message: 0.5 %
/// poison in a 140 k-row group took seconds and held back the commit.
pub(crate) async fn send<'a>(
    producer: &FutureProducer,
    topic: &str,
    rows: impl Iterator<Item = &'a DeadLetterRow>,
) {
    let mut deliveries = Vec::new();
    for row in rows {
        let values = row.headers();
        let headers = values.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value.as_str()),
            })
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
