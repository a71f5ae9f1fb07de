//! `authpulse api`: the report APIs (authpulse-api), until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use super::servers::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// The server's own settings (`api` and `up`).
#[derive(clap::Args, Clone)]
pub struct ApiArgs {
    /// Address the API listens on.
    #[arg(long, env = "AUTHPULSE_API_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Accepted API keys (comma-separated), sent as the raw Authorization header.
    #[arg(long = "api-key", env = "AUTHPULSE_API_KEYS", value_delimiter = ',')]
    pub api_keys: Vec<String>,
    /// IANA timezone report intervals are counted in.
    #[arg(long, env = "AUTHPULSE_REPORT_TZ", default_value = "UTC")]
    pub report_tz: String,
    /// Auth config file (API keys with scopes, JWT keys, org memberships):
    /// see docs/auth.md.
    #[arg(long, env = "AUTHPULSE_AUTH_CONFIG")]
    pub auth_config: Option<std::path::PathBuf>,
    /// Scope a bearer token needs for the Janssen stat endpoint.
    #[arg(long, env = "AUTHPULSE_STAT_SCOPE", default_value = "jans_stat")]
    pub stat_scope: String,
    /// Seconds a Janssen stat answer is cached.
    #[arg(long, env = "AUTHPULSE_STAT_CACHE_SECS", default_value_t = 3600)]
    pub stat_cache_secs: u64,
    /// Seconds before an unanswered request gets 503.
    #[arg(long, env = "AUTHPULSE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Largest request body accepted, in bytes (413 above).
    #[arg(long, env = "AUTHPULSE_BODY_LIMIT_BYTES", default_value_t = 1 << 20)]
    pub body_limit_bytes: usize,
    /// Requests querying ClickHouse at once; more wait, then get 503.
    #[arg(long, env = "AUTHPULSE_MAX_STORE_REQUESTS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_store_requests: u32,
    /// Requests allowed to wait for a ClickHouse slot (beyond: 503 at once).
    #[arg(long, env = "AUTHPULSE_STORE_QUEUE", default_value_t = 256)]
    pub store_queue: usize,
    /// Milliseconds a request waits for a ClickHouse slot before 503.
    #[arg(long, env = "AUTHPULSE_STORE_WAIT_MS", default_value_t = 2000)]
    pub store_wait_ms: u64,
    /// Milliseconds between reads of the report tables' fingerprints: a
    /// cached answer is at most this much behind a write (0: no cache).
    #[arg(long, env = "AUTHPULSE_REPORT_CACHE_POLL_MS", default_value_t = 100)]
    pub report_cache_poll_ms: u64,
    /// Memory the report cache may hold, in MiB (rarely used entries go
    /// first).
    #[arg(long, env = "AUTHPULSE_REPORT_CACHE_MB", default_value_t = 256)]
    pub report_cache_mb: u64,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let config = config(&a.api)?;
    let client = a.store.checked_client().await?;
    let listener = super::bind(a.api.listen).await?;
    tracing::info!(addr = %a.api.listen, "api listening");
    authpulse_api::serve(
        listener,
        config,
        authpulse_store::Store::new(client.with_database(&a.store.database)),
        super::shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// The library's configuration from the flags; fails naming an unreadable
/// auth config or a missing key.
pub fn config(a: &ApiArgs) -> anyhow::Result<authpulse_api::Config> {
    let auth = match &a.auth_config {
        Some(path) => authpulse_api::Authenticator::from_file(path, &a.api_keys)
            .map_err(|e| anyhow::anyhow!("auth config {}: {e}", path.display()))?,
        None if a.api_keys.is_empty() => anyhow::bail!("give --api-key or --auth-config"),
        None => authpulse_api::Authenticator::with_api_keys(&a.api_keys),
    };
    let mut config = authpulse_api::Config::new(auth);
    config.report_tz = authpulse_store::parse_tz(&a.report_tz)?;
    config.stat_scope = a.stat_scope.clone();
    config.stat_cache_ttl = Duration::from_secs(a.stat_cache_secs);
    config.request_timeout = Duration::from_secs(a.request_timeout_secs);
    config.body_limit = a.body_limit_bytes;
    config.metrics = Some(authpulse_api::MetricsRender(std::sync::Arc::new(
        authpulse_ingest::metrics::prometheus(),
    )));
    config.limits = authpulse_api::overload::Limits {
        max_in_flight: a.max_store_requests as usize,
        max_waiting: a.store_queue,
        max_wait: Duration::from_millis(a.store_wait_ms),
    };
    config.cache = authpulse_api::cache::Settings {
        poll: Duration::from_millis(a.report_cache_poll_ms),
        max_bytes: a.report_cache_mb << 20,
    };
    Ok(config)
}
