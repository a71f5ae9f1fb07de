//! Applies the versioned `.sql` files under `store/sql/migrations/` in order,
//! once each, recording what was applied in `schema_migrations`.

use chrono_tz::Tz;
use clickhouse::{Client, Row};
use serde::Deserialize;

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
];

const CREATE_LEDGER: &str = include_str!("../sql/schema_migrations.sql");

/// What `migrate` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub applied: Vec<&'static str>,
    pub already: usize,
    /// Report timezones whose sketch views were created by this run.
    pub zones_added: Vec<String>,
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

/// Creates `database` if needed, applies every pending migration to it, and
/// makes sure each report timezone in `zones` has its distinct-user sketch
/// views (a new zone is backfilled from the retained raw logins).
/// `server` is a client without a database set.
///
/// With `cluster`, every statement is rendered for that ClickHouse cluster
/// (`ON CLUSTER`, Replicated engines, Distributed `_all` tables); this needs
/// Keeper, as every replicated ClickHouse deployment does.
pub async fn migrate(
    server: &Client,
    database: &str,
    zones: &[Tz],
    cluster: Option<&str>,
) -> Result<Report> {
    let render = |sql: &str| match cluster {
        Some(c) => crate::cluster::render(sql, c, database),
        None => sql.to_string(),
    };
    server
        .query("CREATE DATABASE IF NOT EXISTS ?")
        .bind(clickhouse::sql::Identifier(database))
        .execute()
        .await?;
    let db = server.clone().with_database(database);
    db.query(CREATE_LEDGER).execute().await?;
    let applied: Vec<Applied> = db
        .query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all()
        .await?;

    let mut report = Report::default();
    for m in MIGRATIONS {
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
        run_all(&db, m.file, &render(m.sql)).await?;
        db.query("INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)")
            .bind(m.version)
            .bind(m.file)
            .bind(&checksum)
            .execute()
            .await?;
        tracing::info!(file = m.file, "migration applied");
        report.applied.push(m.file);
    }

    let known: Vec<Zone> = db
        .query("SELECT DISTINCT tz FROM report_zones")
        .fetch_all()
        .await?;
    for tz in zones {
        // Views of an earlier layout (`_mv_`, `_mv2_`) lack levels the
        // current one writes; they are rebuilt from the existing states.
        let older_layout: u64 = db
            .query(
                "SELECT count() FROM system.tables WHERE database = currentDatabase() \
                 AND name IN (?, ?)",
            )
            .bind(format!("active_users_daily_mv_{}", zone_name(*tz)))
            .bind(format!("active_users_daily_mv2_{}", zone_name(*tz)))
            .fetch_one()
            .await?;
        let views = render(&render_zone(include_str!("../sql/zone_mvs.sql"), *tz));
        run_all(&db, "zone_mvs.sql", &views).await?;
        if older_layout > 0 {
            let levels = render_zone(include_str!("../sql/zone_levels.sql"), *tz);
            run_all(&db, "zone_levels.sql", &levels).await?;
        }
        if !known.iter().any(|k| k.tz == tz.name()) {
            // Backfill with the views' own SELECTs over the retained raw
            // logins: sketch states are idempotent under re-insertion, so
            // overlapping with live view inserts cannot over-count.
            let zone_sql = render_zone(include_str!("../sql/zone_mvs.sql"), *tz);
            let mut backfill = backfill_from_views(&zone_sql);
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
    "ingest_claims",
];

/// Sets the raw-event retention (days of event time) of every raw table
/// with a TTL; rows past it are removed in the background (and at once
/// here: the TTL is materialized). Rollups are untouched.
pub async fn set_raw_retention(
    server: &Client,
    database: &str,
    days: u32,
    cluster: Option<&str>,
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
    let on_cluster = cluster
        .map(|c| format!(" ON CLUSTER '{}'", c.replace('\'', "")))
        .unwrap_or_default();
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
pub fn cluster_ddl(cluster: &str, database: &str, zones: &[Tz]) -> String {
    let mut out = String::new();
    for m in MIGRATIONS {
        out.push_str(&format!("-- {}\n", m.file));
        out.push_str(&crate::cluster::render(m.sql, cluster, database));
        out.push('\n');
    }
    for tz in zones {
        out.push_str(&format!("-- report timezone {}\n", tz.name()));
        out.push_str(&crate::cluster::render(
            &render_zone(include_str!("../sql/zone_mvs.sql"), *tz),
            cluster,
            database,
        ));
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
        let sql = render_zone(include_str!("../sql/zone_mvs.sql"), Tz::Asia__Kolkata);
        let b = backfill_from_views(&sql);
        let inserts: Vec<_> = statements(&b).collect();
        assert_eq!(inserts.len(), 2, "{b}");
        assert!(inserts[0].starts_with("INSERT INTO active_users_daily\nSELECT tz, day"));
        assert!(inserts[1].starts_with("INSERT INTO active_users_monthly\n"));
        assert!(b.contains("toDate(occurred_at, 'Asia/Kolkata')"));
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
