//! `authpulse collect`: the HTTP collector (authpulse-collector) as its own
//! process. Credentials and tenant → org mappings come from flags or env.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use authpulse_collector::auth::SourceAuth;
use authpulse_collector::server::{self, Config};
use authpulse_collector::{Orgs, Sink, SinkOptions, Source};

use super::servers::KafkaArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Address the collector listens on.
    #[arg(
        long,
        env = "AUTHPULSE_COLLECTOR_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub listen: SocketAddr,
    /// Tokens accepted on POST /v1/events (contract events), comma-separated.
    #[arg(
        long = "contract-token",
        env = "AUTHPULSE_CONTRACT_TOKENS",
        value_delimiter = ','
    )]
    pub contract_tokens: Vec<String>,
    /// Tokens accepted on POST /v1/sources/fusionauth (sent as a webhook header).
    #[arg(
        long = "fusionauth-token",
        env = "AUTHPULSE_FUSIONAUTH_TOKENS",
        value_delimiter = ','
    )]
    pub fusionauth_tokens: Vec<String>,
    /// HMAC secret of the FusionAuth webhook signing key: signatures are then required.
    #[arg(long, env = "AUTHPULSE_FUSIONAUTH_HMAC_SECRET")]
    pub fusionauth_hmac_secret: Option<String>,
    /// RSA/EC public key (PEM file) of the FusionAuth webhook signing key.
    #[arg(long, env = "AUTHPULSE_FUSIONAUTH_PUBLIC_KEY")]
    pub fusionauth_public_key: Option<PathBuf>,
    /// Tokens accepted on POST /v1/sources/keycloak.
    #[arg(
        long = "keycloak-token",
        env = "AUTHPULSE_KEYCLOAK_TOKENS",
        value_delimiter = ','
    )]
    pub keycloak_tokens: Vec<String>,
    /// Tokens accepted on POST /v1/sources/auth0 (the log stream's Authorization Token).
    #[arg(
        long = "auth0-token",
        env = "AUTHPULSE_AUTH0_TOKENS",
        value_delimiter = ','
    )]
    pub auth0_tokens: Vec<String>,
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// Most events in one request (more: 413).
    #[arg(long, env = "AUTHPULSE_COLLECTOR_MAX_EVENTS", default_value_t = server::DEFAULT_MAX_EVENTS)]
    pub max_events: usize,
    /// Largest request body in bytes (more: 413).
    #[arg(long, env = "AUTHPULSE_COLLECTOR_MAX_BODY_BYTES", default_value_t = server::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Events in flight (not yet acknowledged) across requests; beyond: 429.
    #[arg(
        long,
        env = "AUTHPULSE_COLLECTOR_MAX_INFLIGHT",
        default_value_t = 100_000
    )]
    pub max_inflight_events: usize,
    /// Seconds in Retry-After with 429/503.
    #[arg(long, env = "AUTHPULSE_COLLECTOR_RETRY_AFTER", default_value_t = 2)]
    pub retry_after_secs: u64,
}

/// What `collect` and `import` share: topics for skipped events, org mapping, timeouts.
#[derive(clap::Args, Clone)]
pub struct MappingArgs {
    /// Tenant → organization: SOURCE:TENANT=ORG_UUID:SLUG (repeatable,
    /// comma-separated in env). Unlisted tenants get a derived org.
    #[arg(long = "org", env = "AUTHPULSE_COLLECTOR_ORGS", value_delimiter = ',')]
    pub orgs: Vec<String>,
    /// Dead-letter topic for skipped (unmapped) source events.
    #[arg(long, env = "AUTHPULSE_DLQ_TOPIC", default_value = "auth-events-dlq")]
    pub dlq_topic: String,
    /// Milliseconds an event may wait for the broker's ack before the
    /// request fails with 503.
    #[arg(long, env = "AUTHPULSE_PRODUCE_TIMEOUT_MS", default_value_t = 10_000)]
    pub produce_timeout_ms: u64,
}

/// The producer to the first of `--topics` (skipped events to the
/// dead-letter topic). Its base config is the brokers plus the shared
/// SASL/TLS/compression options (connect/), so the collector reaches a
/// secured Kafka like ingest.
pub fn sink(kafka: &KafkaArgs, m: &MappingArgs, inflight: usize) -> anyhow::Result<Sink> {
    let topic = kafka.first_topic()?.to_string();
    Sink::new(
        &kafka.security().producer_config(kafka.brokers()),
        SinkOptions {
            topic,
            dlq_topic: m.dlq_topic.clone(),
            produce_timeout: Duration::from_millis(m.produce_timeout_ms),
            max_inflight_events: inflight,
        },
    )
    .map_err(anyhow::Error::msg)
}

pub fn orgs(m: &MappingArgs) -> anyhow::Result<Orgs> {
    Orgs::from_specs(&m.orgs).map_err(anyhow::Error::msg)
}

fn config(a: &Args) -> anyhow::Result<Config> {
    let tokens = |name: &str, t: &[String]| {
        SourceAuth::with_tokens(t).map_err(|e| anyhow::anyhow!("--{name}-token: {e}"))
    };
    let mut fusionauth = tokens("fusionauth", &a.fusionauth_tokens)?;
    if let Some(secret) = &a.fusionauth_hmac_secret {
        fusionauth = fusionauth
            .with_hmac_secret(secret.as_bytes())
            .map_err(|e| anyhow::anyhow!("--fusionauth-hmac-secret: {e}"))?;
    }
    if let Some(path) = &a.fusionauth_public_key {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        fusionauth = fusionauth
            .with_public_key_pem(&pem)
            .map_err(|e| anyhow::anyhow!("--fusionauth-public-key {}: {e}", path.display()))?;
    }
    let auth = HashMap::from([
        (Source::Contract, tokens("contract", &a.contract_tokens)?),
        (Source::FusionAuth, fusionauth),
        (Source::Keycloak, tokens("keycloak", &a.keycloak_tokens)?),
        (Source::Auth0, tokens("auth0", &a.auth0_tokens)?),
    ]);
    let mut config = Config::new(auth, orgs(&a.mapping)?);
    config.max_events = a.max_events;
    config.max_body_bytes = a.max_body_bytes;
    config.retry_after_secs = a.retry_after_secs;
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let config = config(&a)?;
    a.kafka.check().await?;
    let sink = sink(&a.kafka, &a.mapping, a.max_inflight_events)?;
    let metrics = server::install_metrics().map_err(anyhow::Error::msg)?;
    let listener = super::bind(a.listen).await?;
    let enabled: Vec<&str> = Source::ALL
        .into_iter()
        .filter(|s| config.auth.get(s).is_some_and(SourceAuth::enabled))
        .map(Source::name)
        .collect();
    tracing::info!(addr = %a.listen, sources = ?enabled, topic = %sink.options().topic, "collector listening");
    server::serve(
        listener,
        config,
        sink,
        Some(metrics),
        super::shutdown_signal(),
    )
    .await?;
    tracing::info!("collector stopped");
    Ok(())
}
