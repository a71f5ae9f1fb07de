//! ClickHouse for the benchmark through the product's client
//! (`clickhouse::Client` from authpulse-connect): statements, timed
//! queries, JSONEachRow inserts and the visibility check.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::BytesMut;
use tokio::io::AsyncReadExt as _;

#[derive(Clone)]
pub struct Ch {
    client: clickhouse::Client,
}

/// What is visible in a database: per event type, the sums of the rollups
/// (sessions: raw rows, they have no counting rollup) and all-time
/// successful logins (`login_totals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub login: u64,
    pub registration: u64,
    pub token: u64,
    pub session: u64,
    pub audit: u64,
    pub login_success: u64,
}

impl Counts {
    pub fn events(&self) -> u64 {
        self.login + self.registration + self.token + self.session + self.audit
    }
}

impl Ch {
    pub fn new(client: clickhouse::Client) -> Ch {
        Ch { client }
    }

    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    fn in_db(&self, db: &str) -> clickhouse::Client {
        self.client.clone().with_database(db)
    }

    /// Runs one statement.
    pub async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        self.client
            .query(sql)
            .execute()
            .await
            .with_context(|| format!("in: {}", sql.chars().take(300).collect::<String>()))
    }

    /// Runs one statement in `db`.
    pub async fn exec_in(&self, db: &str, sql: &str) -> anyhow::Result<()> {
        self.in_db(db)
            .query(sql)
            .execute()
            .await
            .with_context(|| format!("in: {}", sql.chars().take(300).collect::<String>()))
    }

    /// One `u64` (a count) from `sql`.
    pub async fn count(&self, sql: &str) -> anyhow::Result<u64> {
        self.client
            .query(sql)
            .fetch_one::<u64>()
            .await
            .with_context(|| format!("in: {sql}"))
    }

    /// Runs a query in `db` and reads its whole JSONCompact answer;
    /// returns (elapsed, body bytes).
    pub async fn timed(&self, db: &str, sql: &str) -> anyhow::Result<(Duration, usize)> {
        let client = self.in_db(db);
        let t = Instant::now();
        let body = client
            .query(sql)
            .fetch_bytes("JSONCompact")?
            .collect()
            .await?;
        Ok((t.elapsed(), body.len()))
    }

    /// The columns of `db.table` that an insert must give (no DEFAULT,
    /// MATERIALIZED or ALIAS expression), with their types, as `DESCRIBE
    /// TABLE` shows them: the table's definition is the store's migrations,
    /// not a list kept here.
    pub async fn insert_columns(
        &self,
        db: &str,
        table: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let cols: Vec<(String, String)> = self
            .client
            .query(
                "SELECT name, type FROM system.columns WHERE database = ? AND table = ? \
                 AND default_kind = '' ORDER BY position",
            )
            .bind(db)
            .bind(table)
            .fetch_all()
            .await
            .with_context(|| format!("columns of {db}.{table}"))?;
        anyhow::ensure!(
            !cols.is_empty(),
            "{db}.{table} has no columns (not migrated?)"
        );
        Ok(cols)
    }

    fn insert(&self, db: &str, table: &str) -> clickhouse::insert_formatted::InsertFormatted {
        // Timestamps are written as the events carry them (RFC 3339).
        self.in_db(db)
            .insert_formatted_with(format!("INSERT INTO `{table}` FORMAT JSONEachRow"))
            .with_setting("date_time_input_format", "best_effort")
    }

    /// Inserts JSONEachRow `rows` into `db.table`.
    pub async fn insert_bytes(&self, db: &str, table: &str, rows: Vec<u8>) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut ins = self.insert(db, table);
        ins.send(rows.into())
            .await
            .with_context(|| format!("insert into {db}.{table}"))?;
        ins.end()
            .await
            .with_context(|| format!("insert into {db}.{table}"))
    }

    /// Streams the JSONEachRow `file` into `db.table` as one INSERT.
    pub async fn insert_file(&self, db: &str, table: &str, file: &Path) -> anyhow::Result<()> {
        let what = || format!("insert {} into {db}.{table}", file.display());
        let mut f = tokio::fs::File::open(file).await.with_context(what)?;
        let mut ins = self.insert(db, table);
        loop {
            let mut buf = BytesMut::with_capacity(1 << 20);
            if f.read_buf(&mut buf).await.with_context(what)? == 0 {
                break;
            }
            ins.send(buf.freeze()).await.with_context(what)?;
        }
        ins.end().await.with_context(what)
    }

    /// Waits (up to `limit`) until no merge or mutation is running.
    pub async fn wait_idle(&self, limit: Duration) -> anyhow::Result<()> {
        authpulse_testkit::wait_idle(&self.client, limit).await
    }

    /// The rollup sums of `db` (the test kit's), sessions' raw rows and
    /// all-time successful logins.
    pub async fn counts(&self, db: &str) -> anyhow::Result<Counts> {
        let sums = authpulse_testkit::rollup_sums(&self.client, db).await?;
        let get = |k: &str| sums.get(k).copied().unwrap_or(0);
        let (session, login_success): (u64, u64) = self
            .client
            .query(&format!(
                "SELECT toUInt64(ifNull((SELECT count() FROM `{db}`.session_events), 0)), \
                 toUInt64(ifNull((SELECT sum(logins) FROM `{db}`.login_totals), 0))"
            ))
            .fetch_one()
            .await
            .with_context(|| format!("counting {db}"))?;
        Ok(Counts {
            login: get("login"),
            registration: get("registration"),
            token: get("token"),
            session,
            audit: get("audit"),
            login_success,
        })
    }
}

