//! The ClickHouse schema and how a database gets to it.
//!
//! `store/sql/schema/` is the current schema, one file per subject, applied
//! in the order of [`SCHEMA`]; `zone_views.sql` there is applied once per
//! report timezone. `store/sql/migrations/` is the history: the forward
//! steps that took databases of earlier releases to the current schema,
//! recorded (version, file, checksum) in the ledger `schema_migrations` and
//! never edited once released (a changed checksum stops `migrate`).
//!
//! * A new database (no ledger rows, no tables) is built from the schema
//!   files directly, and the ledger records every migration as applied, with
//!   its file's checksum: the schema files are, by construction, what
//!   replaying every migration builds (tests/e2e_schema.rs compares the
//!   two), so the ledger of a new database looks like that of a replayed
//!   one and any release can read it.
//! * Any other database replays the migrations its ledger lacks, in order.
//!
//! A schema change is a new migration *and* the edit of its schema file
//! (docs/rollups.md, "Changing the schema").

use chrono_tz::Tz;
use clickhouse::sql::Identifier;
use clickhouse::{Client, Row};
use serde::Deserialize;

use crate::cluster::Cluster;
use crate::error::{Error, Excerpt, Result};

/// One migration file, embedded at build time.
struct Migration {
    version: u32,
    file: &'static str,
    sql: &'static str,
}

macro_rules! migrations {
    ($($version:literal => $file:literal),* $(,)?) => {
        &[$(Migration { version: $version, file: $file, sql: include_str!(concat!("../sql/migrations/", $file)) }),*]
    };
}

const MIGRATIONS: &[Migration] = migrations![
    1 => "0001_logins.sql",
    2 => "0002_raw_events.sql",
    3 => "0003_rollups.sql",
    4 => "0004_admin.sql",
    5 => "0005_portable_sketches.sql",
    6 => "0006_ingest_event_ids.sql",
    7 => "0007_coarse_rollups.sql",
    8 => "0008_audit_indexes.sql",
    9 => "0009_daily_active_snapshot.sql",
    10 => "0010_registration_hourly.sql",
    11 => "0011_global_sketches.sql",
    12 => "0012_snapshot_threads.sql",
    13 => "0013_audit_entity_history.sql",
    14 => "0014_audit_by_time.sql",
    15 => "0015_activity_snapshot.sql",
    16 => "0016_ingest_store_groups.sql",
    17 => "0017_snapshot_periods.sql",
    18 => "0018_monthly_active_snapshot.sql",
    19 => "0019_org_claims.sql",
    20 => "0020_ingest_claims.sql",
    21 => "0021_fresh_snapshots.sql",
    22 => "0022_org_owned_slugs.sql",
    23 => "0023_drop_unused.sql",
    24 => "0024_claims_by_time.sql",
    25 => "0025_drop_claims_by_id.sql",
    26 => "0026_login_events_by_time.sql",
];

/// One file of the current schema, embedded at build time.
struct SchemaFile {
    file: &'static str,
    sql: &'static str,
}

macro_rules! schema {
    ($($file:literal),* $(,)?) => {
        &[$(SchemaFile { file: $file, sql: include_str!(concat!("../sql/schema/", $file)) }),*]
    };
}

/// The current schema, in dependency order: a view comes after the tables
/// it reads and writes (raw tables and their rollups by subject, then the
/// organizations' views over every raw table, then the snapshots over the
/// rollups).
const SCHEMA: &[SchemaFile] = schema![
    "01_logins.sql",
    "02_registrations.sql",
    "03_tokens.sql",
    "04_sessions.sql",
    "05_audit.sql",
    "06_active_users.sql",
    "07_config.sql",
    "08_orgs.sql",
    "09_ingest.sql",
    "10_snapshots.sql",
];

/// Per report timezone: the current views (schema) and the upgrade of a
/// zone from an earlier layout (history).
const ZONE_VIEWS: &str = include_str!("../sql/schema/zone_views.sql");
const ZONE_LEVELS: &str = include_str!("../sql/migrations/zones/zone_levels.sql");

const CREATE_LEDGER: &str = include_str!("../sql/schema/00_ledger.sql");

/// What `migrate` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Migrations recorded as applied by this run (for a new database:
    /// every migration, covered by the schema files).
    pub applied: Vec<&'static str>,
    pub already: usize,
    /// Report timezones whose sketch views were created by this run.
    pub zones_added: Vec<String>,
    /// The database was new and was built from `store/sql/schema/`.
    pub from_schema: bool,
}

