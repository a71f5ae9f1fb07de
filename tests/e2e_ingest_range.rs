//! The accepted event-time range against the real broker and ClickHouse:
//! one batch with an event in every month the contract accepts (1970..2099)
//! is stored whole — raw rows and rollups, month by month — and times the
//! store cannot hold are dead-lettered with a reason instead of wrapping.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use common::pipeline::count;
use common::*;

fn login(n: u64, at: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{}","type":"login","occurred_at":"{at}","org":{{"id":"7f3e2a10-5b4c-4d8e-9f01-23456789abcd","slug":"acme"}},"data":{{"success":true,"user_id":"{}","login_id":"u{n}@example.com","application_id":"11111111-2222-4333-8444-555555555555","provider":"password"}}}}"#,
        uuid::Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n)),
        uuid::Uuid::from_u128(0x2000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n)),
    )
    .into_bytes()
}

/// Months whose count differs from `want` (empty: all equal).
fn month_diff(stack: &Stack, sql: &str, want: &BTreeMap<u32, u64>) -> Vec<String> {
    let got = by_month(stack, sql);
    let months: std::collections::BTreeSet<&u32> = got.keys().chain(want.keys()).collect();
    months
        .into_iter()
        .filter(|m| got.get(m) != want.get(m))
        .map(|m| format!("{m}: {:?} stored, {:?} sent", got.get(m), want.get(m)))
        .collect()
}

fn by_month(stack: &Stack, sql: &str) -> BTreeMap<u32, u64> {
    stack
        .query(sql)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (m, n) = l.split_once('\t').unwrap();
            (m.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn every_month_of_the_range_in_one_batch_is_stored_and_the_rest_dead_lettered() {
    let mut stack = pipeline::start_stack("range", 1, "UTC,America/Denver");
    // Raw retention is not what is tested here: old rows are born past it.
    stack.query("SYSTEM STOP TTL MERGES authpulse.login_events");

    // One login on the 15th of every month from 1970-01 to 2099-12 (past
    // and far future), plus the range's exact ends.
    let mut messages = Vec::new();
    let mut want: BTreeMap<u32, u64> = BTreeMap::new();
    let mut n = 0u64;
    let mut add = |at: chrono::DateTime<Utc>, messages: &mut Vec<(String, Vec<u8>)>| {
        n += 1;
        let text = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        messages.push((format!("k{n}"), login(n, &text)));
        *want.entry(at.year() as u32 * 100 + at.month()).or_default() += 1;
    };
    for year in 1970..2100 {
        for month in 1..=12 {
            add(
                Utc.with_ymd_and_hms(year, month, 15, 12, 0, 0).unwrap(),
                &mut messages,
            );
        }
    }
    add(
        Utc.with_ymd_and_hms(1970, 1, 2, 0, 0, 0).unwrap(),
        &mut messages,
    );
    add(
        Utc.timestamp_millis_opt(4_102_444_799_999).unwrap(),
        &mut messages,
    );
    let valid = messages.len() as u64;
    assert_eq!(valid, 130 * 12 + 2);
    // What the store cannot hold: before 1970-01-02 and from 2100 on.
    let bad = [
        "1969-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "2100-01-01T00:00:00Z",
        "2262-04-11T23:47:16Z",
    ];
    for (i, at) in bad.iter().enumerate() {
        messages.push((format!("bad{i}"), login(100_000 + i as u64, at)));
    }
    produce(&stack.brokers(), "auth-events", &messages);

    // Large batches, so all of it is one batch (one insert per table), and
    // a clock skew that lets the far future in.
    stack.spawn(
        &[
            "ingest",
            "--batch-rows",
            "100000",
            "--batch-wait-ms",
            "3000",
            "--max-future-skew-secs",
            "4000000000",
        ],
        "ingest.log",
    );
    let done = eventually(Duration::from_secs(240), || {
        let raw = count(&stack, "SELECT count() FROM authpulse.login_events");
        let dead = count(&stack, "SELECT count() FROM authpulse.dead_letters");
        // An insert makes its raw rows visible before its views are done
        // (here ~1560 parts per view).
        let views = count(&stack, "SELECT sum(logins) FROM authpulse.login_counts_15m");
        let inserting = count(
            &stack,
            "SELECT count() FROM system.processes WHERE query_kind = 'Insert'",
        );
        (raw == valid && dead == bad.len() as u64 && views == valid && inserting == 0).then_some(())
    });
    assert!(
        done.is_some(),
        "not all stored: {} raw rows of {valid} ({} in the rollup), {} dead letters of {}\n{}",
        count(&stack, "SELECT count() FROM authpulse.login_events"),
        count(&stack, "SELECT sum(logins) FROM authpulse.login_counts_15m"),
        count(&stack, "SELECT count() FROM authpulse.dead_letters"),
        bad.len(),
        stack.log("ingest.log")
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        count(&stack, "SELECT count() FROM authpulse.ingest_batches"),
        1,
        "the whole stream was one batch"
    );
    for (what, sql) in [
        (
            "raw rows",
            "SELECT toYYYYMM(occurred_at) AS m, count() FROM authpulse.login_events GROUP BY m",
        ),
        (
            "15-minute rollup",
            "SELECT toYYYYMM(bucket) AS m, sum(logins) FROM authpulse.login_counts_15m GROUP BY m",
        ),
        // Each login is a distinct user: monthly active users per local
        // month, in UTC and in a zone west of it (its 1970-01-02T00:00Z is
        // 1970-01-01 local, the first day a ClickHouse Date can hold).
        (
            "monthly active users (UTC)",
            "SELECT toYYYYMM(month) AS m, uniqCombined64Merge(17)(users) FROM authpulse.active_users_monthly \
             WHERE tz = 'UTC' AND org_id = toUUID('00000000-0000-0000-0000-000000000000') GROUP BY m",
        ),
        (
            "monthly active users (America/Denver)",
            "SELECT toYYYYMM(month) AS m, uniqCombined64Merge(17)(users) FROM authpulse.active_users_monthly \
             WHERE tz = 'America/Denver' AND org_id = toUUID('00000000-0000-0000-0000-000000000000') GROUP BY m",
        ),
    ] {
        let diff = month_diff(&stack, sql, &want);
        assert!(diff.is_empty(), "{what} differ in {} months: {diff:?}", diff.len());
    }
    assert_eq!(
        stack.query(
            "SELECT toString(min(occurred_at)), toString(max(occurred_at)) FROM authpulse.login_events"
        ),
        "1970-01-02 00:00:00.000\t2099-12-31 23:59:59.999\n"
    );
    assert_eq!(
        stack.query("SELECT reason, count() FROM authpulse.dead_letters GROUP BY reason"),
        format!("timestamp_out_of_range\t{}\n", bad.len())
    );
}