/// The `system.events` counters the notes use.
const EVENTS: [&str; 10] = [
    "OSCPUVirtualTimeMicroseconds",
    "OSCPUWaitMicroseconds",
    "RefreshableViewRefreshSuccess",
    "InsertQueryTimeMicroseconds",
    "SelectQueryTimeMicroseconds",
    "SelectQuery",
    "Merge",
    "MergeTotalMilliseconds",
    "InsertedCompactParts",
    "InsertedWideParts",
];

/// ClickHouse's own cumulative counters (`system.events`) at one moment, or
/// their change between two ([`Events::since`]).
#[derive(Debug, Clone, Default)]
pub struct Events(std::collections::HashMap<String, u64>);

impl Events {
    pub fn get(&self, event: &str) -> u64 {
        self.0.get(event).copied().unwrap_or(0)
    }

    /// The change from `before` to these counters.
    pub fn since(&self, before: &Events) -> Events {
        Events(
            EVENTS
                .iter()
                .map(|e| (e.to_string(), self.get(e).saturating_sub(before.get(e))))
                .collect(),
        )
    }

    /// A change in words.
    pub fn summary(&self) -> String {
        let secs = |e: &str| self.get(e) as f64 / 1e6;
        format!(
            "its threads on a core {:.1} s and ready to run but waiting for a core {:.1} s; \
             insert queries {:.1} s, {} select queries {:.1} s (wall time, summed); \
             {} parts written by inserts, {} merges taking {:.1} s",
            secs("OSCPUVirtualTimeMicroseconds"),
            secs("OSCPUWaitMicroseconds"),
            secs("InsertQueryTimeMicroseconds"),
            self.get("SelectQuery"),
            secs("SelectQueryTimeMicroseconds"),
            self.get("InsertedCompactParts") + self.get("InsertedWideParts"),
            self.get("Merge"),
            self.get("MergeTotalMilliseconds") as f64 / 1e3,
        )
    }
}

impl Ch {
    /// ClickHouse's counters now; `None` when they cannot be read.
    pub async fn events(&self) -> Option<Events> {
        self.client
            .query("SELECT event, value FROM system.events WHERE event IN ?")
            .bind(EVENTS.as_slice())
            .fetch_all::<(String, u64)>()
            .await
            .ok()
            .map(|rows| Events(rows.into_iter().collect()))
    }
}