#[derive(Row, Deserialize)]
struct Zone {
    tz: String,
}

#[derive(Row, Deserialize)]
struct Applied {
    version: u32,
    checksum: String,
}

/// Creates `database` if needed and brings it to the current schema: a new
/// database from the schema files, any other by the migrations its ledger
/// lacks. Then makes sure each report timezone in `zones` has its
/// distinct-user sketch views (a new zone is backfilled from the retained
/// raw logins). `server` is a client without a database set.
///
/// With `cluster`, every statement is rendered for that ClickHouse cluster:
/// [`Cluster::Replicated`] (`ON CLUSTER`, Replicated engines, Distributed
/// `_all` tables; needs Keeper, as every replicated ClickHouse deployment
/// does), or [`Cluster::Sharded`] (single-node engines plus the `_all`
/// tables, for this one node; run it on every shard's node).
pub async fn migrate(
    server: &Client,
    database: &str,
    zones: &[Tz],
    cluster: Option<Cluster<'_>>,
) -> Result<Report> {
    if let Some(Cluster::Sharded(name)) = cluster {
        check_shard_node(server, name).await?;
    }
    let report = migrate_with(server, database, zones, cluster, None).await?;
    if let Some(c) = cluster {
        build_cluster_database(server, database, c).await?;
    }
    Ok(report)
}

/// Makes the cluster database (`<database>_cluster`) match the current
/// schema: what it holds is derived from the local database (no rows of
/// its own but the snapshots, which refill within a refresh period), so
/// a Distributed or snapshot table whose columns differ from its local
/// table is dropped and recreated, and views are always recreated from the
/// schema files. Also drops the `<table>_all` tables earlier releases put
/// beside the local tables.
async fn build_cluster_database(
    server: &Client,
    database: &str,
    cluster: Cluster<'_>,
) -> Result<()> {
    let global = crate::cluster::cluster_database(database);
    let on = cluster.on_cluster();
    let run = |db: &Client, sql: String| {
        let db = db.clone();
        async move {
            db.query(&sql)
                .execute()
                .await
                .map_err(|source| Error::Migration {
                    file: "cluster database",
                    index: 1,
                    excerpt: sql.chars().take(200).collect(),
                    source,
                })
        }
    };
    let leftovers: Vec<String> = server
        .query(
            "SELECT name FROM system.tables WHERE database = ? \
             AND engine = 'Distributed' AND endsWith(name, '_all')",
        )
        .bind(database)
        .fetch_all()
        .await?;
    for t in leftovers {
        run(
            server,
            format!("DROP TABLE IF EXISTS `{database}`.`{t}`{on} SYNC"),
        )
        .await?;
    }
    run(
        server,
        format!("CREATE DATABASE IF NOT EXISTS `{global}`{on}"),
    )
    .await?;
    let columns = |db: &str| {
        server
            .query(
                "SELECT table, arrayStringConcat(groupArray(concat(name, ' ', type)), ', ') FROM \
                 (SELECT table, name, type FROM system.columns WHERE database = ? ORDER BY table, position) \
                 GROUP BY table",
            )
            .bind(db.to_string())
            .fetch_all::<(String, String)>()
    };
    let local_cols: std::collections::HashMap<_, _> =
        columns(database).await?.into_iter().collect();
    let objects: Vec<(String, String)> = server
        .query("SELECT name, engine FROM system.tables WHERE database = ?")
        .bind(&global)
        .fetch_all()
        .await?;
    let global_cols: std::collections::HashMap<_, _> =
        columns(&global).await?.into_iter().collect();
    for (name, engine) in &objects {
        let stale = match engine.as_str() {
            "View" | "MaterializedView" => true,
            _ => global_cols.get(name) != local_cols.get(name),
        };
        if stale {
            run(
                server,
                format!("DROP TABLE IF EXISTS `{global}`.`{name}`{on} SYNC"),
            )
            .await?;
        }
    }
    let schema: Vec<&str> = SCHEMA.iter().map(|f| f.sql).collect();
    let db = server.clone().with_database(&global);
    for stmt in crate::cluster::cluster_database_ddl(&schema, cluster, database) {
        run(&db, stmt).await?;
    }
    tracing::info!(database = %global, "cluster database ready");
    Ok(())
}

