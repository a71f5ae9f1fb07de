use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::config::ClientConfig;

/// Consumer settings. Defaults are what `authpulse ingest` uses unless told
/// otherwise; batch limits were chosen by measurement (docs/benchmarks.md).
#[derive(Debug, Clone)]
pub struct Config {
    /// Kafka bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Consumer group; instances with the same group share partitions.
    pub group_id: String,
    /// Topics carrying auth events.
    pub topics: Vec<String>,
    /// Dead-letter topic for messages that cannot be accepted.
    pub dlq_topic: String,
    /// ClickHouse HTTP URL and database.
    pub clickhouse_url: String,
    pub database: String,
    /// A partition's batch is flushed when it reaches any of these.
    pub batch_max_rows: usize,
    pub batch_max_bytes: usize,
    pub batch_max_wait: Duration,
    /// Where `/metrics` is served (None: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// How long a shutdown waits for a pending insert before giving up
    /// (the batch is then replayed by the next consumer).
    pub shutdown_grace: Duration,
    /// Events whose time is further ahead of the consumer's clock than this
    /// are dead-lettered as clock skew.
    pub max_future_skew: Duration,
    /// Kafka security (SASL, TLS) and producer compression, applied to
    /// every Kafka client ingest builds.
    pub kafka: authpulse_connect::KafkaOptions,
    /// ClickHouse user, password and CA.
    pub clickhouse: authpulse_connect::ClickHouseOptions,
    /// Operator replay (`authpulse ingest --replay-from`): re-read the topics
    /// (all partitions) from this offset or time, under a consumer group of
    /// its own, storing only what was never stored, and exit when caught up
    /// with the end the topics had at start (docs/delivery.md, "Replay").
    pub replay_from: Option<ReplayFrom>,
    /// How the consumer group assigns partitions (docs/delivery.md).
    pub group_protocol: GroupProtocol,
}

impl Config {
    /// A consumer (or admin) config for the brokers, with the security options.
    pub(crate) fn kafka_client(&self) -> rdkafka::ClientConfig {
        self.kafka.client_config(&self.brokers)
    }

    /// A producer config for the brokers, with security and compression.
    pub(crate) fn kafka_producer(&self) -> rdkafka::ClientConfig {
        self.kafka.producer_config(&self.brokers)
    }

    /// The ClickHouse client for `clickhouse_url` (no database selected).
    pub(crate) fn clickhouse_client(&self) -> crate::Result<clickhouse::Client> {
        Ok(self.clickhouse.client(&self.clickhouse_url)?)
    }
}

/// Where an operator replay starts, in every partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    /// This offset (clamped to what the partition still holds).
    Offset(i64),
    /// The first offset whose message timestamp is at or after this time.
    Time(chrono::DateTime<chrono::Utc>),
}

impl ReplayFrom {
    /// `1234` (an offset) or an RFC 3339 time (`2026-03-08T00:00:00Z`).
    pub fn parse(s: &str) -> std::result::Result<ReplayFrom, String> {
        if let Ok(n) = s.parse::<i64>() {
            return if n >= 0 {
                Ok(ReplayFrom::Offset(n))
            } else {
                Err(format!("replay offset must be >= 0, got {n}"))
            };
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| ReplayFrom::Time(t.with_timezone(&chrono::Utc)))
            .map_err(|e| format!("expected an offset or an RFC 3339 time, got {s:?} ({e})"))
    }

    /// The replay's consumer group: the same start, the same group, so a
    /// replay interrupted and started again resumes where it stopped.
    pub fn group(&self, base: &str) -> String {
        match self {
            ReplayFrom::Offset(n) => format!("{base}-replay-offset-{n}"),
            ReplayFrom::Time(t) => format!("{base}-replay-time-{}", t.timestamp_millis()),
        }
    }
}

/// The Kafka consumer group protocol. Kafka 4 serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup: the client picks the assignor and its session
    /// timeout; every member stops for a rebalance.
    Classic,
    /// KIP-848: the broker assigns partitions and moves only those that
    /// change owner; session timeout and heartbeat are the broker's
    /// (group.consumer.*), and the client must not set them.
    Consumer,
}

impl GroupProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }

    /// Sets `group.protocol` and what goes with it on the group consumer.
    pub fn configure(self, client: &mut ClientConfig) {
        client.set("group.protocol", self.as_str());
        if self == GroupProtocol::Classic {
            client
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "1000");
        }
    }
}

impl FromStr for GroupProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "classic" => Ok(GroupProtocol::Classic),
            "consumer" => Ok(GroupProtocol::Consumer),
            other => Err(format!(
                "unknown group protocol {other:?}: use classic or consumer"
            )),
        }
    }
}

impl std::fmt::Display for GroupProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: "127.0.0.1:9092".into(),
            group_id: "authpulse-ingest".into(),
            topics: vec!["auth-events".into()],
            dlq_topic: "auth-events-dlq".into(),
            clickhouse_url: "http://127.0.0.1:8123".into(),
            database: "authpulse".into(),
            batch_max_rows: 100_000,
            batch_max_bytes: 12 << 20,
            batch_max_wait: Duration::from_millis(500),
            metrics_addr: None,
            shutdown_grace: Duration::from_secs(30),
            max_future_skew: Duration::from_secs(24 * 3600),
            kafka: Default::default(),
            clickhouse: Default::default(),
            replay_from: None,
            // Chosen by measurement and reach (docs/delivery.md).
            group_protocol: GroupProtocol::Classic,
        }
    }
}
