//! `authpulse`: one binary, one subcommand per role.

mod collect_cmd;
mod config_file;
mod demo;
mod import_cmd;
mod loadgen_cmd;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "authpulse",
    version,
    about = "Identity and authentication analytics: Kafka → ClickHouse → report APIs"
)]
struct Cli {
    /// Configuration file (TOML; keys are the AUTHPULSE_* names, lower-case,
    /// without the prefix). Precedence: flags > environment > file > defaults.
    #[arg(long, global = true, env = "AUTHPULSE_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Log format on stderr (`RUST_LOG` sets the levels).
    #[arg(
        long,
        global = true,
        env = "AUTHPULSE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    /// One JSON object per line (tracing-subscriber json).
    Json,
}

#[derive(Args, Clone)]
struct Store {
    /// ClickHouse HTTP URL.
    #[arg(
        long,
        env = "AUTHPULSE_CLICKHOUSE_URL",
        default_value = "http://127.0.0.1:8123"
    )]
    clickhouse_url: String,
    /// ClickHouse database holding the authpulse tables.
    #[arg(long, env = "AUTHPULSE_DATABASE", default_value = "authpulse")]
    database: String,
    /// User, password, CA (docs/security.md).
    #[command(flatten)]
    auth: authpulse_connect::ClickHouseOptions,
}

impl Store {
    /// The ClickHouse client (no database selected).
    fn client(&self) -> anyhow::Result<authpulse_connect::ClickHouseClient> {
        Ok(self.auth.client(&self.clickhouse_url)?)
    }

    /// The client, after checking that ClickHouse answers with these
    /// credentials (fails within the connect timeout, naming the cause).
    async fn checked_client(&self) -> anyhow::Result<authpulse_connect::ClickHouseClient> {
        let client = self.client()?;
        authpulse_connect::check_clickhouse(
            &client,
            &self.clickhouse_url,
            self.auth.connect_timeout(),
        )
        .await?;
        Ok(client)
    }
}

#[derive(Args, Clone)]
struct Kafka {
    /// Kafka bootstrap servers.
    #[arg(long, env = "AUTHPULSE_BROKERS", default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topic(s) carrying auth events (comma-separated).
    #[arg(
        long,
        env = "AUTHPULSE_TOPICS",
        default_value = "auth-events",
        value_delimiter = ','
    )]
    topics: Vec<String>,
    /// SASL, TLS, compression, librdkafka properties (docs/security.md).
    #[command(flatten)]
    security: authpulse_connect::KafkaOptions,
}

impl Kafka {
    /// Checks that the brokers answer with these options (fails within the
    /// connect timeout, naming the cause).
    async fn check(&self) -> anyhow::Result<()> {
        check_kafka(&self.brokers, &self.security).await
    }
}

/// `authpulse_connect::check_kafka` on a blocking thread.
async fn check_kafka(
    brokers: &str,
    options: &authpulse_connect::KafkaOptions,
) -> anyhow::Result<()> {
    let (brokers, options) = (brokers.to_string(), options.clone());
    tokio::task::spawn_blocking(move || authpulse_connect::check_kafka(&brokers, &options))
        .await??;
    Ok(())
}

