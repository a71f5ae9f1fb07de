//! The ClickHouse side of a store group: its write-ahead record
//! ([`write_ahead`]), the re-send check (`crate::dedup`), then one insert per
//! destination table, each with a deterministic deduplication token
//! ([`group`]); a failing store is retried with backoff ([`retry`]).

pub(crate) mod group;
pub(crate) mod retry;
pub(crate) mod write_ahead;

use std::time::Instant;

use clickhouse::Client;

use crate::dead_letter;
use crate::dedup;
use crate::encode::columns::{self, Columns, EVENT_ID, RAW_TABLES};
use crate::encode::{Encoded, Rows};
use crate::error::Result;
use crate::metrics::Metrics;
use group::GroupId;
use write_ahead::PendingBatch;

/// The `kind` label of `authpulse_ingest_rows_inserted_total`, per raw
/// table (in [`RAW_TABLES`] order).
const KINDS: [&str; 5] = ["login", "registration", "token", "session", "audit"];

#[derive(Clone)]
pub struct Sink {
    client: Client,
    group: String,
    /// Test hook (`AUTHPULSE_FAILPOINT_STORE_ABORT=<table>`): the process
    /// aborts right after the first group of several batches has landed in
    /// that table only, the worst place for a crash. Tests use it to prove
    /// the replay of such a group by owners that did not read all of it.
    abort_after: Option<String>,
}

impl Sink {
    /// `client` comes from the one ClickHouse client builder
    /// (`Config::clickhouse_client`).
    pub fn new(client: Client, database: &str, group: &str) -> Sink {
        let client = client
            .with_database(database)
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1")
            .with_setting("insert_deduplicate", "1")
            // On a cluster ingest writes Distributed tables: acknowledged
            // only once every shard stored its part (docs/scaling.md); no
            // effect on local tables.
            .with_setting("distributed_foreground_insert", "1")
            // A batch may hold events of every month the contract accepts
            // (1970..2100, ~1560 monthly partitions); the default limit of
            // 100 partitions per insert block made such a batch fail
            // forever and stall its partition.
            .with_setting("max_partitions_per_insert_block", "0");
        Sink {
            client,
            group: group.to_string(),
            abort_after: std::env::var("AUTHPULSE_FAILPOINT_STORE_ABORT")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }

    /// A batch that was started at `first` on this partition and may not
    /// have been committed: a replay must re-form it (and its group).
    pub async fn pending_batch(
        &self,
        topic: &str,
        partition: i32,
        first: i64,
    ) -> Result<Option<PendingBatch>> {
        write_ahead::find(&self.client, &self.group, (topic, partition), first).await
    }

    /// Stores a group: the write-ahead record of every member and the ids
    /// and event times of the group's events (all of them, by position)
    /// into `ingest_event_ids` first, then the re-send check — the claims
    /// already held on them read back from `ingest_claims_by_time`, the
    /// claims of the events that are not re-sends inserted — and only then
    /// one insert per raw table with the rows of all members (`parts`, in
    /// the group's member order) without the re-sends. Returns the number of re-sends dropped.
    pub async fn store(&self, group: &GroupId, parts: &[&Rows], metrics: &Metrics) -> Result<u64> {
        let started = Instant::now();
        // Together: the event ids are not rows of the group but what its
        // claims lookup reads by position. Same positions, same ids and
        // event times, whichever group wrote them: ids left by an attempt
        // whose write-ahead record never landed are harmless to the group
        // formed instead (the lookup only asks whether a pair is there),
        // and the same group again is deduplicated by token.
        tokio::try_join!(
            write_ahead::write(&self.client, &self.group, group),
            self.insert(group, &EVENT_ID, parts.len(), |p| &parts[p].event_ids),
        )?;
        metrics.store_stage("write_ahead", started.elapsed());
        let stage = Instant::now();
        let resends = dedup::claims::resends(
            &self.client,
            group,
            &group.token(&self.group, ""),
            group.token(&self.group, "ingest_claims_by_time"),
            parts,
            metrics,
        )
        .await?;
        metrics.store_stage("claims", stage.elapsed());
        let stage = Instant::now();
        let dropped = dedup::dropped(&resends);
        // Filtered buffers, only where a part has re-sends in that table.
        let filtered: Vec<[Option<Encoded>; 5]> = parts
            .iter()
            .zip(&resends)
            .map(|(part, drop)| {
                std::array::from_fn(|t| {
                    (!drop[t].is_empty()).then(|| part.table(t).without(&drop[t]))
                })
            })
            .collect();
        let table = |p: usize, t: usize| -> &Encoded {
            filtered[p][t].as_ref().unwrap_or_else(|| parts[p].table(t))
        };
        if let Some(name) = self
            .abort_after
            .as_deref()
            .filter(|_| group.members().len() > 1)
        {
            if let Some(t) = RAW_TABLES.iter().position(|c| c.table == name) {
                self.insert(group, RAW_TABLES[t], parts.len(), |p| table(p, t))
                    .await?;
            }
            tracing::error!(
                table = name,
                members = group.members().len(),
                "failpoint: aborting after a partial store"
            );
            std::process::abort();
        }
        // The tables are independent: insert them concurrently.
        let n = parts.len();
        tokio::try_join!(
            self.insert(group, &columns::LOGIN, n, |p| table(p, 0)),
            self.insert(group, &columns::REGISTRATION, n, |p| table(p, 1)),
            self.insert(group, &columns::TOKEN, n, |p| table(p, 2)),
            self.insert(group, &columns::SESSION, n, |p| table(p, 3)),
            self.insert(group, &columns::AUDIT, n, |p| table(p, 4)),
            dead_letter::table::insert(
                &self.client,
                group,
                group.token(&self.group, dead_letter::table::TABLE),
                parts.iter().flat_map(|p| &p.dead_letters),
            ),
        )?;
        metrics.store_stage("tables", stage.elapsed());
        metrics.record_insert(started.elapsed());
        for (t, kind) in KINDS.into_iter().enumerate() {
            let n: usize = (0..parts.len()).map(|p| table(p, t).rows()).sum();
            if n > 0 {
                metrics.inserted(kind, n as u64);
            }
        }
        Ok(dropped)
    }

    /// One insert of the members' RowBinary buffers (`rows(0..n)`, in
    /// member order) into a table, with the group's token for it.
    async fn insert<'a>(
        &self,
        group: &GroupId,
        columns: &Columns,
        n: usize,
        rows: impl Fn(usize) -> &'a Encoded,
    ) -> Result<()> {
        if (0..n).all(|p| rows(p).rows() == 0) {
            return Ok(());
        }
        let mut insert = self
            .client
            .insert_formatted_with(columns.insert_sql())
            .with_setting(
                "insert_deduplication_token",
                group.token(&self.group, columns.table),
            );
        for p in 0..n {
            for chunk in rows(p).chunks() {
                insert.send(chunk).await?;
            }
        }
        insert.end().await?;
        Ok(())
    }
}