/// The path of earlier releases, for tests of upgrades and of the schema
/// files: replays the migrations up to `version` (never the schema files),
/// then sets up `zones` as [`migrate`] does.
#[doc(hidden)]
pub async fn migrate_by_replay(
    server: &Client,
    database: &str,
    zones: &[Tz],
    version: u32,
) -> Result<Report> {
    if !MIGRATIONS.iter().any(|m| m.version == version) {
        return Err(Error::InvalidArgument(format!(
            "no migration has version {version}"
        )));
    }
    migrate_with(server, database, zones, None, Some(version)).await
}

/// A sharded migration is applied node by node, so a node that does not
/// know the cluster, or is not one of its shards, would get `_all` tables
/// that fail at the first read (or read another cluster): refused up front.
async fn check_shard_node(server: &Client, cluster: &str) -> Result<()> {
    let (shards, local): (u64, u64) = server
        .query(
            "SELECT uniqExact(shard_num), countIf(is_local) FROM system.clusters WHERE cluster = ?",
        )
        .bind(cluster)
        .fetch_one()
        .await?;
    if shards == 0 {
        return Err(Error::InvalidArgument(format!(
            "this ClickHouse server has no cluster `{cluster}` in its remote_servers"
        )));
    }
    if local == 0 {
        return Err(Error::InvalidArgument(format!(
            "this ClickHouse server is not one of the {shards} shard(s) of cluster `{cluster}`"
        )));
    }
    Ok(())
}

async fn migrate_with(
    server: &Client,
    database: &str,
    zones: &[Tz],
    cluster: Option<Cluster<'_>>,
    replay_to: Option<u32>,
) -> Result<Report> {
    let render = |sql: &str| match cluster {
        Some(c) => crate::cluster::render(sql, c),
        None => sql.to_string(),
    };
    server
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(Identifier(database))
        .execute()
        .await?;
    let db = server.clone().with_database(database);
    db.query(CREATE_LEDGER).execute().await?;
    let applied: Vec<Applied> = db
        .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await?;
    // Only a database with nothing in it is built from the schema files: one
    // with tables but no ledger (made by hand, or a first run interrupted)
    // is replayed, every migration being written to converge from any
    // earlier state.
    let tables: u64 = db
        .query(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() \
             AND name != 'schema_migrations'",
        )
        .fetch_one()
        .await?;

    let mut report = Report::default();
    if replay_to.is_none() && applied.is_empty() && tables == 0 {
        for f in SCHEMA {
            run_all(&db, f.file, &render(f.sql)).await?;
        }
        // Recorded only once every object exists: an interrupted build has
        // no ledger and is completed by replaying the migrations.
        for m in MIGRATIONS {
            record(&db, m).await?;
            report.applied.push(m.file);
        }
        report.from_schema = true;
        tracing::info!(
            migrations = MIGRATIONS.len(),
            "new database built from the schema files"
        );
    } else {
        let on = cluster.map(|c| c.on_cluster()).unwrap_or_default();
        let mut paused = Vec::new();
        let replayed = async {
            for m in MIGRATIONS {
                if replay_to.is_some_and(|v| m.version > v) {
                    break;
                }
                let checksum = checksum(m.sql);
                if let Some(done) = applied.iter().find(|a| a.version == m.version) {
                    if done.checksum != checksum {
                        return Err(Error::MigrationChanged {
                            file: m.file,
                            recorded: done.checksum.clone(),
                            current: checksum,
                        });
                    }
                    report.already += 1;
                    continue;
                }
                // Views an earlier migration of this run created refresh
                // at once: paused before every file, not once.
                pause_refreshes(&db, &on, &mut paused).await?;
                run_all(&db, m.file, &render(m.sql)).await?;
                record(&db, m).await?;
                tracing::info!(file = m.file, "migration applied");
                report.applied.push(m.file);
            }
            Ok(())
        }
        .await;
        // Resumed whether or not the migrations went through: a stopped
        // refresh stays stopped until the server restarts.
        let resumed = resume_refreshes(&db, &on, &paused).await;
        replayed?;
        resumed?;
    }

    let known: Vec<Zone> = db
        .query("SELECT DISTINCT tz FROM report_zones")
        .fetch_all()
        .await?;
    for tz in zones {
        // Views of an earlier layout (`_mv_`, `_mv2_`) lack levels the
        // current one writes; they are replaced and the levels rebuilt from
        // the existing states.
        let name = zone_name(*tz);
        let older_layout: u64 = db
            .query(
                "SELECT count() FROM system.tables WHERE database = currentDatabase() \
                 AND name IN (?, ?, ?, ?)",
            )
            .bind(format!("active_users_daily_mv_{name}"))
            .bind(format!("active_users_monthly_mv_{name}"))
            .bind(format!("active_users_daily_mv2_{name}"))
            .bind(format!("active_users_monthly_mv2_{name}"))
            .fetch_one()
            .await?;
        let views = render(&render_zone(ZONE_VIEWS, *tz));
        run_all(&db, "zone_views.sql", &views).await?;
        if older_layout > 0 {
            let levels = render(&render_zone(ZONE_LEVELS, *tz));
            run_all(&db, "zones/zone_levels.sql", &levels).await?;
        }
        if !known.iter().any(|k| k.tz == tz.name()) {
            // Backfill with the views' own SELECTs over the retained raw
            // logins: sketch states are idempotent under re-insertion, so
            // overlapping with live view inserts cannot over-count.
            let mut backfill = backfill_from_views(&render_zone(ZONE_VIEWS, *tz));
            backfill.push_str(&format!(
                "INSERT INTO report_zones (tz) VALUES ('{}');\n",
                tz.name()
            ));
            run_all(&db, "zone backfill", &backfill).await?;
            tracing::info!(tz = tz.name(), "report timezone added");
            report.zones_added.push(tz.name().to_string());
        }
    }
    Ok(report)
}

