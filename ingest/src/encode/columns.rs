//! The columns ingest writes into each table it encodes as RowBinary: names
//! and ClickHouse types in the order a row is encoded ([`super::Rows::push`]).
//! This is the one list: the INSERT statements are built from it, a unit
//! test decodes encoded rows by its types, and `tests/contract_columns.rs`
//! compares it with `DESCRIBE TABLE` on a freshly migrated database.

/// One column as the encoder writes it: its name and its type as
/// `DESCRIBE TABLE` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
}

/// A table's columns, in the order its buffer encodes them.
#[derive(Debug)]
pub struct Columns {
    pub table: &'static str,
    pub columns: &'static [Column],
    /// Columns of the table left to their `DEFAULT` expression (never sent):
    /// an explicit list, so a new column with a default is a decision too.
    pub defaulted: &'static [&'static str],
}

impl Columns {
    /// `a, b, c`: the column list of the INSERT.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        names.join(", ")
    }

    /// The INSERT statement the buffers of this table are sent with.
    pub fn insert_sql(&self) -> String {
        format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            self.table,
            self.names()
        )
    }
}

const fn c(name: &'static str, ty: &'static str) -> Column {
    Column { name, ty }
}

const UUID: &str = "UUID";
const TIME: &str = "DateTime64(3, 'UTC')";
const LC: &str = "LowCardinality(String)";
const STR: &str = "String";

pub const LOGIN: Columns = Columns {
    table: "login_events",
    columns: &[
        c("event_id", UUID),
        c("occurred_at", TIME),
        c("org_id", UUID),
        c("org_slug", LC),
        c("application_id", UUID),
        c("application_name", LC),
        c("user_id", UUID),
        c("login_id", STR),
        c("success", "Bool"),
        c("failure_reason", LC),
        c("provider", LC),
        c("ip", STR),
        c("user_agent", STR),
        c("session_id", STR),
    ],
    defaulted: &["ingested_at"],
};

pub const REGISTRATION: Columns = Columns {
    table: "registration_events",
    columns: &[
        c("event_id", UUID),
        c("occurred_at", TIME),
        c("org_id", UUID),
        c("org_slug", LC),
        c("action", LC),
        c("user_id", UUID),
        c("application_id", UUID),
        c("application_name", LC),
    ],
    defaulted: &["ingested_at"],
};

pub const TOKEN: Columns = Columns {
    table: "token_events",
    columns: &[
        c("event_id", UUID),
        c("occurred_at", TIME),
        c("org_id", UUID),
        c("org_slug", LC),
        c("grant_type", LC),
        c("token_type", LC),
        c("client_id", LC),
        c("application_id", UUID),
        c("user_id", UUID),
    ],
    defaulted: &["ingested_at"],
};

pub const SESSION: Columns = Columns {
    table: "session_events",
    columns: &[
        c("event_id", UUID),
        c("occurred_at", TIME),
        c("org_id", UUID),
        c("org_slug", LC),
        c("action", LC),
        c("session_id", STR),
        c("user_id", UUID),
        c("expires_at", TIME),
        c("application_id", UUID),
    ],
    defaulted: &["ingested_at"],
};

pub const AUDIT: Columns = Columns {
    table: "audit_events",
    columns: &[
        c("event_id", UUID),
        c("occurred_at", TIME),
        c("org_id", UUID),
        c("org_slug", LC),
        c("action", LC),
        c("entity_type", LC),
        c("entity_id", STR),
        c("actor_id", STR),
        c("actor_email", STR),
        c("organization_id", STR),
        c("metadata", STR),
        c("ip_address", STR),
    ],
    defaulted: &["ingested_at"],
};

/// The id and event time of every accepted event, by its place in the
/// topic: what the re-send check finds a group's claims through
/// (docs/delivery.md).
pub const EVENT_ID: Columns = Columns {
    table: "ingest_event_ids",
    columns: &[
        c("topic", LC),
        c("partition", "UInt32"),
        c("offset", "UInt64"),
        c("event_id", UUID),
        c("occurred_at", TIME),
    ],
    defaulted: &["inserted_at"],
};

/// The raw event tables, in the order of [`super::Rows::table`].
pub const RAW_TABLES: [&Columns; 5] = [&LOGIN, &REGISTRATION, &TOKEN, &SESSION, &AUDIT];

