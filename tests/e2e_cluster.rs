//! A sharded ClickHouse cluster run for real (issue 17, first part): two
//! shards (one replica each; the local servers cannot join Keeper, so
//! replication cannot run here, docs/scaling.md), migrated with
//! `migrate --cluster-layout sharded`, holding a loadgen stream's rows split
//! by organization. Every figure read through the Distributed `_all`
//! tables equals the loadgen oracle (distinct users within the sketch
//! error) and the single server that ingested the same stream.

mod common;

use std::collections::BTreeMap;
use std::time::Instant;

use authpulse_loadgen::{org_ids, Profile};
use authpulse_testkit::Shards;
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::pipeline::{count, load, start_stack};

const RAW: [&str; 5] = [
    "login_events",
    "registration_events",
    "token_events",
    "session_events",
    "audit_events",
];

fn profile() -> Profile {
    Profile {
        seed: 17,
        events: 20_000,
        // Six tenants: both shards get several (checked below).
        orgs: 6,
        apps_per_org: 2,
        users_per_org: 500,
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(75),
        ..Profile::default()
    }
}

/// `key\tvalue` lines of a two-column answer.
fn pairs(tsv: &str) -> BTreeMap<i64, u64> {
    tsv.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.parse().unwrap(), v.parse().unwrap())
        })
        .collect()
}

/// The report figures, over the single-node tables (`suffix` "") or the
/// Distributed ones (`_all`); keys as the oracle's intervals in UTC.
fn figures(query: &dyn Fn(&str) -> String, suffix: &str) -> BTreeMap<&'static str, String> {
    let q = |name: &'static str, sql: String| (name, query(&sql));
    BTreeMap::from([
        q(
            "logins total",
            format!("SELECT sum(logins) FROM authpulse.login_counts_15m{suffix}"),
        ),
        q(
            "successful logins per hour",
            format!(
                "SELECT intDiv(toUnixTimestamp(bucket), 3600) h, sum(logins) \
                 FROM authpulse.login_counts_15m{suffix} WHERE success GROUP BY h ORDER BY h"
            ),
        ),
        q(
            "registrations per hour",
            format!(
                "SELECT intDiv(toUnixTimestamp(bucket), 3600) h, sum(events) \
                 FROM authpulse.registration_counts_15m{suffix} WHERE action = 'registered' \
                 GROUP BY h ORDER BY h"
            ),
        ),
        // Sketch states of every shard merged, as the DAU/MAU reports do.
        q(
            "daily active users",
            format!(
                "SELECT toInt64(toUInt16(day)) d, uniqCombined64Merge(17)(users) \
                 FROM authpulse.active_users_daily_global{suffix} WHERE tz = 'UTC' GROUP BY d ORDER BY d"
            ),
        ),
        q(
            "monthly active users",
            format!(
                "SELECT (toYear(month) - 1970) * 12 + toMonth(month) - 1 m, uniqCombined64Merge(17)(users) \
                 FROM authpulse.active_users_monthly{suffix} WHERE tz = 'UTC' \
                 AND org_id = toUUID('00000000-0000-0000-0000-000000000000') \
                 AND application_id = toUUID('00000000-0000-0000-0000-000000000000') GROUP BY m ORDER BY m"
            ),
        ),
    ])
}

