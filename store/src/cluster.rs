//! Renders the single-node DDL (a schema file, a migration or a zone
//! template) for a ClickHouse cluster, in one of two layouts
//! (docs/scaling.md):
//!
//! - [`Cluster::Replicated`], for production: `ON CLUSTER`,
//!   Replicated*MergeTree engines with Keeper paths from macros, the
//!   replicated deduplication window, and a Distributed `<table>_all`
//!   beside every table;
//! - [`Cluster::Sharded`], for shards without Keeper (one replica each, as
//!   the local test servers are): every table keeps its single-node engine
//!   and each node gets the same Distributed `<table>_all` tables; the DDL
//!   has no `ON CLUSTER` (that needs Keeper) and is applied to every node.
//!
//! Either way the `_all` tables shard by tenant, so an organization's
//! events, rollups and entity state live on one shard.

/// How `migrate` lays the schema out on a ClickHouse cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cluster<'a> {
    /// Replicated engines and `ON CLUSTER` DDL (needs Keeper), applied once.
    Replicated(&'a str),
    /// Single-node engines plus Distributed `_all` tables over the named
    /// cluster, applied to each shard's node.
    Sharded(&'a str),
}

impl<'a> Cluster<'a> {
    /// The cluster's name in the servers' `<remote_servers>`.
    pub fn name(&self) -> &'a str {
        match self {
            Cluster::Replicated(n) | Cluster::Sharded(n) => n,
        }
    }

    /// `ON CLUSTER` for statements that run once for the whole cluster;
    /// empty when each node is migrated on its own.
    pub(crate) fn on_cluster(&self) -> String {
        match self {
            Cluster::Replicated(n) => format!(" ON CLUSTER '{n}'"),
            Cluster::Sharded(_) => String::new(),
        }
    }
}

/// The row-to-shard expression of the Distributed tables: the tenant where
/// a table has one, else spread evenly. Writers that insert into a shard's
/// local tables directly must route by the same expression
/// (`cityHash64(org_id) % shards`, shard weights all 1).
pub const SHARDING_KEY: &str = "cityHash64(org_id)";

/// Rewrites one DDL file (schema file, migration or zone template) of the
/// local database for `cluster`. The sharded layout keeps it as written:
/// each shard's node runs it against its own tables.
pub fn render(sql: &str, cluster: Cluster<'_>) -> String {
    if matches!(cluster, Cluster::Sharded(_)) {
        return sql.to_string();
    }
    let on = cluster.on_cluster();
    let mut out = String::with_capacity(sql.len() * 2);
    let mut in_create_table = false;
    for line in sql.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("CREATE TABLE IF NOT EXISTS {name}{on}"));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            in_create_table = true;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {name}{on}"
            ));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            in_create_table = false;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("CREATE VIEW IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("CREATE VIEW IF NOT EXISTS {name}{on}"));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            in_create_table = false;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("ALTER TABLE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("ALTER TABLE {name}{on}"));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("DROP VIEW IF EXISTS ") {
            let name = rest.trim_end_matches(';').trim();
            out.push_str(&format!("DROP VIEW IF EXISTS {name}{on};\n"));
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("DROP TABLE IF EXISTS ") {
            let name = rest.trim_end_matches(';').trim();
            out.push_str(&format!("DROP TABLE IF EXISTS {name}{on};\n"));
            continue;
        }
        if in_create_table {
            if let Some(engine) = trimmed.strip_prefix("ENGINE = ") {
                out.push_str(&replicated_engine(engine.trim()));
                out.push('\n');
                continue;
            }
        }
        out.push_str(&line.replace(
            "non_replicated_deduplication_window",
            "replicated_deduplication_window",
        ));
        out.push('\n');
        if in_create_table && trimmed.ends_with(';') {
            in_create_table = false;
        }
    }
    out
}

/// The cluster database's name for the local database `database`: where
/// ingest, the API and Grafana point on a cluster.
pub fn cluster_database(database: &str) -> String {
    format!("{database}_cluster")
}

/// Tables every node keeps for itself (the same rows on each): read from
/// the node's own copy, never summed over shards.
const PER_NODE: [&str; 2] = ["schema_migrations", "report_zones"];

