//! The API's report cache against a real ClickHouse: answers repeat from
//! memory while the tables are unchanged (counted by ClickHouse's own
//! `SelectQuery` events and the API's metrics), and any write to the
//! tables, here by hand and not through ingest, shows in the next answer
//! within a poll or two: counts equal to the rows written, never stale.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use common::admin::{bearer, http};
use common::pipeline::start_stack;
use common::*;
use serde_json::{json, Value};

const KEY: &str = "report-cache-key-0123456789";
const ORG: &str = "00000000-0000-0000-0000-00000000ca01";
const APP: &str = "00000000-0000-0000-0000-00000000ca02";
const SLUG: &str = "cache-org";

fn start_api(stack: &mut Stack) -> String {
    let config = json!({
        "api_keys": [{ "key": KEY, "name": "all", "scopes": ["reports:read", "stats:read"] }],
        "jwt": { "hs256_secrets": [common::admin::SECRET] },
    });
    let path = stack.dir.join("auth.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    stack.spawn(
        &[
            "api",
            "--listen",
            &listen,
            "--auth-config",
            path.to_str().unwrap(),
        ],
        "api.log",
    );
    let base = format!("http://{listen}");
    eventually(Duration::from_secs(60), || {
        (http("GET", &format!("{base}/jans-auth/sys/health-check"), None).0 == 200).then_some(())
    })
    .expect("api up");
    base
}

/// `n` successful logins of the test org/app at `at` (one user each),
/// inserted straight into the raw table: its views fill the rollups.
fn insert_logins(stack: &Stack, at: DateTime<Utc>, n: u32, tag: &str) {
    let ms = at.timestamp_millis();
    stack.query_in(
        "authpulse",
        &format!(
            "INSERT INTO login_events (event_id, occurred_at, org_id, org_slug, application_id, \
             application_name, user_id, login_id, success, provider) \
             SELECT generateUUIDv4(), fromUnixTimestamp64Milli(toInt64({ms}), 'UTC'), \
             toUUID('{ORG}'), '{SLUG}', toUUID('{APP}'), 'cache app', \
             generateUUIDv4(), concat('{tag}-', toString(number)), true, 'password' \
             FROM numbers({n})"
        ),
    );
}