/// Stops the database's refreshable views not yet in `paused` and waits
/// for a refresh in progress to end. A refresh builds its new table with
/// the shape its target had when it began and swaps it in when done, so
/// one that began before a migration's `ALTER TABLE ... ADD COLUMN` on its
/// target would drop the new column again (seen with 0021 on a database
/// whose monthly snapshot was refreshing).
async fn pause_refreshes(db: &Client, on: &str, paused: &mut Vec<String>) -> Result<()> {
    let views = refreshable_views(db).await?;
    let new: Vec<String> = views.into_iter().filter(|v| !paused.contains(v)).collect();
    for v in &new {
        let stop = format!("SYSTEM STOP VIEW ?{on}");
        db.query(&stop).bind(Identifier(v)).execute().await?;
        paused.push(v.clone());
    }
    for v in &new {
        // Ends with an error when the refresh it waited for was the one
        // just cancelled (or had failed): what matters is that it ended.
        if let Err(e) = db
            .query("SYSTEM WAIT VIEW ?")
            .bind(Identifier(v))
            .execute()
            .await
        {
            tracing::debug!(view = %v, error = %e, "refresh ended while pausing it");
        }
    }
    Ok(())
}

/// The refreshable views of the client's database.
async fn refreshable_views(db: &Client) -> Result<Vec<String>> {
    Ok(db
        .query("SELECT view FROM system.view_refreshes WHERE database = currentDatabase()")
        .fetch_all()
        .await?)
}

/// Starts the views [`pause_refreshes`] stopped (those a migration dropped
/// are skipped).
async fn resume_refreshes(db: &Client, on: &str, paused: &[String]) -> Result<()> {
    let views = refreshable_views(db).await?;
    for v in paused.iter().filter(|v| views.contains(v)) {
        let start = format!("SYSTEM START VIEW ?{on}");
        db.query(&start).bind(Identifier(v)).execute().await?;
    }
    Ok(())
}

async fn record(db: &Client, m: &Migration) -> Result<()> {
    db.query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
        .bind(m.version)
        .bind(m.file)
        .bind(checksum(m.sql))
        .execute()
        .await?;
    Ok(())
}

async fn run_all(db: &Client, file: &'static str, sql: &str) -> Result<()> {
    for (index, stmt) in statements(sql).enumerate() {
        db.query(stmt)
            .execute()
            .await
            .map_err(|source| Error::Migration {
                file,
                index: index + 1,
                excerpt: Excerpt(stmt).to_string(),
                source,
            })?;
    }
    Ok(())
}

/// Raw event tables with a retention TTL on event time (and the re-send
/// filter's claims, kept as long as the raw rows they stand for).
const RAW_WITH_TTL: [&str; 5] = [
    "login_events",
    "registration_events",
    "token_events",
    "session_events",
    "ingest_claims_by_time",
];