/// The cluster database: every object of the current schema, under the
/// same name, over the whole cluster. Statements run in order with the
/// cluster database as the session's database (unqualified names in view
/// bodies then resolve to it; ClickHouse stores them qualified).
///
/// - a table becomes a Distributed table over `local`'s table of that
///   name, sharded by the tenant where it has one (an organization's
///   events, rollups and entity state live on one shard), else by its
///   sorting key: a retried insert splits the same way (its rows meet the
///   token that dropped them), and a replacing table's versions of a key
///   meet on one shard;
/// - the ledger and the zone list are views of the node's own copy;
/// - refreshable snapshots are computed here, over the whole cluster (a
///   sum of per-shard snapshots is wrong for distinct users, who can be
///   active on several shards): their target tables are local to each node,
///   their queries read the Distributed tables;
/// - plain views read the Distributed tables;
/// - views fed by inserts stay with the shards' local tables.
pub fn cluster_database_ddl(schema: &[&str], cluster: Cluster<'_>, local: &str) -> Vec<String> {
    let on = cluster.on_cluster();
    let name_of = |s: &str, prefix: &str| -> Option<String> {
        s.strip_prefix(prefix)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    };
    let stmts: Vec<String> = schema
        .iter()
        .flat_map(|f| crate::migrate::split_statements(f))
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_string()
        })
        .collect();
    let snapshots: Vec<String> = stmts.iter().filter_map(|s| refresh_target(s)).collect();
    let mut out = Vec::new();
    for s in &stmts {
        if let Some(name) = name_of(s, "CREATE TABLE IF NOT EXISTS ") {
            let rest = &s["CREATE TABLE IF NOT EXISTS ".len() + name.len()..];
            if snapshots.contains(&name) {
                out.push(format!("CREATE TABLE IF NOT EXISTS {name}{on}{rest}"));
            } else if PER_NODE.contains(&name.as_str()) {
                out.push(format!(
                    "CREATE VIEW IF NOT EXISTS {name}{on} AS SELECT * FROM {local}.{name}"
                ));
            } else {
                let key = sharding_key(s);
                out.push(format!(
                    "CREATE TABLE IF NOT EXISTS {name}{on} AS {local}.{name}\nENGINE = Distributed('{}', '{local}', '{name}', {key})",
                    cluster.name()
                ));
            }
        } else if let Some(name) = name_of(s, "CREATE MATERIALIZED VIEW IF NOT EXISTS ") {
            if refresh_target(s).is_none() {
                continue;
            }
            let rest = &s["CREATE MATERIALIZED VIEW IF NOT EXISTS ".len() + name.len()..];
            // An IN over two Distributed tables is refused unless the
            // subquery runs once and is shipped (`global`).
            let setting = "distributed_product_mode = 'global'";
            let last = rest.lines().last().unwrap_or_default();
            let rest = if last.starts_with("SETTINGS ") {
                format!("{rest}, {setting}")
            } else {
                format!("{rest}\nSETTINGS {setting}")
            };
            out.push(format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {name}{on}{rest}"
            ));
        } else if let Some(name) = name_of(s, "CREATE VIEW IF NOT EXISTS ") {
            let rest = &s["CREATE VIEW IF NOT EXISTS ".len() + name.len()..];
            out.push(format!("CREATE VIEW IF NOT EXISTS {name}{on}{rest}"));
        }
    }
    out
}