#[derive(Args, Clone)]
struct ApiArgs {
    /// Address the API listens on.
    #[arg(long, env = "AUTHPULSE_API_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Accepted API keys (comma-separated), sent as the raw Authorization header.
    #[arg(long = "api-key", env = "AUTHPULSE_API_KEYS", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// IANA timezone report intervals are counted in.
    #[arg(long, env = "AUTHPULSE_REPORT_TZ", default_value = "UTC")]
    report_tz: String,
    /// Auth config file (API keys with scopes, JWT keys, org memberships):
    /// see docs/auth.md.
    #[arg(long, env = "AUTHPULSE_AUTH_CONFIG")]
    auth_config: Option<std::path::PathBuf>,
    /// Scope a bearer token needs for the Janssen stat endpoint.
    #[arg(long, env = "AUTHPULSE_STAT_SCOPE", default_value = "jans_stat")]
    stat_scope: String,
    /// Seconds a Janssen stat answer is cached.
    #[arg(long, env = "AUTHPULSE_STAT_CACHE_SECS", default_value_t = 3600)]
    stat_cache_secs: u64,
    /// Seconds before an unanswered request gets 503.
    #[arg(long, env = "AUTHPULSE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Largest request body accepted, in bytes (413 above).
    #[arg(long, env = "AUTHPULSE_BODY_LIMIT_BYTES", default_value_t = 1 << 20)]
    body_limit_bytes: usize,
    /// Requests querying ClickHouse at once; more wait, then get 503.
    #[arg(long, env = "AUTHPULSE_MAX_STORE_REQUESTS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_store_requests: u32,
    /// Requests allowed to wait for a ClickHouse slot (beyond: 503 at once).
    #[arg(long, env = "AUTHPULSE_STORE_QUEUE", default_value_t = 256)]
    store_queue: usize,
    /// Milliseconds a request waits for a ClickHouse slot before 503.
    #[arg(long, env = "AUTHPULSE_STORE_WAIT_MS", default_value_t = 2000)]
    store_wait_ms: u64,
}

