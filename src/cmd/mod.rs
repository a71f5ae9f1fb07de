//! One module per subcommand, each owning its clap arguments and its `run`
//! (the shape of tokio-rs/mini-redis's `cmd/`). How to reach ClickHouse and
//! Kafka is declared once, in [`servers`], and flattened into every
//! subcommand that talks to them.

pub mod api;
pub mod collect;
pub mod config;
pub mod demo;
pub mod import;
pub mod ingest;
pub mod loadgen;
pub mod migrate;
pub mod servers;
pub mod sketch;
pub mod up;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// Apply the ClickHouse migrations (idempotent).
    Migrate(migrate::Args),
    /// Consume auth events from Kafka into ClickHouse.
    Ingest(ingest::Args),
    /// Serve the report APIs.
    Api(api::Args),
    /// Accept identity-provider events over HTTP (FusionAuth, Keycloak,
    /// Auth0, contract) and produce them to Kafka (docs/sources/).
    Collect(collect::Args),
    /// Backfill a file of source events (NDJSON or the vendor's export) through
    /// the collector's mapping; re-importing counts nothing twice.
    Import(import::Args),
    /// Read or change system configuration kept in ClickHouse
    /// (`audit_retention_days`, default 365).
    Config {
        #[command(subcommand)]
        action: config::Action,
    },
    /// Produce a load-generator stream (multi-tenant auth traffic with late
    /// events, re-sends and poison) to the broker.
    Loadgen(loadgen::Args),
    /// Produce demo login events to the broker.
    Demo(demo::Args),
    /// Portable distinct-user sketches: export a month, union files from
    /// several deployments (docs/scaling.md).
    Sketch {
        #[command(subcommand)]
        action: sketch::Action,
    },
    /// Run migrate + ingest + api in one process with demo traffic (servers
    /// must be up: deploy/local/up.sh starts them and runs this).
    Up(up::Args),
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate(args) => migrate::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::Api(args) => api::run(args).await,
        Command::Collect(args) => collect::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Config { action } => config::run(action).await,
        Command::Loadgen(args) => loadgen::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Sketch { action } => sketch::run(action).await,
        Command::Up(args) => up::run(args).await,
    }
}

/// The listening socket, or an error naming the address.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Resolves on SIGINT or SIGTERM: what stops `ingest` (after it stores and
/// commits what it holds), `api`, `collect` and `up`.
pub async fn shutdown_signal() {
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