#[test]
fn two_shards_answer_like_the_oracle_and_the_single_server() {
    let p = profile();
    // The single-server answer: the stream through Kafka and ingest.
    let mut stack = start_stack("cluster", 2, "UTC");
    let oracle = load(&mut stack, &p);

    let shards = Shards::start("cluster", 2);
    // Node 2 starts as an existing single-node database (migrated before it
    // became a shard): the sharded migrate must still give it every _all
    // table, though it has no migration left to replay.
    let out = std::process::Command::new(&stack.bin)
        .args(["migrate", "--database", "authpulse", "--timezones", "UTC"])
        .env("AUTHPULSE_CLICKHOUSE_URL", shards.url(1))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let distributed =
        "SELECT count() FROM system.tables WHERE database = 'authpulse' AND engine = 'Distributed'";
    assert_eq!(shards.query(1, distributed).trim(), "0");
    shards.migrate("authpulse", "UTC");
    let n = shards.len();
    let per_node: Vec<String> = (0..n)
        .map(|node| shards.query(node, distributed).trim().to_string())
        .collect();
    assert!(per_node[0].parse::<u32>().unwrap() > 20, "{per_node:?}");
    assert_eq!(
        per_node[0], per_node[1],
        "the same _all tables on every node"
    );
    // The Distributed tables exist on every node, over the cluster.
    for node in 0..n {
        assert_eq!(
            shards
                .query(
                    node,
                    "SELECT engine_full LIKE 'Distributed(\\'authpulse\\', \\'authpulse\\', \\'login_events\\', cityHash64(org_id))%' \
                     FROM system.tables WHERE database = 'authpulse' AND name = 'login_events_all'"
                )
                .trim(),
            "1",
            "node {node}"
        );
    }

    // Each organization's rows go to shard cityHash64(org_id) % 2, the
    // Distributed sharding key, the way an ingest instance per shard would
    // write them (local inserts, so each shard's materialized views fill
    // its rollups); registrations instead go through the Distributed table
    // with foreground inserts, the other routing design (docs/scaling.md).
    // The two must place every organization on the same shard.
    let source = |t: &str| format!("remote('127.0.0.1:{}', 'authpulse', '{t}')", stack.ch_tcp);
    for t in RAW.iter().filter(|t| **t != "registration_events") {
        for node in 0..n {
            let t0 = Instant::now();
            shards.query(
                node,
                &format!(
                    "INSERT INTO authpulse.{t} SELECT * FROM {} WHERE cityHash64(org_id) % {n} = {node}",
                    source(t)
                ),
            );
            eprintln!("{t} -> shard {}: {:?}", node + 1, t0.elapsed());
        }
    }
    let t0 = Instant::now();
    shards.query(
        0,
        &format!(
            "INSERT INTO authpulse.registration_events_all SELECT * FROM {} \
             SETTINGS distributed_foreground_insert = 1",
            source("registration_events")
        ),
    );
    eprintln!("registration_events through _all: {:?}", t0.elapsed());

    // Every organization lives on exactly one shard, the key's, whichever
    // way its rows were routed; and both shards hold some.
    let placement = shards.query(
        1,
        "SELECT toString(org_id), groupUniqArray(_shard_num), any(cityHash64(org_id) % 2) + 1 FROM ( \
         SELECT org_id, _shard_num FROM authpulse.login_events_all \
         UNION ALL SELECT org_id, _shard_num FROM authpulse.registration_events_all \
         UNION ALL SELECT org_id, _shard_num FROM authpulse.login_counts_15m_all) \
         GROUP BY org_id ORDER BY org_id",
    );
    let mut per_shard = BTreeMap::<String, usize>::new();
    for line in placement.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols[1],
            format!("[{}]", cols[2]),
            "org {} placement",
            cols[0]
        );
        *per_shard.entry(cols[2].to_string()).or_default() += 1;
    }
    assert_eq!(
        per_shard.values().sum::<usize>(),
        org_ids(&p).len(),
        "every org placed: {placement}"
    );
    assert_eq!(per_shard.len(), 2, "both shards hold orgs: {per_shard:?}");

    // Raw rows: the shards together hold exactly the single server's.
    for t in RAW {
        let single = count(&stack, &format!("SELECT count() FROM authpulse.{t}"));
        let local: u64 = (0..n)
            .map(|node| {
                shards
                    .query(node, &format!("SELECT count() FROM authpulse.{t}"))
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        let all: u64 = shards
            .query(0, &format!("SELECT count() FROM authpulse.{t}_all"))
            .trim()
            .parse()
            .unwrap();
        assert!(single > 0, "{t}: the stream has some");
        assert_eq!((local, all), (single, single), "{t} rows");
    }

    // The report figures through the _all tables, asked of either node,
    // equal the single server's; counts equal the oracle exactly.
    let single = figures(&|sql| stack.query(sql), "");
    for node in 0..n {
        let cluster = figures(&|sql| shards.query(node, sql), "_all");
        for (what, got) in &cluster {
            assert_eq!(got, &single[what], "node {node}: {what}");
        }
    }
    // A shard crash: the _all tables refuse to answer without it (no
    // silent partial sums), and after its restart its data, rollups
    // included, is all there again.
    shards.kill_node(1);
    let err = shards
        .try_query(0, "SELECT sum(logins) FROM authpulse.login_counts_15m_all")
        .expect_err("an _all read with a shard down");
    assert!(
        err.contains("ALL_CONNECTION_TRIES_FAILED") || err.contains("NETWORK_ERROR"),
        "{err}"
    );
    shards.start_node(1);
    assert_eq!(
        figures(&|sql| shards.query(0, sql), "_all"),
        single,
        "after shard 2's restart"
    );

    let utc = Tz::UTC;
    let logins = oracle.events_by_type()["login"];
    assert_eq!(single["logins total"].trim(), logins.to_string());
    assert_eq!(
        pairs(&single["successful logins per hour"]),
        oracle.login_hourly(utc, None)
    );
    assert_eq!(
        pairs(&single["registrations per hour"]),
        oracle.registration_hourly(utc, None)
    );
    common::assert_sketch_close(
        &pairs(&single["daily active users"]),
        &oracle.dau(utc, &[]),
        "DAU",
    );
    common::assert_sketch_close(
        &pairs(&single["monthly active users"]),
        &oracle.mau(utc, &[]),
        "MAU",
    );
}