/// Sets the raw-event retention (days of event time) of every raw table
/// with a TTL; rows past it are removed in the background (and at once
/// here: the TTL is materialized). Rollups are untouched.
pub async fn set_raw_retention(
    server: &Client,
    database: &str,
    days: u32,
    cluster: Option<Cluster<'_>>,
) -> Result<()> {
    if days == 0 {
        return Err(Error::InvalidArgument(
            "raw retention must be at least one day".into(),
        ));
    }
    // Longer would push the TTL of the latest accepted event time past
    // DateTime's end (2106-02-07), where it wraps and the row is born
    // expired (docs/events.md, "Time range").
    // (authpulse_schemas::MAX_RAW_RETENTION_DAYS; this crate does not
    // depend on the contract.)
    let max = 2190;
    if days > max {
        return Err(Error::InvalidArgument(format!(
            "raw retention of {days} days is longer than the maximum of {max} days"
        )));
    }
    let db = server.clone().with_database(database);
    // A sharded cluster is migrated node by node: the TTL of this node only.
    let on_cluster = match cluster {
        Some(Cluster::Replicated(c)) => format!(" ON CLUSTER '{}'", c.replace('\'', "")),
        Some(Cluster::Sharded(_)) | None => String::new(),
    };
    for table in RAW_WITH_TTL {
        let stmt = format!("ALTER TABLE {table}{on_cluster} MODIFY TTL toDateTime(occurred_at) + INTERVAL {days} DAY");
        db.query(&stmt)
            .with_setting("mutations_sync", "2")
            .execute()
            .await
            .map_err(|source| Error::Migration {
                file: "raw retention",
                index: 1,
                excerpt: stmt.clone(),
                source,
            })?;
    }
    tracing::info!(days, "raw retention set");
    Ok(())
}

/// The complete DDL for a cluster, as `migrate` would apply it (for review
/// and for deployments that apply DDL with their own tooling).
pub fn cluster_ddl(cluster: Cluster<'_>, database: &str, zones: &[Tz]) -> String {
    let mut out = String::new();
    for f in SCHEMA {
        out.push_str(&format!("-- {}\n", f.file));
        out.push_str(&crate::cluster::render(f.sql, cluster));
        out.push('\n');
    }
    for tz in zones {
        out.push_str(&format!("-- report timezone {}\n", tz.name()));
        out.push_str(&crate::cluster::render(
            &render_zone(ZONE_VIEWS, *tz),
            cluster,
        ));
    }
    let global = crate::cluster::cluster_database(database);
    let on = cluster.on_cluster();
    out.push_str(&format!(
        "\n-- The cluster database: the same names over every shard (ingest, the API\n\
         -- and Grafana use it). Unqualified names below are its tables.\n\
         CREATE DATABASE IF NOT EXISTS {global}{on};\n\nUSE {global};\n\n"
    ));
    let schema: Vec<&str> = SCHEMA.iter().map(|f| f.sql).collect();
    for stmt in crate::cluster::cluster_database_ddl(&schema, cluster, database) {
        out.push_str(&stmt);
        out.push_str(";\n\n");
    }
    out
}

/// Every statement of a DDL text (for checks against a server).
pub fn split_statements(sql: &str) -> Vec<String> {
    statements(sql).map(str::to_string).collect()
}

/// Substitutes a zone into a template. The name comes from chrono-tz's own
/// list (letters, digits, `/`, `_`, `-`, `+`), never from a request.
fn render_zone(template: &str, tz: Tz) -> String {
    template
        .replace("{{tz}}", tz.name())
        .replace("{{name}}", &zone_name(tz))
}

/// `CREATE MATERIALIZED VIEW … TO t AS SELECT …` → `INSERT INTO t SELECT …`
/// for every view of `sql` (other statements are skipped).
fn backfill_from_views(sql: &str) -> String {
    let mut out = String::new();
    for stmt in statements(sql) {
        const CREATE: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS ";
        let Some(at) = stmt.find(CREATE) else {
            continue;
        };
        let rest = &stmt[at + CREATE.len()..];
        let Some((head, select)) = rest.split_once(" AS\n") else {
            continue;
        };
        let Some(target) = head.split(" TO ").nth(1) else {
            continue;
        };
        out.push_str(&format!("INSERT INTO {}\n{select};\n", target.trim()));
    }
    out
}

