//! How a subcommand reaches ClickHouse and Kafka: the connection flags,
//! declared once and `#[command(flatten)]`ed wherever they are taken. The
//! security options (users, passwords, SASL, TLS) are authpulse-connect's.

use authpulse_connect::{ClickHouseClient, ClickHouseOptions, KafkaOptions};

/// The ClickHouse server and database holding the authpulse tables.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// ClickHouse HTTP URL.
    #[arg(
        long,
        env = "AUTHPULSE_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    pub clickhouse_url: String,
    /// ClickHouse database holding the authpulse tables.
    #[arg(long, env = "AUTHPULSE_DATABASE", default_value = "authpulse")]
    pub database: String,
    /// User, password, CA (docs/security.md).
    #[command(flatten)]
    pub auth: ClickHouseOptions,
}

impl StoreArgs {
    /// The ClickHouse client (no database selected).
    pub fn client(&self) -> anyhow::Result<ClickHouseClient> {
        Ok(self.auth.client(&self.clickhouse_url)?)
    }

    /// The client, after checking that ClickHouse answers with these
    /// credentials (fails within the connect timeout, naming the cause).
    pub async fn checked_client(&self) -> anyhow::Result<ClickHouseClient> {
        let client = self.client()?;
        authpulse_connect::check_clickhouse(
            &client,
            &self.clickhouse_url,
            self.auth.connect_timeout(),
        )
        .await?;
        Ok(client)
    }

    /// The typed query layer over the database.
    pub fn store(&self) -> anyhow::Result<authpulse_store::Store> {
        Ok(authpulse_store::Store::new(
            self.client()?.with_database(&self.database),
        ))
    }
}

/// The brokers and how to reach them, without topics (`loadgen` names its
/// own `--topic`).
#[derive(clap::Args, Clone)]
pub struct BrokerArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "AUTHPULSE_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// SASL, TLS, compression, librdkafka properties (docs/security.md).
    #[command(flatten)]
    pub security: KafkaOptions,
}

impl BrokerArgs {
    /// Checks that the brokers answer with these options (fails within the
    /// connect timeout, naming the cause); librdkafka blocks, so on a
    /// blocking thread.
    pub async fn check(&self) -> anyhow::Result<()> {
        let (brokers, options) = (self.brokers.clone(), self.security.clone());
        tokio::task::spawn_blocking(move || authpulse_connect::check_kafka(&brokers, &options))
            .await??;
        Ok(())
    }
}

/// The brokers and the topic(s) carrying auth events.
#[derive(clap::Args, Clone)]
pub struct KafkaArgs {
    #[command(flatten)]
    pub conn: BrokerArgs,
    /// Topic(s) carrying auth events (comma-separated).
    #[arg(
        long,
        env = "AUTHPULSE_TOPICS",
        default_value = "auth-events",
        value_delimiter = ','
    )]
    pub topics: Vec<String>,
}

impl KafkaArgs {
    pub fn brokers(&self) -> &str {
        &self.conn.brokers
    }

    pub fn security(&self) -> &KafkaOptions {
        &self.conn.security
    }

    /// The topic events are produced to: the first of `--topics`.
    pub fn first_topic(&self) -> anyhow::Result<&str> {
        self.topics
            .first()
            .map(String::as_str)
            .ok_or_else(|| anyhow::anyhow!("--topics names no topic"))
    }

    /// See [`BrokerArgs::check`].
    pub async fn check(&self) -> anyhow::Result<()> {
        self.conn.check().await
    }
}
