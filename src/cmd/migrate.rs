//! `authpulse migrate`: apply the ClickHouse migrations, or print the
//! cluster DDL.

use authpulse_store::Cluster;

use super::servers::StoreArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Report timezones to keep distinct-user sketches for.
    #[arg(
        long,
        env = "AUTHPULSE_TIMEZONES",
        value_delimiter = ',',
        default_value = "UTC"
    )]
    pub timezones: Vec<String>,
    /// Lay the schema out on this ClickHouse cluster, with the cluster
    /// database `<database>_cluster` (Distributed tables under the same
    /// names) for ingest, the API and Grafana; see docs/scaling.md.
    #[arg(long, env = "AUTHPULSE_CLUSTER")]
    pub cluster: Option<String>,
    /// How --cluster lays the schema out: `replicated` (Replicated engines,
    /// ON CLUSTER; needs Keeper; applied once) or `sharded` (single-node
    /// engines and each node's own cluster database; no Keeper; apply to
    /// each shard's node with its --clickhouse-url).
    #[arg(
        long,
        env = "AUTHPULSE_CLUSTER_LAYOUT",
        value_enum,
        default_value = "replicated",
        requires = "cluster"
    )]
    pub cluster_layout: Layout,
    /// Print the DDL instead of applying it.
    #[arg(long)]
    pub print: bool,
    /// Keep raw events this many days of event time (TTL; rollups are
    /// kept regardless). Unset: leave the current TTL (400 days at first).
    #[arg(long, env = "AUTHPULSE_RAW_RETENTION_DAYS")]
    pub raw_retention_days: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    Replicated,
    Sharded,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let Args {
        store,
        timezones,
        cluster,
        cluster_layout,
        print,
        raw_retention_days,
    } = a;
    let cluster = cluster.as_deref().map(|name| match cluster_layout {
        Layout::Replicated => Cluster::Replicated(name),
        Layout::Sharded => Cluster::Sharded(name),
    });
    if print {
        let ddl = match cluster {
            Some(c) => authpulse_store::cluster_ddl(c, &store.database, &zones(&timezones)?),
            None => anyhow::bail!("--print renders cluster DDL: give --cluster NAME"),
        };
        println!("{ddl}");
        return Ok(());
    }
    let client = store.checked_client().await?;
    let report =
        authpulse_store::migrate(&client, &store.database, &zones(&timezones)?, cluster).await?;
    println!(
        "applied {} migration(s), {} already applied; report timezones added: {:?}",
        report.applied.len(),
        report.already,
        report.zones_added
    );
    if let Some(days) = raw_retention_days {
        authpulse_store::set_raw_retention(&client, &store.database, days, cluster).await?;
        println!("raw retention: {days} days");
    }
    Ok(())
}

/// The named report timezones, each checked.
pub fn zones(names: &[String]) -> anyhow::Result<Vec<chrono_tz::Tz>> {
    Ok(names
        .iter()
        .map(|n| authpulse_store::parse_tz(n.trim()))
        .collect::<Result<_, _>>()?)
}