/// Every table ingest writes from RowBinary buffers: the raw tables and
/// the id table.
pub const ENCODED_TABLES: [&Columns; 6] =
    [&LOGIN, &REGISTRATION, &TOKEN, &SESSION, &AUDIT, &EVENT_ID];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::Rows;
    use serde_json::Value;

    /// A RowBinary value, decoded by the declared column type.
    #[derive(Debug, PartialEq)]
    enum Decoded {
        Uuid(uuid::Uuid),
        Millis(i64),
        Str(String),
        Bool(bool),
        U32(u32),
        U64(u64),
    }

    /// Decodes one value of type `ty` at the start of `b`; its length.
    fn decode(ty: &str, b: &[u8]) -> (Decoded, usize) {
        let le8 = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap());
        match ty {
            "UUID" => {
                let (hi, lo) = (le8(b), le8(&b[8..]));
                (Decoded::Uuid(uuid::Uuid::from_u64_pair(hi, lo)), 16)
            }
            "DateTime64(3, 'UTC')" => (Decoded::Millis(le8(b) as i64), 8),
            "String" | "LowCardinality(String)" => {
                let (mut len, mut shift, mut at) = (0usize, 0, 0);
                loop {
                    let byte = b[at];
                    len |= usize::from(byte & 0x7f) << shift;
                    at += 1;
                    shift += 7;
                    if byte & 0x80 == 0 {
                        break;
                    }
                }
                let s = std::str::from_utf8(&b[at..at + len]).unwrap().to_string();
                (Decoded::Str(s), at + len)
            }
            "Bool" => (Decoded::Bool(b[0] == 1), 1),
            "UInt32" => (
                Decoded::U32(u32::from_le_bytes(b[..4].try_into().unwrap())),
                4,
            ),
            "UInt64" => (Decoded::U64(le8(b)), 8),
            other => panic!("the encoder has no writer for type {other}"),
        }
    }

    /// The buffer decoded row by row with the declared types: fails if the
    /// encoder wrote more or fewer bytes than the types call for.
    fn decode_rows(columns: &Columns, bytes: &[u8]) -> Vec<Vec<(&'static str, Decoded)>> {
        let mut rows = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let mut row = Vec::new();
            for c in columns.columns {
                let (v, n) = decode(c.ty, &bytes[at..]);
                at += n;
                row.push((c.name, v));
            }
            rows.push(row);
        }
        assert_eq!(at, bytes.len(), "{}: trailing bytes", columns.table);
        rows
    }

    fn millis(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    /// Every column whose name is a field of the event (top level, `org`
    /// or `data`) holds that field's value: names and positions agree.
    fn assert_fields(table: &str, row: &[(&str, Decoded)], json: &Value) {
        let mut checked = 0;
        for (name, value) in row {
            let field = match *name {
                "event_id" => &json["id"],
                "occurred_at" => &json["occurred_at"],
                "org_id" => &json["org"]["id"],
                "org_slug" => &json["org"]["slug"],
                _ => &json["data"][*name],
            };
            let ok = match (field, value) {
                (Value::Null, _) | (Value::Object(_), _) => continue,
                // The parser normalises providers to lower case.
                (Value::String(s), Decoded::Str(d)) if *name == "provider" => {
                    s.to_lowercase() == *d
                }
                (Value::String(s), Decoded::Str(d)) => s == d,
                (Value::String(s), Decoded::Uuid(d)) => s.parse::<uuid::Uuid>().unwrap() == *d,
                (Value::String(s), Decoded::Millis(d)) => millis(s) == *d,
                (Value::Bool(b), Decoded::Bool(d)) => b == d,
                _ => false,
            };
            assert!(ok, "{table}.{name}: encoded {value:?}, event has {field}");
            checked += 1;
        }
        assert!(checked >= 6, "{table}: only {checked} columns checked");
    }

    #[test]
    fn rows_decode_by_the_declared_columns() {
        let examples = [
            include_str!("../../../schemas/examples/login.json"),
            include_str!("../../../schemas/examples/registration.json"),
            include_str!("../../../schemas/examples/token.json"),
            include_str!("../../../schemas/examples/session.json"),
            include_str!("../../../schemas/examples/audit.json"),
        ];
        for (t, example) in examples.iter().enumerate() {
            let event = authpulse_schemas::parse(example.as_bytes()).unwrap();
            let json: Value = serde_json::from_str(example).unwrap();
            let mut rows = Rows::default();
            rows.push(&event, "auth-events", 3, 77);
            let columns = RAW_TABLES[t];
            let bytes: Vec<u8> = rows.table(t).chunks().flat_map(|c| c.to_vec()).collect();
            let decoded = decode_rows(columns, &bytes);
            assert_eq!(decoded.len(), 1, "{}", columns.table);
            assert_fields(columns.table, &decoded[0], &json);
            // The id table: the event's id and time at its place in the topic.
            let ids: Vec<u8> = rows.event_ids.chunks().flat_map(|c| c.to_vec()).collect();
            let ids = decode_rows(&EVENT_ID, &ids);
            assert_eq!(
                ids,
                vec![vec![
                    ("topic", Decoded::Str("auth-events".into())),
                    ("partition", Decoded::U32(3)),
                    ("offset", Decoded::U64(77)),
                    ("event_id", Decoded::Uuid(event.id)),
                    (
                        "occurred_at",
                        Decoded::Millis(millis(json["occurred_at"].as_str().unwrap()))
                    ),
                ]]
            );
        }
    }

    #[test]
    fn a_failed_login_has_its_reason_and_empty_optionals() {
        let example = include_str!("../../../schemas/examples/login_failure.json");
        let event = authpulse_schemas::parse(example.as_bytes()).unwrap();
        let mut rows = Rows::default();
        rows.push(&event, "t", 0, 0);
        let bytes: Vec<u8> = rows.logins.chunks().flat_map(|c| c.to_vec()).collect();
        let row = &decode_rows(&LOGIN, &bytes)[0];
        let get = |n: &str| &row.iter().find(|(name, _)| *name == n).unwrap().1;
        assert_eq!(get("success"), &Decoded::Bool(false));
        assert_eq!(
            get("failure_reason"),
            &Decoded::Str("invalid_password".into())
        );
        assert_eq!(get("user_id"), &Decoded::Uuid(uuid::Uuid::nil()));
        assert_eq!(get("session_id"), &Decoded::Str(String::new()));
        assert_eq!(get("application_name"), &Decoded::Str(String::new()));
        assert_eq!(
            get("occurred_at"),
            &Decoded::Millis(millis("2026-03-08T08:31:12.250Z"))
        );
    }

    #[test]
    fn each_table_names_each_column_once() {
        for columns in ENCODED_TABLES {
            let mut names: Vec<&str> = columns.columns.iter().map(|c| c.name).collect();
            names.extend(columns.defaulted);
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{}", columns.table);
        }
        assert_eq!(
            LOGIN.insert_sql(),
            "INSERT INTO login_events (event_id, occurred_at, org_id, org_slug, application_id, \
             application_name, user_id, login_id, success, failure_reason, provider, ip, \
             user_agent, session_id) FORMAT RowBinary"
        );
    }
}