#[derive(Args, Clone)]
struct IngestArgs {
    /// Consumer group shared by all ingest instances.
    #[arg(long, env = "AUTHPULSE_GROUP", default_value = "authpulse-ingest")]
    group: String,
    /// Dead-letter topic.
    #[arg(long, env = "AUTHPULSE_DLQ_TOPIC", default_value = "auth-events-dlq")]
    dlq_topic: String,
    /// Flush a partition's batch at this many messages.
    #[arg(long, env = "AUTHPULSE_BATCH_ROWS", default_value_t = 100_000)]
    batch_rows: usize,
    /// Flush a partition's batch at this many payload bytes.
    #[arg(long, env = "AUTHPULSE_BATCH_BYTES", default_value_t = 16 << 20)]
    batch_bytes: usize,
    /// Flush a partition's batch when it is this old (milliseconds).
    #[arg(long, env = "AUTHPULSE_BATCH_WAIT_MS", default_value_t = 500)]
    batch_wait_ms: u64,
    /// Serve Prometheus metrics, /healthz and /readyz here.
    #[arg(long, env = "AUTHPULSE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Dead-letter events more than this many seconds ahead of the clock.
    #[arg(long, env = "AUTHPULSE_MAX_FUTURE_SKEW_SECS", default_value_t = 86_400)]
    max_future_skew_secs: u64,
    /// Operator replay: re-read every partition of the topics from this
    /// offset or RFC 3339 time (under group `<group>-replay-<start>`),
    /// store only events never stored, exit when caught up
    /// (docs/delivery.md, "Replay").
    #[arg(long, value_parser = authpulse_ingest::ReplayFrom::parse)]
    replay_from: Option<authpulse_ingest::ReplayFrom>,
    /// Consumer group protocol: classic, or consumer (KIP-848, broker-side
    /// assignment; needs Kafka >= 4.0); see docs/delivery.md.
    #[arg(long, env = "AUTHPULSE_GROUP_PROTOCOL", default_value = "classic")]
    group_protocol: authpulse_ingest::GroupProtocol,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the ClickHouse migrations (idempotent).
    Migrate {
        #[command(flatten)]
        store: Store,
        /// Report timezones to keep distinct-user sketches for.
        #[arg(
            long,
            env = "AUTHPULSE_TIMEZONES",
            value_delimiter = ',',
            default_value = "UTC"
        )]
        timezones: Vec<String>,
        /// Render the DDL for this ClickHouse cluster (ON CLUSTER, Replicated
        /// engines, Distributed tables); see docs/scaling.md.
        #[arg(long, env = "AUTHPULSE_CLUSTER")]
        cluster: Option<String>,
        /// Print the DDL instead of applying it.
        #[arg(long)]
        print: bool,
        /// Keep raw events this many days of event time (TTL; rollups are
        /// kept regardless). Unset: leave the current TTL (400 days at first).
        #[arg(long, env = "AUTHPULSE_RAW_RETENTION_DAYS")]
        raw_retention_days: Option<u32>,
    },
    /// Consume auth events from Kafka into ClickHouse.
    Ingest {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        kafka: Kafka,
        #[command(flatten)]
        ingest: IngestArgs,
    },
    /// Serve the report APIs.
    Api {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Accept identity-provider events over HTTP (FusionAuth, Keycloak,
    /// Auth0, contract) and produce them to Kafka (docs/sources/).
    Collect {
        #[command(flatten)]
        kafka: Kafka,
        #[command(flatten)]
        collect: collect_cmd::CollectArgs,
    },
    /// Backfill a file of source events (NDJSON or the vendor's export) through
    /// the collector's mapping; re-importing counts nothing twice.
    Import {
        #[command(flatten)]
        kafka: Kafka,
        #[command(flatten)]
        import: import_cmd::ImportArgs,
    },
    /// Read or change system configuration kept in ClickHouse
    /// (`audit_retention_days`, default 365).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Produce a load-generator stream (multi-tenant auth traffic with late
    /// events, re-sends and poison) to the broker.
    Loadgen(loadgen_cmd::LoadgenArgs),
    /// Produce demo login events to the broker.
    Demo {
        #[command(flatten)]
        kafka: Kafka,
        /// Number of events.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Spread the events over this many hours before now.
        #[arg(long, default_value_t = 24 * 30)]
        hours: u32,
    },
    /// Portable distinct-user sketches: export a month, union files from
    /// several deployments (docs/scaling.md).
    Sketch {
        #[command(subcommand)]
        action: SketchAction,
    },
    /// Run migrate + ingest + api in one process with demo traffic (servers
    /// must be up: deploy/local/up.sh starts them and runs this).
    Up {
        #[command(flatten)]
        store: Store,
        #[command(flatten)]
        kafka: Kafka,
        #[command(flatten)]
        ingest: IngestArgs,
        #[command(flatten)]
        api: ApiArgs,
        /// Demo events produced at start.
        #[arg(long, default_value_t = 2000)]
        demo_events: u64,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the configuration-file / environment reference (markdown), as
    /// in docs/operations.md.
    Reference,
    /// Set a key: `authpulse config set --key audit_retention_days --value 365`.
    Set {
        #[command(flatten)]
        store: Store,
        /// Configuration key (known: audit_retention_days).
        #[arg(long)]
        key: String,
        /// New value (validated for the key).
        #[arg(long)]
        value: String,
    },
    /// Print the value of a key (its default when unset).
    Get {
        #[command(flatten)]
        store: Store,
        /// Configuration key (known: audit_retention_days).
        #[arg(long)]
        key: String,
    },
}

async fn config(action: ConfigAction) -> anyhow::Result<()> {
    match action {
        ConfigAction::Reference => print!("{}", config_file::reference(&Cli::command())),
        ConfigAction::Set { store, key, value } => {
            let value = store_for(&store)?.config_set(&key, &value).await?;
            println!("{key} = {value}");
        }
        ConfigAction::Get { store, key } => {
            if !authpulse_store::CONFIG_KEYS.contains(&key.as_str()) {
                anyhow::bail!(
                    "unknown configuration key {key:?} (known: {})",
                    authpulse_store::CONFIG_KEYS.join(", ")
                );
            }
            match store_for(&store)?.config_get(&key).await? {
                Some(v) => println!("{v}"),
                None => {
                    eprintln!("{key} is not set; using the default");
                    println!("{}", authpulse_store::DEFAULT_AUDIT_RETENTION_DAYS);
                }
            }
        }
    }
    Ok(())
}

fn ingest_config(store: &Store, kafka: &Kafka, a: &IngestArgs) -> authpulse_ingest::Config {
    authpulse_ingest::Config {
        brokers: kafka.brokers.clone(),
        group_id: a.group.clone(),
        topics: kafka.topics.clone(),
        dlq_topic: a.dlq_topic.clone(),
        clickhouse_url: store.clickhouse_url.clone(),
        database: store.database.clone(),
        batch_max_rows: a.batch_rows,
        batch_max_bytes: a.batch_bytes,
        batch_max_wait: Duration::from_millis(a.batch_wait_ms),
        metrics_addr: a.metrics_listen,
        kafka: kafka.security.clone(),
        clickhouse: store.auth.clone(),
        max_future_skew: Duration::from_secs(a.max_future_skew_secs),
        replay_from: a.replay_from.clone(),
        group_protocol: a.group_protocol,
        ..authpulse_ingest::Config::default()
    }
}

fn api_config(a: &ApiArgs) -> anyhow::Result<authpulse_api::Config> {
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
    Ok(config)
}

fn zones(names: &[String]) -> anyhow::Result<Vec<chrono_tz::Tz>> {
    Ok(names
        .iter()
        .map(|n| authpulse_store::parse_tz(n.trim()))
        .collect::<Result<_, _>>()?)
}

fn store_for(s: &Store) -> anyhow::Result<authpulse_store::Store> {
    Ok(authpulse_store::Store::new(
        s.client()?.with_database(&s.database),
    ))
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

fn main() -> anyhow::Result<()> {
    // The file's settings become environment variables before anything
    // else runs (no other thread yet), then clap reads flags and env.
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = config_file::path_from(&args) {
        config_file::apply(&config_file::read(&Cli::command(), &path)?);
    }
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    tokio::runtime::Runtime::new()?.block_on(run(cli.command))
}

/// What `/readyz` of ingest checks: the same ClickHouse and brokers.
fn ingest_readiness(store: &Store, kafka: &Kafka) -> anyhow::Result<()> {
    authpulse_ingest::metrics::set_readiness(
        store.client()?.with_database(&store.database),
        kafka.security.client_config(&kafka.brokers),
    );
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate {
            store,
            timezones,
            cluster,
            print,
            raw_retention_days,
        } => {
            if print {
                let ddl = match &cluster {
                    Some(c) => {
                        authpulse_store::cluster_ddl(c, &store.database, &zones(&timezones)?)
                    }
                    None => anyhow::bail!("--print renders cluster DDL: give --cluster NAME"),
                };
                println!("{ddl}");
                return Ok(());
            }
            let client = store.checked_client().await?;
            let report = authpulse_store::migrate(
                &client,
                &store.database,
                &zones(&timezones)?,
                cluster.as_deref(),
            )
            .await?;
            println!(
                "applied {} migration(s), {} already applied; report timezones added: {:?}",
                report.applied.len(),
                report.already,
                report.zones_added
            );
            if let Some(days) = raw_retention_days {
                authpulse_store::set_raw_retention(
                    &client,
                    &store.database,
                    days,
                    cluster.as_deref(),
                )
                .await?;
                println!("raw retention: {days} days");
            }
        }
        Command::Ingest {
            store,
            kafka,
            ingest,
        } => {
            // Fail fast on a wrong password, an untrusted certificate or an
            // unreachable server, instead of retrying quietly.
            store.checked_client().await?;
            kafka.check().await?;
            ingest_readiness(&store, &kafka)?;
            authpulse_ingest::run(ingest_config(&store, &kafka, &ingest), shutdown_signal())
                .await?;
            tracing::info!("ingest stopped cleanly");
        }
        Command::Api { store, api } => {
            let config = api_config(&api)?;
            let client = store.checked_client().await?;
            let listener = tokio::net::TcpListener::bind(api.listen)
                .await
                .with_context(|| format!("binding {}", api.listen))?;
            tracing::info!(addr = %api.listen, "api listening");
            authpulse_api::serve(
                listener,
                config,
                authpulse_store::Store::new(client.with_database(&store.database)),
                shutdown_signal(),
            )
            .await?;
        }
        Command::Collect { kafka, collect } => {
            collect_cmd::run(&kafka, collect, shutdown_signal()).await?
        }
        Command::Import { kafka, import } => import_cmd::run(&kafka, import).await?,
        Command::Config { action } => config(action).await?,
        Command::Loadgen(args) => loadgen_cmd::run(args).await?,
        Command::Sketch { action } => sketch(action).await?,
        Command::Demo {
            kafka,
            count,
            hours,
        } => {
            kafka.check().await?;
            let n = demo::produce(
                &kafka.brokers,
                &kafka.security,
                &kafka.topics[0],
                &demo::profile(count, hours),
            )
            .await?;
            println!("produced {n} demo events to {}", kafka.topics[0]);
        }
        Command::Up {
            store,
            kafka,
            ingest,
            api,
            demo_events,
        } => up(store, kafka, ingest, api, demo_events).await?,
    }
    Ok(())
}

async fn up(
    store: Store,
    kafka: Kafka,
    ingest: IngestArgs,
    api: ApiArgs,
    demo_events: u64,
) -> anyhow::Result<()> {
    let client = store.checked_client().await?;
    kafka.check().await?;
    let report = authpulse_store::migrate(
        &client,
        &store.database,
        &zones(std::slice::from_ref(&api.report_tz))?,
        None,
    )
    .await?;
    tracing::info!(applied = report.applied.len(), "migrations done");
    ingest_readiness(&store, &kafka)?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let ingest_task = tokio::spawn(authpulse_ingest::run(
        ingest_config(&store, &kafka, &ingest),
        wait(rx.clone()),
    ));
    let demo = demo::profile(demo_events, 24 * 30);
    let orgs = demo::org_slugs(&demo);
    let mut config = api_config(&api)?;
    if api.auth_config.is_none() {
        // The demo key gets every scope and membership of the demo orgs, so
        // the org analytics answer it too.
        let memberships: serde_json::Map<String, serde_json::Value> = orgs
            .iter()
            .map(|o| (o.clone(), serde_json::json!("Admin")))
            .collect();
        let keys: Vec<serde_json::Value> = api
            .api_keys
            .iter()
            .map(|k| serde_json::json!({"key": k, "name": "demo", "scopes": ["*"], "memberships": memberships}))
            .collect();
        let json = serde_json::json!({ "api_keys": keys }).to_string();
        let auth = authpulse_api::Authenticator::from_json(&json, std::path::Path::new("."), &[])
            .map_err(|e| anyhow::anyhow!("demo auth: {e}"))?;
        config.auth = std::sync::Arc::new(auth);
    }
    let listener = tokio::net::TcpListener::bind(api.listen)
        .await
        .with_context(|| format!("binding {}", api.listen))?;
    let api_task = tokio::spawn(authpulse_api::serve(
        listener,
        config,
        store_for(&store)?,
        wait(rx.clone()),
    ));
    if demo_events > 0 {
        let n = demo::produce(&kafka.brokers, &kafka.security, &kafka.topics[0], &demo).await?;
        tracing::info!(
            events = n,
            "demo traffic produced (last 30 days, every event type)"
        );
    }
    let now = chrono::Utc::now();
    let (end, month_ago) = (
        now.timestamp_millis(),
        (now - chrono::Duration::days(30)).timestamp_millis(),
    );
    let key = api.api_keys.first().cloned().unwrap_or_default();
    let (base, org, month) = (
        format!("http://{}", api.listen),
        &orgs[0],
        now.format("%Y%m"),
    );
    println!(
        "
authpulse is up. Demo traffic: {demo_events} events of every type over the last 30 days.

  API (key {key}; OpenAPI at {base}/openapi.json, examples in docs/api.md)
    curl -s -H 'Authorization: {key}' '{base}/api/report/login?start={month_ago}&end={end}'
    curl -s -H 'Authorization: {key}' '{base}/api/report/daily-active-users?start={month_ago}&end={end}'
    curl -s -H 'Authorization: {key}' '{base}/api/report/totals'
    curl -s -H 'Authorization: Bearer {key}' '{base}/jans-auth/restv1/internal/stat?month={month}'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/organizations/{org}/analytics/login-trends'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/admin/stats'
    curl -s -H 'Authorization: Bearer {key}' '{base}/api/admin/audit?pageSize=5'
    curl -s '{base}/jans-auth/sys/health-check'
  Ingest metrics: http://{metrics}/metrics
  ClickHouse:     {ch}  (database {db}; Grafana dashboard in deploy/grafana/)
    curl -s '{ch}/?query=SELECT+reason,count()+FROM+{db}.dead_letters+GROUP+BY+reason'
  Kafka:          {brokers}  topic {topic} (dead letters: {dlq})
Ctrl-C stops everything.
",
        metrics = ingest.metrics_listen.map(|a| a.to_string()).unwrap_or_else(|| "(not served)".into()),
        ch = store.clickhouse_url,
        db = store.database,
        brokers = kafka.brokers,
        topic = kafka.topics[0],
        dlq = ingest.dlq_topic,
    );
    shutdown_signal().await;
    let _ = tx.send(true);
    ingest_task.await??;
    api_task.await??;
    Ok(())
}

#[derive(Subcommand)]
enum SketchAction {
    /// Build a month's distinct-user HyperLogLog from the raw logins, store a
    /// copy in ClickHouse and write it to a file.
    Export {
        #[command(flatten)]
        store: Store,
        /// Local month, yyyyMM.
        #[arg(long)]
        month: String,
        /// Timezone whose calendar month is meant.
        #[arg(long, env = "AUTHPULSE_REPORT_TZ", default_value = "UTC")]
        tz: String,
        /// Name of what this sketch covers (deployment, region).
        #[arg(long, default_value = "local")]
        scope: String,
        /// Output file (JSON).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Union sketch files of the same month; prints the distinct-user estimate.
    Union {
        /// Sketch files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// Also write the union sketch here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

async fn sketch(action: SketchAction) -> anyhow::Result<()> {
    match action {
        SketchAction::Export {
            store,
            month,
            tz,
            scope,
            out,
        } => {
            let tz = authpulse_store::parse_tz(&tz)?;
            let bad = || anyhow::anyhow!("--month must be yyyyMM, not {month:?}");
            let (y, m) = (
                month
                    .get(..4)
                    .and_then(|y| y.parse::<i32>().ok())
                    .ok_or_else(bad)?,
                month
                    .get(4..)
                    .and_then(|m| m.parse::<u32>().ok())
                    .ok_or_else(bad)?,
            );
            let range = authpulse_store::Range::months(tz, (y, m), (y, m))?;
            let s = store_for(&store)?
                .export_month_sketch(range, &scope)
                .await?;
            std::fs::write(&out, s.to_json())?;
            println!(
                "{} {} {}: ~{:.0} distinct users -> {}",
                s.month,
                s.tz,
                s.scope,
                s.estimate(),
                out.display()
            );
        }
        SketchAction::Union { files, out } => {
            let sketches = files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(f)?;
                    authpulse_store::PortableSketch::from_json(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let u = authpulse_store::union_sketches(&sketches)?;
            if let Some(out) = out {
                std::fs::write(out, u.to_json())?;
            }
            println!("{:.0}", u.estimate());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clap's own consistency checks (unique argument ids across the
    /// flattened option groups, ...), which otherwise fire only at run time.
    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    const REF_START: &str = "<!-- config-reference:start (generated from the CLI: AUTHPULSE_UPDATE_DOCS=1 cargo test --bin authpulse config_reference) -->\n";
    const REF_END: &str = "<!-- config-reference:end -->";

    /// docs/operations.md carries the reference generated from the clap
    /// definitions; `AUTHPULSE_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn config_reference_matches_the_cli() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (head, rest) = doc.split_once(REF_START).expect("reference start marker");
        let (current, tail) = rest.split_once(REF_END).expect("reference end marker");
        let generated = config_file::reference(&Cli::command());
        if std::env::var_os("AUTHPULSE_UPDATE_DOCS").is_some() {
            std::fs::write(
                &path,
                format!("{head}{REF_START}{generated}{REF_END}{tail}"),
            )
            .unwrap();
            return;
        }
        assert_eq!(
            current, generated,
            "docs/operations.md is stale: AUTHPULSE_UPDATE_DOCS=1 cargo test --bin authpulse config_reference"
        );
    }

    #[test]
    fn config_file_keys_are_the_env_names() {
        let cmd = Cli::command();
        let got = config_file::parse(
            &cmd,
            "batch_rows = 5000\ntopics = [\"a\", \"b\"]\nlog_format = \"json\"\napi_listen = \"0.0.0.0:8080\"\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                ("AUTHPULSE_API_LISTEN", "0.0.0.0:8080"),
                ("AUTHPULSE_BATCH_ROWS", "5000"),
                ("AUTHPULSE_LOG_FORMAT", "json"),
                ("AUTHPULSE_TOPICS", "a,b"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        for (bad, named) in [
            ("batch_rowz = 1", "batch_rowz"),
            ("BATCH_ROWS = 1", "BATCH_ROWS"),
            ("config = \"x.toml\"", "config"),
            ("[ingest]\nbatch_rows = 1", "ingest"),
        ] {
            let e = format!("{:#}", config_file::parse(&cmd, bad).unwrap_err());
            assert!(e.contains(named), "{bad:?} -> {e}");
        }
        assert!(config_file::parse(&cmd, "batch_rows = [[1]]").is_err());
        // Every env-named setting has a key, and the keys are unique.
        let settings = config_file::settings(&cmd);
        for key in [
            "clickhouse_url",
            "brokers",
            "group",
            "api_keys",
            "metrics_listen",
            "report_tz",
            "raw_retention_days",
        ] {
            assert!(settings.values().any(|s| s.key() == key), "{key}");
        }
    }

    /// flags > environment > file > defaults. The only test in this binary
    /// touching these two variables (process-wide environment).
    #[test]
    fn config_file_precedence() {
        let cmd = Cli::command();
        let file = config_file::parse(
            &cmd,
            "stat_scope = \"from-file\"\nstat_cache_secs = 7\nrequest_timeout_secs = 9\n",
        )
        .unwrap();
        std::env::set_var("AUTHPULSE_STAT_CACHE_SECS", "8");
        config_file::apply(&file);
        let api = |extra: &[&str]| {
            let mut args = vec!["authpulse", "api", "--api-key", "k"];
            args.extend_from_slice(extra);
            match Cli::try_parse_from(args).unwrap().command {
                Command::Api { api, .. } => api,
                _ => unreachable!(),
            }
        };
        let a = api(&[]);
        assert_eq!(
            (
                a.stat_scope.as_str(),
                a.stat_cache_secs,
                a.request_timeout_secs
            ),
            ("from-file", 8, 9)
        );
        let a = api(&["--stat-scope", "from-flag", "--stat-cache-secs", "6"]);
        assert_eq!((a.stat_scope.as_str(), a.stat_cache_secs), ("from-flag", 6));
        // Defaults stay for what nobody set.
        assert_eq!(a.body_limit_bytes, 1 << 20);
        for k in [
            "AUTHPULSE_STAT_SCOPE",
            "AUTHPULSE_STAT_CACHE_SECS",
            "AUTHPULSE_REQUEST_TIMEOUT_SECS",
        ] {
            std::env::remove_var(k);
        }
    }
}
