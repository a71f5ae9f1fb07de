//! `authpulse`: one binary, one subcommand per role.

mod bench;
mod demo;
mod loadgen_cmd;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "authpulse",
    version,
    about = "Identity and authentication analytics: Kafka → ClickHouse → report APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Serve Prometheus metrics here.
    #[arg(long, env = "AUTHPULSE_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
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
    /// Read or change system configuration kept in ClickHouse
    /// (`audit_retention_days`, default 365).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Produce a load-generator stream (multi-tenant auth traffic with late
    /// events, re-sends and poison) to the broker.
    Loadgen(loadgen_cmd::LoadgenArgs),
    /// Benchmark ingest, report latency, freshness, memory and distinct-user
    /// accuracy against running servers (deploy/local/bench.sh).
    Bench(bench::BenchArgs),
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
        ConfigAction::Set { store, key, value } => {
            let value = store_for(&store).config_set(&key, &value).await?;
            println!("{key} = {value}");
        }
        ConfigAction::Get { store, key } => {
            if !authpulse_rollup::CONFIG_KEYS.contains(&key.as_str()) {
                anyhow::bail!(
                    "unknown configuration key {key:?} (known: {})",
                    authpulse_rollup::CONFIG_KEYS.join(", ")
                );
            }
            match store_for(&store).config_get(&key).await? {
                Some(v) => println!("{v}"),
                None => {
                    eprintln!("{key} is not set; using the default");
                    println!("{}", authpulse_rollup::DEFAULT_AUDIT_RETENTION_DAYS);
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
    config.report_tz = authpulse_rollup::parse_tz(&a.report_tz)?;
    config.stat_scope = a.stat_scope.clone();
    config.stat_cache_ttl = Duration::from_secs(a.stat_cache_secs);
    Ok(config)
}

fn zones(names: &[String]) -> anyhow::Result<Vec<chrono_tz::Tz>> {
    Ok(names
        .iter()
        .map(|n| authpulse_rollup::parse_tz(n.trim()))
        .collect::<Result<_, _>>()?)
}

fn store_for(s: &Store) -> authpulse_rollup::Store {
    authpulse_rollup::Store::new(
        authpulse_rollup::client(&s.clickhouse_url).with_database(&s.database),
    )
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
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
                        authpulse_rollup::cluster_ddl(c, &store.database, &zones(&timezones)?)
                    }
                    None => anyhow::bail!("--print renders cluster DDL: give --cluster NAME"),
                };
                println!("{ddl}");
                return Ok(());
            }
            let report = authpulse_rollup::migrate(
                &authpulse_rollup::client(&store.clickhouse_url),
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
                authpulse_rollup::set_raw_retention(
                    &authpulse_rollup::client(&store.clickhouse_url),
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
            authpulse_ingest::run(ingest_config(&store, &kafka, &ingest), shutdown_signal())
                .await?;
            tracing::info!("ingest stopped cleanly");
        }
        Command::Api { store, api } => {
            let listener = tokio::net::TcpListener::bind(api.listen)
                .await
                .with_context(|| format!("binding {}", api.listen))?;
            tracing::info!(addr = %api.listen, "api listening");
            authpulse_api::serve(
                listener,
                api_config(&api)?,
                store_for(&store),
                shutdown_signal(),
            )
            .await?;
        }
        Command::Config { action } => config(action).await?,
        Command::Loadgen(args) => loadgen_cmd::run(args).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::Sketch { action } => sketch(action).await?,
        Command::Demo {
            kafka,
            count,
            hours,
        } => {
            let n = demo::produce(
                &kafka.brokers,
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
    let report = authpulse_rollup::migrate(
        &authpulse_rollup::client(&store.clickhouse_url),
        &store.database,
        &zones(std::slice::from_ref(&api.report_tz))?,
        None,
    )
    .await?;
    tracing::info!(applied = report.applied.len(), "migrations done");
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
        store_for(&store),
        wait(rx.clone()),
    ));
    if demo_events > 0 {
        let n = demo::produce(&kafka.brokers, &kafka.topics[0], &demo).await?;
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
            let tz = authpulse_rollup::parse_tz(&tz)?;
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
            let range = authpulse_rollup::Range::months(tz, (y, m), (y, m))?;
            let s = store_for(&store).export_month_sketch(range, &scope).await?;
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
                    authpulse_rollup::PortableSketch::from_json(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let u = authpulse_rollup::union_sketches(&sketches)?;
            if let Some(out) = out {
                std::fs::write(out, u.to_json())?;
            }
            println!("{:.0}", u.estimate());
        }
    }
    Ok(())
}