/// The target table of a refreshable materialized view.
fn refresh_target(stmt: &str) -> Option<String> {
    if !stmt.starts_with("CREATE MATERIALIZED VIEW") {
        return None;
    }
    let refresh = stmt.find("\nREFRESH ")?;
    let after = &stmt[refresh..];
    let to = after.find(" TO ")?;
    after[to + 4..]
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// Where a table's rows go: `cityHash64(org_id)` for a table with a
/// tenant, else a hash of its sorting key (never `rand()`, which splits a
/// retried insert differently from the first attempt).
fn sharding_key(create: &str) -> String {
    let has_org = create
        .lines()
        .take_while(|l| !l.starts_with("ENGINE"))
        .any(|l| l.trim_start().starts_with("org_id "));
    if has_org {
        return SHARDING_KEY.to_string();
    }
    let order = create
        .lines()
        .find_map(|l| l.strip_prefix("ORDER BY "))
        .unwrap_or("tuple()")
        .trim();
    let inner = order
        .strip_prefix('(')
        .and_then(|o| o.strip_suffix(')'))
        .unwrap_or(order);
    format!("cityHash64({inner})")
}

/// `MergeTree` → `ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')`,
/// keeping engine arguments (`SummingMergeTree(logins)` keeps `logins`).
fn replicated_engine(engine: &str) -> String {
    let (name, args) = match engine.split_once('(') {
        Some((n, a)) => (n.trim(), a.trim_end_matches(')').trim()),
        None => (engine, ""),
    };
    let path = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'";
    if args.is_empty() {
        format!("ENGINE = Replicated{name}({path})")
    } else {
        format!("ENGINE = Replicated{name}({path}, {args})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "CREATE TABLE IF NOT EXISTS t\n(\n    org_id UUID,\n    n UInt64\n)\nENGINE = SummingMergeTree(n)\nORDER BY org_id\nSETTINGS non_replicated_deduplication_window = 10000;\n\nCREATE MATERIALIZED VIEW IF NOT EXISTS t_mv TO t AS\nSELECT org_id, count() AS n FROM raw GROUP BY org_id;\n";

    #[test]
    fn renders_replicated_engines_on_cluster() {
        let out = render(SQL, Cluster::Replicated("c1"));
        assert!(
            out.contains("CREATE TABLE IF NOT EXISTS t ON CLUSTER 'c1'"),
            "{out}"
        );
        assert!(out.contains(
            "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', n)"
        ));
        assert!(out.contains("SETTINGS replicated_deduplication_window = 10000;"));
        assert!(!out.contains("non_replicated"));
        assert!(!out.contains("Distributed"), "{out}");
        assert!(out.contains("CREATE MATERIALIZED VIEW IF NOT EXISTS t_mv ON CLUSTER 'c1' TO t AS"));
    }

    #[test]
    fn drops_views_and_alters_run_on_the_cluster() {
        let c = Cluster::Replicated("c1");
        assert_eq!(
            render("DROP TABLE IF EXISTS t_all;\n", c),
            "DROP TABLE IF EXISTS t_all ON CLUSTER 'c1';\n"
        );
        assert_eq!(
            render("CREATE VIEW IF NOT EXISTS v AS\nSELECT 1;\n", c),
            "CREATE VIEW IF NOT EXISTS v ON CLUSTER 'c1' AS\nSELECT 1;\n"
        );
        assert_eq!(
            render(
                "ALTER TABLE audit_events ADD INDEX IF NOT EXISTS i x TYPE minmax GRANULARITY 1;\n",
                c
            ),
            "ALTER TABLE audit_events ON CLUSTER 'c1' ADD INDEX IF NOT EXISTS i x TYPE minmax GRANULARITY 1;\n"
        );
    }

    #[test]
    fn sharded_keeps_the_single_node_ddl_as_written() {
        assert_eq!(render(SQL, Cluster::Sharded("c1")), SQL);
    }

    const SCHEMA: &str = "-- a tenant's rows\nCREATE TABLE IF NOT EXISTS t\n(\n    org_id UUID,\n    n UInt64\n)\nENGINE = SummingMergeTree(n)\nORDER BY org_id;\n\n\
CREATE MATERIALIZED VIEW IF NOT EXISTS t_mv TO t AS\nSELECT org_id, count() AS n FROM raw GROUP BY org_id;\n\n\
CREATE TABLE IF NOT EXISTS claims\n(\n    event_id UUID,\n    topic String,\n    partition UInt32\n)\nENGINE = MergeTree\nORDER BY (topic, partition);\n\n\
CREATE TABLE IF NOT EXISTS report_zones\n(\n    tz String\n)\nENGINE = ReplacingMergeTree\nORDER BY tz;\n\n\
CREATE TABLE IF NOT EXISTS t_now\n(\n    n UInt64\n)\nENGINE = MergeTree\nORDER BY tuple();\n\n\
CREATE MATERIALIZED VIEW IF NOT EXISTS t_now_rmv\nREFRESH EVERY 5 SECOND TO t_now AS\nSELECT sum(n) AS n FROM t\nSETTINGS max_threads = 1;\n\n\
CREATE VIEW IF NOT EXISTS v AS\nSELECT n FROM t;\n";

    #[test]
    fn the_cluster_database_has_every_object_over_the_whole_cluster() {
        let out = cluster_database_ddl(&[SCHEMA], Cluster::Sharded("c1"), "db");
        assert_eq!(
            out,
            vec![
                "CREATE TABLE IF NOT EXISTS t AS db.t\nENGINE = Distributed('c1', 'db', 't', cityHash64(org_id))".to_string(),
                // No tenant: the sorting key, never rand().
                "CREATE TABLE IF NOT EXISTS claims AS db.claims\nENGINE = Distributed('c1', 'db', 'claims', cityHash64(topic, partition))".into(),
                "CREATE VIEW IF NOT EXISTS report_zones AS SELECT * FROM db.report_zones".into(),
                // A snapshot's table is the node's own, its query the cluster's.
                "CREATE TABLE IF NOT EXISTS t_now\n(\n    n UInt64\n)\nENGINE = MergeTree\nORDER BY tuple()".into(),
                "CREATE MATERIALIZED VIEW IF NOT EXISTS t_now_rmv\nREFRESH EVERY 5 SECOND TO t_now AS\nSELECT sum(n) AS n FROM t\nSETTINGS max_threads = 1, distributed_product_mode = 'global'".into(),
                "CREATE VIEW IF NOT EXISTS v AS\nSELECT n FROM t".into(),
            ]
        );
    }

    #[test]
    fn the_replicated_cluster_database_is_created_on_the_cluster() {
        let out = cluster_database_ddl(&[SCHEMA], Cluster::Replicated("c1"), "db");
        assert!(out[0].starts_with("CREATE TABLE IF NOT EXISTS t ON CLUSTER 'c1' AS db.t"));
        assert!(out[2].starts_with("CREATE VIEW IF NOT EXISTS report_zones ON CLUSTER 'c1' AS"));
        assert!(out[4].starts_with(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS t_now_rmv ON CLUSTER 'c1'\nREFRESH"
        ));
        assert!(out.iter().all(|s| !s.contains("t_mv")));
    }

    #[test]
    fn plain_merge_tree_gets_only_the_path() {
        assert_eq!(
            replicated_engine("MergeTree"),
            "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
        );
        assert!(replicated_engine("ReplacingMergeTree(version)").ends_with("'{replica}', version)"));
    }
}