/// The zone as a suffix of object names.
fn zone_name(tz: Tz) -> String {
    tz.name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Splits a migration file into statements: a statement ends with `;` at the
/// end of a line. Comment-only chunks are skipped.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n")
        .chain(std::iter::once(""))
        .map(|s| s.trim().trim_end_matches(';').trim())
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
        })
}

/// FNV-1a, 64 bit: detects a migration edited after it was applied.
fn checksum(sql: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_skips_comments() {
        let sql = "-- header\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\n-- note\nCREATE TABLE b (y UInt8)\nENGINE = Memory;\n-- trailing\n";
        let got: Vec<_> = statements(sql).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].ends_with("ENGINE = Memory"));
        assert!(got[1].contains("CREATE TABLE b"));
    }

    #[test]
    fn backfill_uses_the_views_selects() {
        let sql = render_zone(ZONE_VIEWS, Tz::Asia__Kolkata);
        let b = backfill_from_views(&sql);
        let inserts: Vec<_> = statements(&b).collect();
        assert_eq!(inserts.len(), 2, "{b}");
        assert!(inserts[0].starts_with("INSERT INTO active_users_daily\nSELECT tz, day"));
        assert!(inserts[1].starts_with("INSERT INTO active_users_monthly\n"));
        assert!(b.contains("toDate(occurred_at, 'Asia/Kolkata')"));
    }

    /// The schema files as of the latest migration, without comments and
    /// blank lines (so editing a comment needs no migration).
    const SCHEMA_AT: (u32, &str) = (26, "e5a8cb16e5a9ed43");

    fn schema_checksum() -> String {
        let text: String = SCHEMA
            .iter()
            .map(|f| f.sql)
            .chain([ZONE_VIEWS])
            .flat_map(str::lines)
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("--"))
            .flat_map(|l| [l, "\n"])
            .collect();
        checksum(&text)
    }

    #[test]
    fn schema_changes_come_with_a_migration() {
        let latest = MIGRATIONS.last().map(|m| m.version).unwrap_or_default();
        let current = schema_checksum();
        assert!(
            SCHEMA_AT == (latest, current.as_str()),
            "store/sql/schema/ is pinned at migration {} with checksum {}; now the latest \
             migration is {latest} and the schema checksum {current}. A schema change is both \
             a new forward migration in store/sql/migrations/ (listed in MIGRATIONS) and the \
             edit of its store/sql/schema/ file; then set SCHEMA_AT to ({latest}, \"{current}\") \
             and run tests/e2e_schema.rs, which checks that the two build the same database.",
            SCHEMA_AT.0,
            SCHEMA_AT.1,
        );
    }

    /// The name each CREATE of `sql` defines.
    fn created(sql: &str) -> Vec<String> {
        statements(sql)
            .filter_map(|stmt| {
                let code = stmt
                    .lines()
                    .find(|l| !l.trim().starts_with("--") && !l.trim().is_empty())?;
                let rest = [
                    "CREATE TABLE IF NOT EXISTS ",
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS ",
                    "CREATE VIEW IF NOT EXISTS ",
                ]
                .iter()
                .find_map(|p| code.strip_prefix(p))?;
                rest.split_whitespace().next().map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn every_schema_statement_creates_one_object_defined_once() {
        let mut seen = std::collections::HashMap::new();
        for f in SCHEMA {
            let names = created(f.sql);
            assert_eq!(
                names.len(),
                statements(f.sql).count(),
                "{}: every statement is a CREATE ... IF NOT EXISTS (no ALTER, INSERT or DROP: \
                 those belong in a migration)",
                f.file
            );
            for n in names {
                if let Some(other) = seen.insert(n.clone(), f.file) {
                    panic!("{n} is defined in both {other} and {}", f.file);
                }
            }
        }
        assert!(seen.contains_key("login_events") && seen.contains_key("org_owned_slugs"));
    }

    #[test]
    fn every_migration_file_has_statements_and_unique_versions() {
        let mut seen = std::collections::HashSet::new();
        for m in MIGRATIONS {
            assert!(seen.insert(m.version), "duplicate version {}", m.version);
            assert!(statements(m.sql).count() > 0, "{} is empty", m.file);
            assert!(m.file.starts_with(&format!("{:04}_", m.version)));
        }
    }
}
