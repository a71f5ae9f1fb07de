//! Events as JSONEachRow rows of the raw tables, buffered per table.
//!
//! No column list is kept here: a row is the event's own JSON with the
//! envelope named as the raw tables name it (`id` → `event_id`, `org.id` →
//! `org_id`, `org.slug` → `org_slug`) and the `data` fields flattened,
//! restricted to the columns `DESCRIBE TABLE` shows for the table at run
//! time (objects such as audit metadata as their JSON text). ClickHouse
//! fills what an event leaves out with the column's default, as the
//! consumer does.

use authpulse_schemas::Event;
use serde_json::{Map, Value};

use crate::ch::Ch;

/// The raw table of each event type, in `authpulse_testkit::TYPES` order.
pub fn tables() -> [String; 5] {
    authpulse_testkit::TYPES.map(|t| format!("{t}_events"))
}

/// The insertable columns of every raw table of `db`.
#[derive(Clone)]
pub struct Columns {
    /// Per raw table (TYPES order): (name, type).
    pub tables: Vec<Vec<(String, String)>>,
}

impl Columns {
    pub async fn of(ch: &Ch, db: &str) -> anyhow::Result<Columns> {
        let mut cols = Vec::new();
        for t in tables() {
            cols.push(ch.insert_columns(db, &t).await?);
        }
        Ok(Columns { tables: cols })
    }

    fn has(&self, table: usize, name: &str) -> bool {
        self.tables[table].iter().any(|(n, _)| n == name)
    }
}

/// Where an envelope column's value sits in the event JSON; any other
/// column is the `data` field of its own name.
pub const ENVELOPE: [(&str, &[&str]); 4] = [
    ("event_id", &["id"]),
    ("occurred_at", &["occurred_at"]),
    ("org_id", &["org", "id"]),
    ("org_slug", &["org", "slug"]),
];

/// Appends `e` as one JSON line to `out`; returns its table index.
pub fn write_row(out: &mut Vec<u8>, e: &Event, cols: &Columns) -> anyhow::Result<usize> {
    let mut v = serde_json::to_value(e)?;
    let kind = v["type"].as_str().unwrap_or_default();
    let table = authpulse_testkit::TYPES
        .iter()
        .position(|t| *t == kind)
        .ok_or_else(|| anyhow::anyhow!("event type {kind:?} has no raw table"))?;
    let mut row = Map::new();
    for (col, path) in ENVELOPE {
        let mut x = &v;
        for p in path {
            x = &x[*p];
        }
        row.insert(col.to_string(), x.clone());
    }
    if let Value::Object(data) = v["data"].take() {
        for (k, x) in data {
            let x = match x {
                Value::Object(_) | Value::Array(_) => Value::String(x.to_string()),
                x => x,
            };
            row.insert(k, x);
        }
    }
    row.retain(|k, x| !x.is_null() && cols.has(table, k));
    serde_json::to_writer(&mut *out, &row)?;
    out.push(b'\n');
    Ok(table)
}

/// Rows buffered per raw table.
pub struct TableBuffers {
    pub cols: Columns,
    pub bufs: [Vec<u8>; 5],
    pub rows: [u64; 5],
}

impl TableBuffers {
    pub fn new(cols: Columns) -> TableBuffers {
        TableBuffers {
            cols,
            bufs: Default::default(),
            rows: [0; 5],
        }
    }

    pub fn push(&mut self, e: &Event) -> anyhow::Result<usize> {
        let mut line = Vec::with_capacity(512);
        let t = write_row(&mut line, e, &self.cols)?;
        self.bufs[t].extend_from_slice(&line);
        self.rows[t] += 1;
        Ok(t)
    }

    /// Takes the buffers holding at least `min_bytes` (all non-empty ones
    /// for 0).
    pub fn take(&mut self, min_bytes: usize) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (t, b) in self.bufs.iter_mut().enumerate() {
            if !b.is_empty() && b.len() >= min_bytes {
                out.push((t, std::mem::take(b)));
            }
        }
        out
    }
}
