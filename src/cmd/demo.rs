//! `authpulse demo`, and the demo traffic `up` produces: a small loadgen
//! stream of every event type over the last `hours` hours, with a few late
//! events, re-sends and poison messages so every report and the dead-letter
//! path have something to show.

use authpulse_loadgen::{generate, org_ids, Profile};
use chrono::Utc;

use super::servers::KafkaArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Number of events.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Spread the events over this many hours before now.
    #[arg(long, default_value_t = 24 * 30)]
    pub hours: u32,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    a.kafka.check().await?;
    let topic = a.kafka.first_topic()?;
    let n = produce(
        a.kafka.brokers(),
        a.kafka.security(),
        topic,
        &profile(a.count, a.hours),
    )
    .await?;
    println!("produced {n} demo events to {topic}");
    Ok(())
}

/// The demo profile: 3 organizations × 3 applications × 400 users.
pub fn profile(count: u64, hours: u32) -> Profile {
    let span = chrono::Duration::hours(i64::from(hours.max(1)));
    Profile {
        seed: 42,
        events: count,
        orgs: 3,
        apps_per_org: 3,
        users_per_org: 400,
        // Ends a minute ago: nothing lands in the future.
        start: Utc::now() - span - chrono::Duration::minutes(1),
        span,
        late_fraction: 0.02,
        duplicate_fraction: 0.01,
        poison_fraction: 0.005,
        ..Profile::default()
    }
}

/// Slugs of the demo organizations.
pub fn org_slugs(p: &Profile) -> Vec<String> {
    org_ids(p).into_iter().map(|(_, slug)| slug).collect()
}

/// Produces the demo profile's messages; returns how many were sent.
pub async fn produce(
    brokers: &str,
    kafka: &authpulse_connect::KafkaOptions,
    topic: &str,
    p: &Profile,
) -> anyhow::Result<u64> {
    // Enqueue everything, await the deliveries at the end (fast path).
    let mut sender = super::loadgen::sender(brokers, kafka)?;
    for m in generate(p) {
        sender.send(topic, m.key.as_bytes(), &m.payload).await?;
    }
    Ok(sender.flush().await?)
}
