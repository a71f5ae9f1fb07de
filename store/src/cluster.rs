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
    fn on_cluster(&self) -> String {
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

/// Rewrites one DDL file for `cluster` in `database`.
pub fn render(sql: &str, cluster: Cluster<'_>, database: &str) -> String {
    let replicated = matches!(cluster, Cluster::Replicated(_));
    let on = cluster.on_cluster();
    let mut out = String::with_capacity(sql.len() * 2);
    let mut table: Option<String> = None;
    let mut has_org = false;
    let mut in_create_table = false;
    for line in sql.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let name = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            out.push_str(&format!("CREATE TABLE IF NOT EXISTS {name}{on}"));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            table = Some(name);
            has_org = false;
            in_create_table = true;
            continue;
        }
        if !replicated {
            // Engines, views, alters and drops stay as on one node: each
            // shard runs them against its own tables.
            if in_create_table && trimmed.starts_with("org_id ") {
                has_org = true;
            }
            out.push_str(line);
            out.push('\n');
            if in_create_table && trimmed.ends_with(';') {
                if let Some(t) = table.take() {
                    out.push_str(&distributed(&t, cluster, database, has_org));
                }
                in_create_table = false;
            }
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
        if in_create_table && trimmed.starts_with("org_id ") {
            has_org = true;
        }
        if in_create_table {
            if let Some(engine) = trimmed.strip_prefix("ENGINE = ") {
                out.push_str(&replicated_engine(engine.trim()));
                out.push('\n');
                continue;
            }
        }
        let replaced = line.replace(
            "non_replicated_deduplication_window",
            "replicated_deduplication_window",
        );
        if in_create_table && trimmed.ends_with(';') {
            out.push_str(&replaced);
            out.push('\n');
            if let Some(t) = table.take() {
                out.push_str(&distributed(&t, cluster, database, has_org));
            }
            in_create_table = false;
            continue;
        }
        out.push_str(&replaced);
        out.push('\n');
    }
    // A file whose last CREATE TABLE has no trailing `;`.
    if let (true, Some(t)) = (in_create_table, table) {
        out.push_str(";\n");
        out.push_str(&distributed(&t, cluster, database, has_org));
    }
    out
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

fn distributed(table: &str, cluster: Cluster<'_>, database: &str, has_org: bool) -> String {
    if table == "schema_migrations" {
        return String::new();
    }
    let key = if has_org { SHARDING_KEY } else { "rand()" };
    let (name, on) = (cluster.name(), cluster.on_cluster());
    format!(
        "\nCREATE TABLE IF NOT EXISTS {table}_all{on} AS {table}\nENGINE = Distributed('{name}', '{database}', '{table}', {key});\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "CREATE TABLE IF NOT EXISTS t\n(\n    org_id UUID,\n    n UInt64\n)\nENGINE = SummingMergeTree(n)\nORDER BY org_id\nSETTINGS non_replicated_deduplication_window = 10000;\n\nCREATE MATERIALIZED VIEW IF NOT EXISTS t_mv TO t AS\nSELECT org_id, count() AS n FROM raw GROUP BY org_id;\n";

    #[test]
    fn renders_replicated_engines_on_cluster_with_distributed_tables() {
        let out = render(SQL, Cluster::Replicated("c1"), "authpulse");
        assert!(
            out.contains("CREATE TABLE IF NOT EXISTS t ON CLUSTER 'c1'"),
            "{out}"
        );
        assert!(out.contains(
            "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', n)"
        ));
        assert!(out.contains("SETTINGS replicated_deduplication_window = 10000;"));
        assert!(!out.contains("non_replicated"));
        assert!(out.contains("CREATE TABLE IF NOT EXISTS t_all ON CLUSTER 'c1' AS t"));
        assert!(out.contains("ENGINE = Distributed('c1', 'authpulse', 't', cityHash64(org_id));"));
        assert!(out.contains("CREATE MATERIALIZED VIEW IF NOT EXISTS t_mv ON CLUSTER 'c1' TO t AS"));
    }

    #[test]
    fn drops_run_on_the_cluster() {
        assert_eq!(
            render(
                "DROP TABLE IF EXISTS t_all;\n",
                Cluster::Replicated("c1"),
                "authpulse"
            ),
            "DROP TABLE IF EXISTS t_all ON CLUSTER 'c1';\n"
        );
    }

    #[test]
    fn plain_views_are_created_on_the_cluster() {
        let out = render(
            "CREATE VIEW IF NOT EXISTS v AS\nSELECT 1;\n",
            Cluster::Replicated("c1"),
            "authpulse",
        );
        assert_eq!(
            out,
            "CREATE VIEW IF NOT EXISTS v ON CLUSTER 'c1' AS\nSELECT 1;\n"
        );
    }

    #[test]
    fn alters_run_on_the_cluster() {
        let out = render(
            "ALTER TABLE audit_events ADD INDEX IF NOT EXISTS i x TYPE minmax GRANULARITY 1;\n",
            Cluster::Replicated("c1"),
            "authpulse",
        );
        assert_eq!(
            out,
            "ALTER TABLE audit_events ON CLUSTER 'c1' ADD INDEX IF NOT EXISTS i x TYPE minmax GRANULARITY 1;\n"
        );
    }

    #[test]
    fn sharded_keeps_single_node_engines_and_adds_local_distributed_tables() {
        let out = render(SQL, Cluster::Sharded("c1"), "authpulse");
        assert!(!out.contains("ON CLUSTER"), "{out}");
        assert!(!out.contains("Replicated"), "{out}");
        // Everything of the single-node file is kept as written, in order.
        let kept: Vec<&str> = out
            .lines()
            .filter(|l| !l.is_empty() && !l.contains("t_all") && !l.contains("Distributed"))
            .collect();
        let single: Vec<&str> = SQL.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(kept, single);
        assert!(out.contains(
            "CREATE TABLE IF NOT EXISTS t_all AS t\nENGINE = Distributed('c1', 'authpulse', 't', cityHash64(org_id));"
        ));
        // The Distributed table directly follows its local table.
        assert!(out.find("t_all").unwrap() < out.find("t_mv").unwrap());
    }

    #[test]
    fn sharded_tables_without_a_tenant_are_spread_and_drops_stay_local() {
        let out = render(
            "CREATE TABLE IF NOT EXISTS d\n(\n    id UUID\n)\nENGINE = MergeTree\nORDER BY id;\nDROP TABLE IF EXISTS old;\n",
            Cluster::Sharded("c1"),
            "db",
        );
        assert!(
            out.contains("ENGINE = Distributed('c1', 'db', 'd', rand());"),
            "{out}"
        );
        assert!(out.ends_with("DROP TABLE IF EXISTS old;\n"), "{out}");
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
