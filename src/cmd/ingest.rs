//! `authpulse ingest`: the Kafka → ClickHouse consumer (authpulse-ingest)
//! as its own process, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use super::servers::{KafkaArgs, StoreArgs};

// No argument group of its own: `up` flattens it beside its own `Args`,
// and clap names a struct's group after the struct.
#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
}

/// The consumer's own settings (`ingest` and `up`).
#[derive(clap::Args, Clone)]
pub struct IngestArgs {
    /// Consumer group shared by all ingest instances.
    #[arg(long, env = "AUTHPULSE_GROUP", default_value = "authpulse-ingest")]
    pub group: String,
    /// Dead-letter topic.
    #[arg(long, env = "AUTHPULSE_DLQ_TOPIC", default_value = "auth-events-dlq")]
    pub dlq_topic: String,
    /// Flush a partition's batch at this many messages.
    #[arg(long, env = "AUTHPULSE_BATCH_ROWS", default_value_t = 100_000)]
    pub batch_rows: usize,
    /// Flush a partition's batch at this many payload bytes.
    #[arg(long, env = "AUTHPULSE_BATCH_BYTES", default_value_t = 12 << 20)]
    pub batch_bytes: usize,
    /// Flush a partition's batch when it is this old (milliseconds).
    #[arg(long, env = "AUTHPULSE_BATCH_WAIT_MS", default_value_t = 500)]
    pub batch_wait_ms: u64,
    /// Serve Prometheus metrics, /healthz and /readyz here.
    #[arg(long, env = "AUTHPULSE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Dead-letter events more than this many seconds ahead of the clock.
    #[arg(long, env = "AUTHPULSE_MAX_FUTURE_SKEW_SECS", default_value_t = 86_400)]
    pub max_future_skew_secs: u64,
    /// Operator replay: re-read every partition of the topics from this
    /// offset or RFC 3339 time (under group `<group>-replay-<start>`),
    /// store only events never stored, exit when caught up
    /// (docs/delivery.md, "Replay").
    #[arg(long, value_parser = authpulse_ingest::ReplayFrom::parse)]
    pub replay_from: Option<authpulse_ingest::ReplayFrom>,
    /// Consumer group protocol: classic, or consumer (KIP-848, broker-side
    /// assignment; needs Kafka >= 4.0); see docs/delivery.md.
    #[arg(long, env = "AUTHPULSE_GROUP_PROTOCOL", default_value = "classic")]
    pub group_protocol: authpulse_ingest::GroupProtocol,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    // Fail fast on a wrong password, an untrusted certificate or an
    // unreachable server, instead of retrying quietly.
    a.store.checked_client().await?;
    a.kafka.check().await?;
    readiness(&a.store, &a.kafka)?;
    authpulse_ingest::run(
        config(&a.store, &a.kafka, &a.ingest),
        super::shutdown_signal(),
    )
    .await?;
    tracing::info!("ingest stopped cleanly");
    Ok(())
}

/// The library's configuration from the flags.
pub fn config(store: &StoreArgs, kafka: &KafkaArgs, a: &IngestArgs) -> authpulse_ingest::Config {
    authpulse_ingest::Config {
        brokers: kafka.brokers().to_string(),
        group_id: a.group.clone(),
        topics: kafka.topics.clone(),
        dlq_topic: a.dlq_topic.clone(),
        clickhouse_url: store.clickhouse_url.clone(),
        database: store.database.clone(),
        batch_max_rows: a.batch_rows,
        batch_max_bytes: a.batch_bytes,
        batch_max_wait: Duration::from_millis(a.batch_wait_ms),
        metrics_addr: a.metrics_listen,
        kafka: kafka.security().clone(),
        clickhouse: store.auth.clone(),
        max_future_skew: Duration::from_secs(a.max_future_skew_secs),
        replay_from: a.replay_from.clone(),
        group_protocol: a.group_protocol,
        ..authpulse_ingest::Config::default()
    }
}

/// What `/readyz` of ingest checks: the same ClickHouse and brokers.
pub fn readiness(store: &StoreArgs, kafka: &KafkaArgs) -> anyhow::Result<()> {
    authpulse_ingest::metrics::set_readiness(
        store.client()?.with_database(&store.database),
        kafka.security().client_config(kafka.brokers()),
    );
    Ok(())
}
