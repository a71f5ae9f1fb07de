/// The one error type of the ingest crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("{0}")]
    Connect(#[from] authpulse_connect::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading a batch again: {0}")]
    Replay(String),
    #[error("background store task failed: {0}")]
    Task(String),
    #[error("shutdown before the pending batch could be stored; it will be replayed")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
