//! Reads a group member written ahead by another consumer (or for a
//! partition this member does not own) again from the topic, to re-form
//! the group's rows: the same offsets, classified alike (re-sends are
//! found when the group is stored).

use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::classify::Classifier;
use crate::config::Config;
use crate::encode::Rows;
use crate::error::{Error, Result};
use crate::sink::group::BatchId;

/// A message read again: offset, payload, key.
type Replayed = (i64, Vec<u8>, Vec<u8>);

pub(crate) struct MemberReader {
    pub config: Config,
}

impl MemberReader {
    /// The rows of the member batch `id`, read again and classified.
    pub(crate) async fn rows(&self, id: &BatchId) -> Result<Rows> {
        let classifier = Classifier::at(&self.config, Utc::now());
        let (kafka, group_id, member) = (
            self.config.kafka_client(),
            self.config.group_id.clone(),
            id.clone(),
        );
        let messages = tokio::task::spawn_blocking(move || read_range(&kafka, &group_id, &member))
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let mut rows = Rows::default();
        for (offset, payload, key) in messages {
            classifier.classify(
                &mut rows,
                ((&id.topic, id.partition), offset),
                payload,
                key,
                None,
            );
        }
        tracing::info!(topic = %id.topic, partition = id.partition, first = id.first, last = id.last, rows = rows.messages(), "read a group member again from the topic");
        Ok(rows)
    }
}

/// What the message at `offset` means for reading `[first, last]` again.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Part of the range, more to come.
    Take,
    /// The range's last offset: take it and stop.
    TakeLast,
    /// Past the range (its end was compacted away): stop without it.
    Done,
}

fn step(id: &BatchId, offset: i64) -> Step {
    if offset > id.last {
        Step::Done
    } else if offset == id.last {
        Step::TakeLast
    } else {
        Step::Take
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
                let step = step(id, m.offset());
                if step == Step::Done {
                    return Ok(out);
                }
                out.push((
                    m.offset(),
                    m.payload().unwrap_or_default().to_vec(),
                    m.key().unwrap_or_default().to_vec(),
                ));
                if step == Step::TakeLast {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_ends_at_its_last_offset_or_the_first_past_it() {
        let id = BatchId {
            topic: "t".into(),
            partition: 0,
            first: 10,
            last: 12,
        };
        let steps: Vec<Step> = [10, 11, 12, 13, 20].iter().map(|o| step(&id, *o)).collect();
        assert_eq!(
            steps,
            [
                Step::Take,
                Step::Take,
                Step::TakeLast,
                Step::Done,
                Step::Done
            ]
        );
        // A one-message batch.
        let one = BatchId {
            first: 5,
            last: 5,
            ..id
        };
        assert_eq!(step(&one, 5), Step::TakeLast);
    }
}