fn get(base: &str, path: &str, auth: &str) -> Value {
    let (code, body) = http("GET", &format!("{base}{path}"), Some(auth));
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn hourly(v: &Value) -> BTreeMap<i64, u64> {
    v["hourlyCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["interval"].as_i64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn daily(v: &Value) -> BTreeMap<String, u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["date"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// SELECT queries ClickHouse has run so far (its own counter).
fn selects(stack: &Stack) -> u64 {
    stack
        .query("SELECT value FROM system.events WHERE event = 'SelectQuery'")
        .trim()
        .parse()
        .unwrap()
}

fn cache_hits(base: &str) -> u64 {
    let (_, text) = http("GET", &format!("{base}/metrics"), None);
    text.lines()
        .filter(|l| {
            l.starts_with("authpulse_api_report_cache_total{") && l.contains("result=\"hit\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[test]
fn answers_repeat_until_the_tables_change() {
    let mut stack = start_stack("report-cache", 1, "UTC");
    let base = start_api(&mut stack);
    let member = bearer(&json!({
        "sub": "cache-member", "exp": 4_000_000_000u64,
        "orgs": { SLUG: "Member" },
    }));
    let hour = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let (three_days, five_days) = (
        hour - chrono::Duration::days(3),
        hour - chrono::Duration::days(5),
    );
    insert_logins(&stack, three_days, 7, "a");
    insert_logins(&stack, five_days, 4, "b");
    // The oracle: what was written, per hour and per UTC day.
    let mut want: BTreeMap<i64, u64> = BTreeMap::from([
        (five_days.timestamp() / 3600, 4),
        (three_days.timestamp() / 3600, 7),
    ]);
    let day = |t: DateTime<Utc>| t.date_naive().to_string();
    let mut want_days: BTreeMap<String, u64> = BTreeMap::new();
    *want_days.entry(day(five_days)).or_default() += 4;
    *want_days.entry(day(three_days)).or_default() += 7;

    // Ranges that ended a day ago: every interval closed, so a cached
    // answer needs no query at all.
    let (start, end) = (
        (hour - chrono::Duration::days(7)).timestamp_millis(),
        (hour - chrono::Duration::days(1)).timestamp_millis(),
    );
    let login = format!("/api/report/login?start={start}&end={end}&applicationId={APP}");
    let trends = format!(
        "/api/organizations/{SLUG}/analytics/login-trends?start_date={}&end_date={}",
        day(hour - chrono::Duration::days(7)),
        day(hour - chrono::Duration::days(2))
    );
    // The first poll may not have landed yet: wait for the first answer.
    let first = eventually(Duration::from_secs(30), || {
        let v = get(&base, &login, KEY);
        (hourly(&v) == want).then_some(v)
    })
    .unwrap_or_else(|| panic!("login report never matched:\n{}", stack.log("api.log")));
    assert_eq!(first["total"], 11);
    assert_eq!(daily(&get(&base, &trends, &member)), want_days);

    // Unchanged tables: the same answers without asking ClickHouse again
    // for the closed hours. (Merges of the fresh parts may still change the
    // fingerprint; repeat until a quiet stretch shows it.)
    let quiet = eventually(Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_millis(300));
        let (hits, before) = (cache_hits(&base), selects(&stack));
        for _ in 0..10 {
            assert_eq!(hourly(&get(&base, &login, KEY)), want);
            assert_eq!(daily(&get(&base, &trends, &member)), want_days);
        }
        let asked = selects(&stack) - before;
        // 20 answers from memory; the only queries are the polls (one
        // per 100 ms) in between.
        (cache_hits(&base) >= hits + 20 && asked < 10).then_some(asked)
    });
    assert!(
        quiet.is_some(),
        "repeated answers were never served from the cache:\n{}",
        stack.log("api.log")
    );

    // A late event into an hour already cached, and a new hour: written by
    // hand, so only the tables' parts tell the API.
    insert_logins(&stack, three_days, 2, "c");
    insert_logins(&stack, hour - chrono::Duration::days(4), 1, "d");
    *want.get_mut(&(three_days.timestamp() / 3600)).unwrap() += 2;
    *want
        .entry((hour - chrono::Duration::days(4)).timestamp() / 3600)
        .or_default() += 1;
    *want_days.entry(day(three_days)).or_default() += 2;
    *want_days
        .entry(day(hour - chrono::Duration::days(4)))
        .or_default() += 1;
    let t = std::time::Instant::now();
    let seen = eventually(Duration::from_secs(10), || {
        let ok = hourly(&get(&base, &login, KEY)) == want
            && daily(&get(&base, &trends, &member)) == want_days;
        ok.then_some(())
    });
    assert!(
        seen.is_some(),
        "the cache kept answers the tables no longer give:\n{}",
        stack.log("api.log")
    );
    // One poll (100 ms) plus its query, with room for a busy machine.
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    // And it stays right (no stale entry comes back).
    for _ in 0..5 {
        assert_eq!(hourly(&get(&base, &login, KEY)), want);
        std::thread::sleep(Duration::from_millis(150));
    }
}

/// Porta stats is answered from cached parts, but its windows still end at
/// each request's own now, to the millisecond: logins at now − 24 h + 4 s
/// leave the 24-hour window at the very instant logins stamped now + 4 s
/// (ahead of the clock) enter it, while no table changes in between.
#[test]
fn porta_stats_windows_move_with_now_while_cached() {
    let mut stack = start_stack("report-cache-porta", 1, "UTC");
    let base = start_api(&mut stack);
    let logins = || -> u64 {
        get(&base, "/api/admin/stats", KEY)["recentActivity"]["loginsLast24h"]
            .as_u64()
            .unwrap()
    };
    let _ = logins();
    let switch = Utc::now() + chrono::Duration::seconds(4);
    insert_logins(&stack, switch - chrono::Duration::hours(24), 3, "leaving");
    insert_logins(&stack, switch, 2, "ahead");
    let hits = cache_hits(&base);
    let (mut before, mut after) = (0, 0);
    while Utc::now() < switch + chrono::Duration::seconds(2) {
        let sent = Utc::now();
        let n = logins();
        let answered = Utc::now();
        if answered < switch {
            assert_eq!(n, 3, "before the switch (answered {answered})");
            before += 1;
        } else if sent >= switch {
            assert_eq!(n, 2, "after the switch (sent {sent})");
            after += 1;
        } else {
            assert!(n == 2 || n == 3, "{n} across the switch");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(before > 10 && after > 10, "{before} before, {after} after");
    assert!(
        cache_hits(&base) > hits + 20,
        "Porta stats was not served from cached parts:\n{}",
        stack.log("api.log")
    );
}
