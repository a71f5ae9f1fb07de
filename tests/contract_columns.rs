//! The encoder's columns against the schema: for every table ingest writes
//! as RowBinary (`authpulse_ingest::columns`), the columns it sends — names,
//! order-independent, and types — equal `DESCRIBE TABLE` on a freshly
//! migrated database, apart from the columns it declares as left to their
//! DEFAULT. A column added to a table and not encoded, encoded and not in
//! the table, of another type, or given a default the encoder does not
//! declare, fails here before it fails an insert.

mod common;

use authpulse_ingest::columns::{Columns, ENCODED_TABLES};
use common::*;

/// One `DESCRIBE TABLE` row: name, type, default kind (`DEFAULT`,
/// `MATERIALIZED`, `ALIAS`, `EPHEMERAL` or empty).
struct Described {
    name: String,
    ty: String,
    default_kind: String,
}

fn describe(stack: &Stack, table: &str) -> Vec<Described> {
    let tsv = stack.query_in("authpulse", &format!("DESCRIBE TABLE {table} FORMAT TSV"));
    tsv.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Described {
                name: f[0].to_string(),
                ty: f[1].replace("\\'", "'"),
                default_kind: f.get(2).copied().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// Every difference between what the encoder sends and the table.
fn differences(columns: &Columns, table: &[Described]) -> Vec<String> {
    let t = columns.table;
    let mut out = Vec::new();
    for c in columns.columns {
        match table.iter().find(|d| d.name == c.name) {
            None => out.push(format!("{t}.{}: encoded, not in the table", c.name)),
            Some(d) if d.ty != c.ty => out.push(format!(
                "{t}.{}: encoded as {}, the table has {}",
                c.name, c.ty, d.ty
            )),
            Some(d) if d.default_kind == "MATERIALIZED" || d.default_kind == "ALIAS" => {
                out.push(format!(
                    "{t}.{}: encoded, but {} in the table",
                    c.name, d.default_kind
                ))
            }
            Some(_) => {}
        }
    }
    for d in table {
        let encoded = columns.columns.iter().any(|c| c.name == d.name);
        let defaulted = columns.defaulted.contains(&d.name.as_str());
        if encoded {
            continue;
        }
        if defaulted && d.default_kind.is_empty() {
            out.push(format!(
                "{t}.{}: declared as left to its default, but it has none",
                d.name
            ));
        } else if !defaulted && d.default_kind.is_empty() {
            out.push(format!("{t}.{}: in the table, not encoded", d.name));
        } else if !defaulted {
            out.push(format!(
                "{t}.{}: {} in the table, neither encoded nor declared as defaulted",
                d.name, d.default_kind
            ));
        }
    }
    for name in columns.defaulted {
        if !table.iter().any(|d| d.name == *name) {
            out.push(format!(
                "{t}.{name}: declared as defaulted, not in the table"
            ));
        }
    }
    out
}

#[test]
fn encoded_columns_equal_the_migrated_tables() {
    let stack = Stack::start("contract-columns");
    stack.migrate("authpulse");
    let mut all = Vec::new();
    for columns in ENCODED_TABLES {
        let table = describe(&stack, columns.table);
        assert!(!table.is_empty(), "{} has no columns", columns.table);
        all.extend(differences(columns, &table));
    }
    assert!(
        all.is_empty(),
        "encoder and schema differ:\n{}",
        all.join("\n")
    );

    // The check sees a drift in the real schema, each kind of it.
    let login = ENCODED_TABLES[0];
    assert_eq!(login.table, "login_events");
    stack.query_in(
        "authpulse",
        "ALTER TABLE login_events ADD COLUMN tenant_region LowCardinality(String)",
    );
    stack.query_in(
        "authpulse",
        "ALTER TABLE login_events ADD COLUMN risk UInt8 DEFAULT 0",
    );
    stack.query_in(
        "authpulse",
        "ALTER TABLE login_events ADD COLUMN day Date MATERIALIZED toDate(occurred_at)",
    );
    stack.query_in(
        "authpulse",
        "ALTER TABLE login_events DROP COLUMN user_agent",
    );
    stack.query_in(
        "authpulse",
        "ALTER TABLE login_events MODIFY COLUMN login_id LowCardinality(String)",
    );
    let mut found = differences(login, &describe(&stack, "login_events"));
    found.sort();
    assert_eq!(
        found,
        vec![
            "login_events.day: MATERIALIZED in the table, neither encoded nor declared as defaulted",
            "login_events.login_id: encoded as String, the table has LowCardinality(String)",
            "login_events.risk: DEFAULT in the table, neither encoded nor declared as defaulted",
            "login_events.tenant_region: in the table, not encoded",
            "login_events.user_agent: encoded, not in the table",
        ]
    );
}
