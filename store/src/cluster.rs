//! Renders the single-node DDL (a schema file, a migration or a zone
//! template) for a ClickHouse cluster: `ON CLUSTER`,
//! Replicated*MergeTree engines with Keeper paths from macros, the
//! replicated deduplication window, and a Distributed `<table>_all` beside
//! every table, sharded by tenant so an organization's events, rollups and
//! entity state live on one shard (docs/scaling.md).

/// Rewrites one DDL file for `cluster` in `database`.
pub fn render(sql: &str, cluster: &str, database: &str) -> String {
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
            out.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {name} ON CLUSTER '{cluster}'"
            ));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            table = Some(name);
            has_org = false;
            in_create_table = true;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS {name} ON CLUSTER '{cluster}'"
            ));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            in_create_table = false;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("CREATE VIEW IF NOT EXISTS ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!(
                "CREATE VIEW IF NOT EXISTS {name} ON CLUSTER '{cluster}'"
            ));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            in_create_table = false;
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("ALTER TABLE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            out.push_str(&format!("ALTER TABLE {name} ON CLUSTER '{cluster}'"));
            out.push_str(&rest[name.len()..]);
            out.push('\n');
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("DROP VIEW IF EXISTS ") {
            let name = rest.trim_end_matches(';').trim();
            out.push_str(&format!(
                "DROP VIEW IF EXISTS {name} ON CLUSTER '{cluster}';\n"
            ));
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("DROP TABLE IF EXISTS ") {
            let name = rest.trim_end_matches(';').trim();
            out.push_str(&format!(
                "DROP TABLE IF EXISTS {name} ON CLUSTER '{cluster}';\n"
            ));
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

fn distributed(table: &str, cluster: &str, database: &str, has_org: bool) -> String {
    if table == "schema_migrations" {
        return String::new();
    }
    let key = if has_org {
        "cityHash64(org_id)"
    } else {
        "rand()"
    };
    format!(
        "\nCREATE TABLE IF NOT EXISTS {table}_all ON CLUSTER '{cluster}' AS {table}\nENGINE = Distributed('{cluster}', '{database}', '{table}', {key});\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "CREATE TABLE IF NOT EXISTS t\n(\n    org_id UUID,\n    n UInt64\n)\nENGINE = SummingMergeTree(n)\nORDER BY org_id\nSETTINGS non_replicated_deduplication_window = 10000;\n\nCREATE MATERIALIZED VIEW IF NOT EXISTS t_mv TO t AS\nSELECT org_id, count() AS n FROM raw GROUP BY org_id;\n";

    #[test]
    fn renders_replicated_engines_on_cluster_with_distributed_tables() {
        let out = render(SQL, "c1", "authpulse");
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
            render("DROP TABLE IF EXISTS t_all;\n", "c1", "authpulse"),
            "DROP TABLE IF EXISTS t_all ON CLUSTER 'c1';\n"
        );
    }

    #[test]
    fn plain_views_are_created_on_the_cluster() {
        let out = render(
            "CREATE VIEW IF NOT EXISTS v AS\nSELECT 1;\n",
            "c1",
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
            "c1",
            "authpulse",
        );
        assert_eq!(
            out,
            "ALTER TABLE audit_events ON CLUSTER 'c1' ADD INDEX IF NOT EXISTS i x TYPE minmax GRANULARITY 1;\n"
        );
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
