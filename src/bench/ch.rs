//! ClickHouse over HTTP for the benchmark: statements, bulk inserts of
//! JSONEachRow, waiting for background merges, and the visibility check.

use std::path::Path;
use std::time::{Duration, Instant};

use super::http::{encode, Body, Conn};

pub struct Ch {
    conn: Conn,
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
    /// Plain HTTP to `url`, as `auth`'s user (its password in the
    /// X-ClickHouse-Key header, as ClickHouse's HTTP interface takes it).
    pub fn new(url: &str, auth: &authpulse_connect::ClickHouseOptions) -> Ch {
        let mut headers = Vec::new();
        if let Some(user) = &auth.user {
            headers.push(("X-ClickHouse-User".to_string(), user.clone()));
        }
        if let Some(password) = &auth.password {
            headers.push((
                "X-ClickHouse-Key".to_string(),
                password.expose().to_string(),
            ));
        }
        Ch {
            conn: Conn::new(url).with_headers(headers),
        }
    }

    /// Runs one statement (in `db` when given) and returns the body.
    pub async fn exec(&mut self, db: Option<&str>, sql: &str) -> anyhow::Result<String> {
        let path = match db {
            Some(d) => format!("/?database={}", encode(d)),
            None => "/".to_string(),
        };
        let r = self
            .conn
            .request("POST", &path, &[], Body::Bytes(sql.as_bytes()))
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "clickhouse {}: {}\n  in: {}",
            r.status,
            r.text().trim(),
            sql.chars().take(300).collect::<String>()
        );
        Ok(r.text())
    }

    /// Runs a query, returns (elapsed, body bytes); errors on non-200.
    pub async fn timed(&mut self, db: &str, sql: &str) -> anyhow::Result<(Duration, usize)> {
        let path = format!("/?database={}", encode(db));
        let t = Instant::now();
        let r = self
            .conn
            .request("POST", &path, &[], Body::Bytes(sql.as_bytes()))
            .await?;
        let el = t.elapsed();
        anyhow::ensure!(r.status == 200, "clickhouse {}: {}", r.status, r.text());
        Ok((el, r.body.len()))
    }

    fn insert_path(db: &str, table: &str) -> String {
        format!(
            "/?database={}&query={}",
            encode(db),
            encode(&format!("INSERT INTO {table} FORMAT JSONEachRow"))
        )
    }

    pub async fn insert_bytes(&mut self, db: &str, table: &str, rows: &[u8]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let r = self
            .conn
            .request(
                "POST",
                &Self::insert_path(db, table),
                &[],
                Body::Bytes(rows),
            )
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "insert into {db}.{table}: {} {}",
            r.status,
            r.text()
        );
        Ok(())
    }

    pub async fn insert_file(&mut self, db: &str, table: &str, file: &Path) -> anyhow::Result<()> {
        let r = self
            .conn
            .request("POST", &Self::insert_path(db, table), &[], Body::File(file))
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "insert {} into {db}.{table}: {} {}",
            file.display(),
            r.status,
            r.text()
        );
        Ok(())
    }

    pub async fn scalar(&mut self, sql: &str) -> anyhow::Result<String> {
        Ok(self.exec(None, sql).await?.trim().to_string())
    }

    /// Waits (up to `limit`) until no merge or mutation is running, so one
    /// measurement does not pay for the previous one's background work.
    pub async fn wait_idle(&mut self, limit: Duration) -> anyhow::Result<()> {
        let t = Instant::now();
        while t.elapsed() < limit {
            let busy: u64 = self
                .scalar(
                    "SELECT (SELECT count() FROM system.merges) + \
                     (SELECT count() FROM system.mutations WHERE NOT is_done)",
                )
                .await?
                .parse()
                .unwrap_or(0);
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok(())
    }

    pub async fn counts(&mut self, db: &str) -> anyhow::Result<Counts> {
        let sql = "SELECT \
            (SELECT sum(logins) FROM login_counts_15m), \
            (SELECT sum(events) FROM registration_counts_15m), \
            (SELECT sum(tokens) FROM token_counts_15m), \
            (SELECT count() FROM session_events), \
            (SELECT sum(events) FROM audit_counts_15m), \
            (SELECT sum(logins) FROM login_totals) \
            FORMAT TSV";
        let text = self.exec(Some(db), sql).await?;
        let v: Vec<u64> = text
            .split_whitespace()
            .map(|s| s.parse().unwrap_or(0))
            .collect();
        anyhow::ensure!(v.len() == 6, "unexpected counts answer {text:?}");
        Ok(Counts {
            login: v[0],
            registration: v[1],
            token: v[2],
            session: v[3],
            audit: v[4],
            login_success: v[5],
        })
    }
}
