//! ClickHouse helpers on the product's client (`clickhouse::Client` from
//! authpulse-connect): snapshot-view refresh, waiting for merges, rollup
//! sums, and the loadgen oracle's figures to compare them with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use authpulse_loadgen::Oracle;

/// The event types, as the raw tables (`<type>_events`) and the oracle
/// name them.
pub const TYPES: [&str; 5] = ["login", "registration", "token", "session", "audit"];

/// The 15-minute rollup of each event type with a counting rollup, and the
/// column whose sum is its events (sessions have none).
const ROLLUPS: [(&str, &str, &str); 4] = [
    ("login", "login_counts_15m", "logins"),
    ("registration", "registration_counts_15m", "events"),
    ("token", "token_counts_15m", "tokens"),
    ("audit", "audit_counts_15m", "events"),
];

/// Refreshes every refreshable view of `db` (the snapshots of entity
/// statuses, active sessions, current registrations, finalized daily and
/// monthly active users) now instead of at its next scheduled refresh, and
/// waits for each. Returns how many there were.
pub async fn refresh_views(ch: &clickhouse::Client, db: &str) -> anyhow::Result<usize> {
    let views: Vec<String> = ch
        .query("SELECT view FROM system.view_refreshes WHERE database = ? ORDER BY view")
        .bind(db)
        .fetch_all()
        .await
        .with_context(|| format!("listing the refreshable views of {db}"))?;
    for v in &views {
        for verb in ["REFRESH", "WAIT"] {
            ch.query(&format!("SYSTEM {verb} VIEW `{db}`.`{v}`"))
                .execute()
                .await
                .with_context(|| format!("SYSTEM {verb} VIEW {db}.{v}"))?;
        }
    }
    Ok(views.len())
}

/// Waits (up to `limit`) until no merge or mutation is running, so one
/// measurement does not pay for the previous one's background work.
pub async fn wait_idle(ch: &clickhouse::Client, limit: Duration) -> anyhow::Result<()> {
    let t = Instant::now();
    while t.elapsed() < limit {
        let busy: u64 = ch
            .query(
                "SELECT toUInt64(ifNull((SELECT count() FROM system.merges), 0) + \
                 ifNull((SELECT count() FROM system.mutations WHERE NOT is_done), 0))",
            )
            .fetch_one()
            .await?;
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Events per event type summed from the 15-minute rollups of `db`
/// (login, registration, token, audit); equal to the raw counts once every
/// materialized view has seen every stored row.
pub async fn rollup_sums(
    ch: &clickhouse::Client,
    db: &str,
) -> anyhow::Result<BTreeMap<&'static str, u64>> {
    // One query (an array of scalar subqueries): the bench polls this
    // every 200 ms while it times ingest.
    let sums: Vec<String> = ROLLUPS
        .iter()
        // A scalar subquery is Nullable: ifNull makes the array UInt64.
        .map(|(_, table, column)| {
            format!("toUInt64(ifNull((SELECT sum({column}) FROM `{db}`.{table}), 0))")
        })
        .collect();
    let v: Vec<u64> = ch
        .query(&format!("SELECT [{}]", sums.join(", ")))
        .fetch_one()
        .await
        .with_context(|| format!("summing the rollups of {db}"))?;
    anyhow::ensure!(v.len() == ROLLUPS.len(), "rollup sums: {v:?}");
    Ok(ROLLUPS.iter().map(|(kind, _, _)| *kind).zip(v).collect())
}

/// Valid events per event type in the oracle (every type, zeros kept).
pub fn expected(oracle: &Oracle) -> BTreeMap<&'static str, u64> {
    let by = oracle.events_by_type();
    TYPES
        .into_iter()
        .map(|t| (t, by.get(t).copied().unwrap_or(0)))
        .collect()
}

/// What [`rollup_sums`] should reach for the oracle's stream.
pub fn expected_rollups(oracle: &Oracle) -> BTreeMap<&'static str, u64> {
    let mut e = expected(oracle);
    e.retain(|k, _| ROLLUPS.iter().any(|(kind, _, _)| kind == k));
    e
}

/// Distinct-user counts from sketches against the oracle's exact ones:
/// uniqCombined64(17) is exact while a state is small and within ~1% beyond
/// (docs/rollups.md), so each interval may be off by at most 1%.
pub fn assert_sketch_close(got: &BTreeMap<i64, u64>, want: &BTreeMap<i64, u64>, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: same intervals"
    );
    for (k, w) in want {
        let g = got[k];
        let err = (g as f64 - *w as f64).abs() / (*w as f64).max(1.0);
        assert!(err <= 0.01, "{what}: interval {k}: got {g}, exact {w}");
    }
}
