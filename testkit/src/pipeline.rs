//! Streams from the load generator through the real pipeline (tests).

use std::collections::BTreeMap;
use std::time::Duration;

use authpulse_loadgen::{generate, Oracle, Profile};

pub use crate::clickhouse::{expected, expected_rollups, TYPES};
use crate::{block_on, eventually, produce, Stack};

pub fn count(stack: &Stack, sql: &str) -> u64 {
    stack
        .query(sql)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number from {sql}"))
}

/// Produces the profile's stream to `topic` and returns its oracle.
pub fn produce_stream(stack: &Stack, topic: &str, p: &Profile) -> Oracle {
    let mut oracle = Oracle::new();
    let mut batch = Vec::new();
    for m in generate(p) {
        oracle.observe(&m);
        batch.push((m.key.clone(), m.payload.clone()));
    }
    produce(&stack.brokers(), topic, &batch);
    oracle
}

/// Raw rows per event type.
pub fn stored(stack: &Stack) -> BTreeMap<&'static str, u64> {
    TYPES
        .into_iter()
        .map(|t| {
            (
                t,
                count(stack, &format!("SELECT count() FROM authpulse.{t}_events")),
            )
        })
        .collect()
}

/// Rollup sums per event type in `authpulse` ([`crate::rollup_sums`]).
pub fn rollup_sums(stack: &Stack) -> BTreeMap<&'static str, u64> {
    block_on(crate::rollup_sums(&stack.ch_client(), "authpulse"))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

/// Waits until the raw tables hold exactly the oracle's events, and the
/// rollups fed by them have caught up too (an insert makes its raw rows
/// visible before the views' rows are written).
pub fn wait_ingested(stack: &Stack, oracle: &Oracle, logs: &[&str]) {
    let want = expected(oracle);
    let reached = eventually(Duration::from_secs(240), || {
        let s = stored(stack);
        for (k, v) in &s {
            assert!(
                v <= &want[k],
                "more {k} rows than events: {s:?} vs {want:?}"
            );
        }
        let views_done = rollup_sums(stack).iter().all(|(k, v)| *v == want[k])
            // No insert still pushing blocks through its materialized views.
            && count(stack, "SELECT count() FROM system.processes WHERE query_kind = 'Insert'") == 0;
        (s == want && views_done).then_some(())
    });
    if reached.is_some() {
        refresh_snapshots(stack);
    }
    if reached.is_none() {
        let logs: String = logs
            .iter()
            .map(|l| format!("--- {l}\n{}", stack.log(l)))
            .collect();
        panic!(
            "never caught up: stored {:?}, rollups {:?}, expected {want:?}\n{logs}",
            stored(stack),
            rollup_sums(stack)
        );
    }
}

/// Refreshes every refreshable view of the schema (the snapshots of entity
/// statuses, active sessions, current registrations, finalized daily active
/// users) now instead of at its next scheduled refresh, and waits for it.
pub fn refresh_snapshots(stack: &Stack) {
    let n = block_on(crate::refresh_views(&stack.ch_client(), "authpulse"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(n > 0, "no refreshable views in authpulse");
}

/// A stack with topics created and the schema migrated for `zones`.
pub fn start_stack(name: &str, partitions: i32, zones: &str) -> Stack {
    let stack = Stack::start(name);
    stack.create_topic("auth-events", partitions);
    stack.create_topic("auth-events-dlq", 1);
    stack.migrate_zones("authpulse", zones);
    stack
}

/// Produces the stream, runs one ingest consumer until it is stored.
pub fn load(stack: &mut Stack, p: &Profile) -> Oracle {
    let oracle = produce_stream(stack, "auth-events", p);
    stack.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest.log");
    wait_ingested(stack, &oracle, &["ingest.log"]);
    oracle
}

/// Dead letters stored in ClickHouse, counted by reason.
pub fn dead_letters_by_reason(stack: &Stack) -> BTreeMap<String, u64> {
    stack
        .query("SELECT reason, count() FROM authpulse.dead_letters GROUP BY reason ORDER BY reason")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (r, n) = l.split_once('\t').unwrap();
            (r.to_string(), n.parse().unwrap())
        })
        .collect()
}
