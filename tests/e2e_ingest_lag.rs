//! Lag on /metrics keeps moving through a ClickHouse outage: while the
//! consumer's stores retry, producers keep writing and the lag must show it;
//! once ClickHouse is back everything is stored exactly and lag returns to 0.

mod common;

use std::time::Duration;

use authpulse_loadgen::{generate, Oracle, Profile};
use chrono::{TimeZone, Utc};
use common::pipeline::{expected, stored, wait_ingested};
use common::*;

fn profile(seed: u64, events: u64) -> Profile {
    Profile {
        seed,
        events,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 100,
        start: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(10),
        ..Profile::default()
    }
}

/// Total `authpulse_ingest_partition_lag` over partitions, if served.
fn lag(port: u16) -> Option<u64> {
    let (status, text) = http_get(&format!("http://127.0.0.1:{port}/metrics"), None);
    if status != 200 {
        return None;
    }
    let values: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("authpulse_ingest_partition_lag{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn produce_into(stack: &Stack, oracle: &mut Oracle, p: &Profile) -> u64 {
    let mut batch = Vec::new();
    for m in generate(p) {
        oracle.observe(&m);
        batch.push((m.key.clone(), m.payload.clone()));
    }
    produce(&stack.brokers(), "auth-events", &batch);
    batch.len() as u64
}

#[test]
fn lag_grows_during_a_clickhouse_outage_and_drains_after() {
    let mut stack = pipeline::start_stack("lag", 2, "UTC");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    stack.spawn(
        &[
            "ingest",
            "--batch-rows",
            "500",
            "--batch-wait-ms",
            "150",
            "--metrics-listen",
            &listen,
        ],
        "ingest.log",
    );
    let mut oracle = Oracle::new();
    produce_into(&stack, &mut oracle, &profile(31, 2_000));
    wait_ingested(&stack, &oracle, &["ingest.log"]);
    eventually(Duration::from_secs(60), || {
        (lag(port) == Some(0)).then_some(())
    })
    .expect("lag 0 once caught up");

    stack.clickhouse("stop");
    // Enough that the open batches fill and the poll loop waits on the
    // store in flight: the old lag probe ran in that loop and froze here.
    let first = produce_into(&stack, &mut oracle, &profile(32, 3_000));
    let seen = eventually(Duration::from_secs(90), || {
        lag(port).filter(|l| *l >= first)
    });
    assert!(
        seen.is_some(),
        "lag did not reach {first} during the outage (last {:?})",
        lag(port)
    );
    let second = produce_into(&stack, &mut oracle, &profile(33, 2_000));
    let grown = eventually(Duration::from_secs(90), || {
        lag(port).filter(|l| *l >= first + second)
    });
    assert!(
        grown.is_some(),
        "lag did not keep growing to {} while ClickHouse stayed down (last {:?})",
        first + second,
        lag(port)
    );
    assert!(
        stack.log("ingest.log").contains("store failed; retrying"),
        "the consumer was retrying a store meanwhile"
    );

    stack.clickhouse("start");
    wait_ingested(&stack, &oracle, &["ingest.log"]);
    assert_eq!(stored(&stack), expected(&oracle), "exact after the outage");
    let drained = eventually(Duration::from_secs(90), || {
        (lag(port) == Some(0)).then_some(())
    });
    assert!(
        drained.is_some(),
        "lag did not return to 0 (last {:?})",
        lag(port)
    );
}
