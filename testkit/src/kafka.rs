//! Topics and producing. The fast producer is `authpulse_loadgen::kafka::Sender`
//! (the one `authpulse loadgen` uses), re-exported from this crate.

use std::time::Duration;

use anyhow::Context as _;
pub use authpulse_loadgen::kafka::{Produced, Sender};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;

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

/// Produces `(key, payload)` messages to `topic` on `brokers` and waits for
/// every ack (synchronous, for tests).
pub fn produce(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    crate::block_on(async {
        let mut p = Sender::new(config)?;
        for (key, payload) in messages {
            p.send(topic, key.as_bytes(), payload).await?;
        }
        p.flush().await
    })
    .unwrap_or_else(|e| panic!("produce to {topic}: {e:#}"));
}
