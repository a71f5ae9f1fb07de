//! Rollup-backed queries against an independent oracle computed from the
//! generated events: counts exactly equal, distinct users within the stated
//! sketch error; across hour/day/month boundaries, UTC, a DST zone and a
//! half-hour zone, late events, a timezone added after the fact, and after
//! the raw data is dropped.

mod common;

use std::collections::BTreeMap;

use authpulse_loadgen::{app_ids, org_ids, Oracle, Profile};
use authpulse_store::{Grain, IntervalCount, LoginFilter, Range, Store};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::pipeline::{load, start_stack};
use common::*;
use uuid::Uuid;

const ZONES: [&str; 3] = ["UTC", "America/Denver", "Asia/Kolkata"];

fn profile() -> Profile {
    Profile {
        seed: 21,
        events: 30_000,
        orgs: 3,
        apps_per_org: 3,
        users_per_org: 400,
        // Covers both 2026 DST switches of America/Denver (Mar 8, Nov 1).
        start: Utc.with_ymd_and_hms(2026, 2, 25, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(260),
        late_fraction: 0.05,
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    }
}

fn map(v: Vec<IntervalCount>) -> BTreeMap<i64, u64> {
    v.into_iter().map(|c| (c.interval, c.count)).collect()
}

struct Fixture {
    store: Store,
    oracle: Oracle,
    p: Profile,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn range(&self, tz: Tz, grain: Grain) -> Range {
        let start = self.p.start.timestamp_millis() - 86_400_000; // late events start earlier
        let end = (self.p.start + self.p.span).timestamp_millis() + 86_400_000;
        Range::new(tz, grain, start, end).unwrap()
    }

    fn check_all(&self, label: &str) {
        let rt = &self.rt;
        let app = app_ids(&self.p, 1)[2].0;
        let user = authpulse_loadgen::user_id(&self.p, 0, 0);
        let login_id = authpulse_loadgen::login_id(&self.p, 0, 1);
        for name in ZONES {
            let tz: Tz = name.parse().unwrap();
            let what = |w: &str| format!("{label} {name} {w}");
            let hour = self.range(tz, Grain::Hour);
            let got = rt
                .block_on(self.store.login_counts(hour, &LoginFilter::default()))
                .unwrap();
            assert_eq!(
                map(got),
                self.oracle.login_hourly(tz, None),
                "{}",
                what("logins")
            );
            let f = LoginFilter {
                application: Some(app),
                ..Default::default()
            };
            let got = rt.block_on(self.store.login_counts(hour, &f)).unwrap();
            assert_eq!(
                map(got),
                self.oracle.login_hourly(tz, Some(app)),
                "{}",
                what("logins of one app")
            );
            let f = LoginFilter {
                user: Some(user),
                ..Default::default()
            };
            let got = rt.block_on(self.store.login_counts(hour, &f)).unwrap();
            assert_eq!(
                map(got),
                self.oracle.login_hourly_by_user(tz, user),
                "{}",
                what("logins by user")
            );
            let f = LoginFilter {
                login_id: Some(login_id.clone()),
                ..Default::default()
            };
            let got = rt.block_on(self.store.login_counts(hour, &f)).unwrap();
            assert_eq!(
                map(got),
                self.oracle.login_hourly_by_login_id(tz, &login_id),
                "{}",
                what("logins by loginId")
            );
            let got = rt
                .block_on(self.store.registration_counts(hour, None))
                .unwrap();
            assert_eq!(
                map(got),
                self.oracle.registration_hourly(tz, None),
                "{}",
                what("registrations")
            );
            let got = rt
                .block_on(self.store.registration_counts(hour, Some(app)))
                .unwrap();
            assert_eq!(
                map(got),
                self.oracle.registration_hourly(tz, Some(app)),
                "{}",
                what("registrations of one app")
            );

            let day = self.range(tz, Grain::Day);
            let got = rt
                .block_on(self.store.active_users(day, Grain::Day, &[]))
                .unwrap();
            common::assert_sketch_close(&map(got), &self.oracle.dau(tz, &[]), &what("DAU"));
            let got = rt
                .block_on(self.store.active_users(day, Grain::Day, &[app]))
                .unwrap();
            common::assert_sketch_close(
                &map(got),
                &self.oracle.dau(tz, &[app]),
                &what("DAU of one app"),
            );
            let month = self.range(tz, Grain::Month);
            let got = rt
                .block_on(self.store.active_users(month, Grain::Month, &[]))
                .unwrap();
            common::assert_sketch_close(&map(got), &self.oracle.mau(tz, &[]), &what("MAU"));

            let stats = rt.block_on(self.store.month_stats(month)).unwrap();
            assert_eq!(
                stats.tokens,
                self.oracle.tokens_by_month(tz),
                "{}",
                what("tokens by month")
            );
            let want: BTreeMap<i64, u64> = self
                .oracle
                .mau_by_month(tz)
                .into_iter()
                .enumerate()
                .map(|(i, (_, v))| (i as i64, v))
                .collect();
            let got: BTreeMap<i64, u64> = stats
                .mau
                .into_iter()
                .enumerate()
                .map(|(i, (_, v))| (i as i64, v))
                .collect();
            common::assert_sketch_close(&got, &want, &what("Janssen MAU"));
        }
        // Active in an arbitrary range of UTC days, two apps of different orgs.
        let apps = [app_ids(&self.p, 0)[0].0, app_ids(&self.p, 2)[1].0];
        let from = Utc.with_ymd_and_hms(2026, 4, 10, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 6, 3, 0, 0, 0).unwrap();
        let r = Range::new(
            Tz::UTC,
            Grain::Day,
            from.timestamp_millis(),
            to.timestamp_millis() - 1,
        )
        .unwrap();
        let got = rt.block_on(self.store.distinct_active(r, &apps)).unwrap();
        let want = self.oracle.distinct_active(from, to, &apps);
        assert!(
            (got as f64 - want as f64).abs() <= want as f64 * 0.01,
            "{label} active in range: {got} vs {want}"
        );

        let totals = rt.block_on(self.store.totals()).unwrap();
        let want = self.oracle.totals();
        assert_eq!(
            totals.global_registrations, want.global_registrations,
            "{label} globalRegistrations"
        );
        assert_eq!(
            totals.total_global_registrations, want.total_global_registrations,
            "{label} totalGlobalRegistrations"
        );
        let got: BTreeMap<Uuid, (u64, i64, u64)> = totals
            .apps
            .iter()
            .map(|a| {
                (
                    a.application_id,
                    (a.logins, a.registrations, a.total_registrations),
                )
            })
            .collect();
        let want: BTreeMap<Uuid, (u64, i64, u64)> = want
            .apps
            .iter()
            .map(|(id, a)| (*id, (a.logins, a.registrations, a.total_registrations)))
            .collect();
        assert_eq!(got, want, "{label} application totals");
    }
}

#[test]
fn rollups_equal_the_oracle_in_three_timezones_and_outlive_raw_data() {
    // Migrate with UTC only; the other two zones are added after the data
    // is in, which must backfill their sketches from the raw logins.
    let mut stack = start_stack("store", 3, "UTC");
    let p = profile();
    let oracle = load(&mut stack, &p);
    assert!(org_ids(&p).len() == 3);
    stack.migrate_zones("authpulse", &ZONES.join(","));
    // The new zones' backfilled states reach the daily-active snapshot at
    // its next refresh: refresh now.
    common::pipeline::refresh_snapshots(&stack);

    let store = Store::new(
        authpulse_connect::ClickHouseOptions::default()
            .client(&stack.ch_url())
            .unwrap()
            .with_database("authpulse"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = Fixture {
        store,
        oracle,
        p,
        rt,
    };
    fx.check_all("with raw data");

    // The hourly rollups of an upgraded deployment come from the backfills
    // in their migrations (0007, 0010), which copy the 15-minute rollups:
    // empty them, forget those migrations and migrate again.
    for t in ["login_hourly", "token_hourly", "registration_hourly"] {
        stack.query(&format!("TRUNCATE TABLE authpulse.{t}"));
    }
    stack.query("DELETE FROM authpulse.schema_migrations WHERE version IN (7, 10)");
    stack.migrate_zones("authpulse", &ZONES.join(","));
    assert_ne!(
        stack
            .query("SELECT count() FROM authpulse.registration_hourly")
            .trim(),
        "0"
    );
    fx.check_all("after the hourly backfills");

    // Reports come from rollups only: expiring every raw row by the
    // retention TTL (and dropping the audit log, which has none) changes
    // nothing.
    fx.rt
        .block_on(authpulse_store::set_raw_retention(
            &authpulse_connect::ClickHouseOptions::default()
                .client(&stack.ch_url())
                .unwrap(),
            "authpulse",
            1,
            None,
        ))
        .unwrap();
    stack.query("TRUNCATE TABLE authpulse.audit_events");
    for t in common::pipeline::TYPES {
        assert_eq!(
            stack
                .query(&format!("SELECT count() FROM authpulse.{t}_events"))
                .trim(),
            "0",
            "{t} raw rows expired"
        );
    }
    fx.check_all("after raw data dropped");
}

#[test]
fn cluster_ddl_parses_and_distributed_tables_serve_a_single_node_cluster() {
    let stack = Stack::start("cluster");
    stack.migrate("authpulse");
    let ddl = authpulse_store::cluster_ddl(
        authpulse_store::Cluster::Replicated("authpulse_local"),
        "authpulse",
        &[Tz::UTC, "Asia/Kolkata".parse().unwrap()],
    );
    let statements = authpulse_store::split_statements(&ddl);
    assert!(statements.len() > 30);
    for s in &statements {
        if s.starts_with("USE ") {
            continue;
        }
        // ClickHouse's own parser accepts every rendered statement.
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                &stack.ch_url(),
                "--data-binary",
                &format!("EXPLAIN AST {s}"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "does not parse: {s}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The cluster database's Distributed tables over the single-node
    // cluster definition (the test server's config.xml) answer like the
    // local tables.
    let dist: Vec<&String> = statements
        .iter()
        .filter(|s| s.contains("ENGINE = Distributed"))
        .collect();
    assert!(dist
        .iter()
        .any(|s| s.starts_with("CREATE TABLE IF NOT EXISTS login_counts_15m ON CLUSTER")));
    stack.query("CREATE DATABASE authpulse_cluster");
    for s in &dist {
        let local = s.replace(" ON CLUSTER 'authpulse_local'", "");
        stack.query_in("authpulse_cluster", &local);
    }
    stack.query("INSERT INTO authpulse.login_counts_15m VALUES ('2026-01-01 00:15:00', toUUID('00000000-0000-0000-0000-000000000007'), toUUID('00000000-0000-0000-0000-000000000001'), 'google', true, '', 5)");
    assert_eq!(
        stack
            .query("SELECT sum(logins) FROM authpulse_cluster.login_counts_15m")
            .trim(),
        "5"
    );
}

#[test]
fn portable_sketches_of_two_deployments_union_to_the_distinct_users() {
    let mut stack = start_stack("sketch", 2, "UTC");
    let p = Profile {
        events: 20_000,
        users_per_org: 3_000,
        span: chrono::Duration::days(25),
        ..profile()
    };
    load(&mut stack, &p);
    // A second deployment (its own database): a third of the first one's
    // users plus 4000 users of its own, in the same month.
    stack.migrate("authpulse_b");
    stack.query(
        "INSERT INTO authpulse_b.login_events SELECT * FROM authpulse.login_events WHERE cityHash64(user_id) % 3 = 0",
    );
    stack.query(
        "INSERT INTO authpulse_b.login_events (event_id, occurred_at, org_id, application_id, user_id, login_id, success, provider) \
         SELECT generateUUIDv4(), toDateTime64('2026-03-10 12:00:00', 3, 'UTC'), toUUID('00000000-0000-0000-0000-0000000000b0'), \
                toUUID('00000000-0000-0000-0000-0000000000b1'), reinterpretAsUUID(toFixedString(concat('user-b-', leftPad(toString(number), 8, '0')), 16)), \
                concat('b', toString(number)), true, 'password' FROM numbers(4000)",
    );
    let month = "202603";
    let exact: f64 = stack
        .query(
            "SELECT uniqExact(user_id) FROM (SELECT user_id FROM authpulse.login_events WHERE success AND toYYYYMM(occurred_at) = 202603 \
             UNION ALL SELECT user_id FROM authpulse_b.login_events WHERE success AND toYYYYMM(occurred_at) = 202603)",
        )
        .trim()
        .parse()
        .unwrap();
    assert!(exact > 4000.0);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_authpulse"))
            .args(args)
            .env("AUTHPULSE_CLICKHOUSE_URL", stack.ch_url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let a = stack.dir.join("a.json");
    let b = stack.dir.join("b.json");
    run(&[
        "sketch",
        "export",
        "--month",
        month,
        "--scope",
        "a",
        "--out",
        a.to_str().unwrap(),
    ]);
    run(&[
        "sketch",
        "export",
        "--database",
        "authpulse_b",
        "--month",
        month,
        "--scope",
        "b",
        "--out",
        b.to_str().unwrap(),
    ]);
    let estimate: f64 = run(&["sketch", "union", a.to_str().unwrap(), b.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    // HLL with 2^14 registers: standard error 0.81 %; allow three of them.
    assert!(
        (estimate - exact).abs() <= exact * 0.025,
        "union estimate {estimate} vs exact {exact}"
    );
    // The exported sketches are kept in ClickHouse beside the rollups.
    assert_eq!(
        stack
            .query("SELECT count() FROM authpulse.portable_sketches WHERE month = '202603'")
            .trim(),
        "1"
    );
}

#[test]
fn migrate_is_idempotent_and_names_the_failing_file_and_statement() {
    let stack = Stack::start("migrate");
    let run = |db: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_authpulse"))
            .args([
                "migrate",
                "--database",
                db,
                "--timezones",
                "UTC,Asia/Kolkata",
            ])
            .env("AUTHPULSE_CLICKHOUSE_URL", stack.ch_url())
            .output()
            .unwrap()
    };
    let first = run("authpulse");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let tables =
        stack.query("SELECT name FROM system.tables WHERE database = 'authpulse' ORDER BY name");
    let second = run("authpulse");
    assert!(second.status.success());
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(out.starts_with("applied 0 migration(s)"), "{out}");
    assert!(out.contains("report timezones added: []"), "{out}");
    assert_eq!(
        stack.query("SELECT name FROM system.tables WHERE database = 'authpulse' ORDER BY name"),
        tables,
        "a second run changes nothing"
    );

    // Upgrade from the second sketch layout (per application and per
    // organization, no global states): logins stored under it, then
    // migrate replaces its views and rebuilds the global states, which
    // must count exactly the distinct users (small sets: exact states).
    stack.query("DROP VIEW authpulse.active_users_daily_mv3_utc");
    stack.query("DROP VIEW authpulse.active_users_monthly_mv3_utc");
    stack.query(
        "CREATE MATERIALIZED VIEW authpulse.active_users_daily_mv2_utc TO authpulse.active_users_daily AS \
         SELECT tz, day, org_id, app AS application_id, users FROM ( \
           SELECT 'UTC' AS tz, toDate(occurred_at, 'UTC') AS day, org_id, \
                  arrayJoin([application_id, toUUID('00000000-0000-0000-0000-000000000000')]) AS app, \
                  uniqCombined64State(17)(user_id) AS users \
           FROM authpulse.login_events WHERE success GROUP BY day, org_id, app)",
    );
    stack.query(
        "CREATE MATERIALIZED VIEW authpulse.active_users_monthly_mv2_utc TO authpulse.active_users_monthly AS \
         SELECT tz, month, org_id, app AS application_id, users FROM ( \
           SELECT 'UTC' AS tz, toStartOfMonth(occurred_at, 'UTC') AS month, org_id, \
                  arrayJoin([application_id, toUUID('00000000-0000-0000-0000-000000000000')]) AS app, \
                  uniqCombined64State(17)(user_id) AS users \
           FROM authpulse.login_events WHERE success GROUP BY month, org_id, app)",
    );
    // 3 orgs × 1 000 logins over 2 apps on one day; users 0..199 log in to
    // every org, the other 800 of each org are its own: 2 600 users.
    let insert = |day: u32| {
        stack.query(&format!(
            "INSERT INTO authpulse.login_events (event_id, occurred_at, org_id, application_id, user_id, login_id, success, provider) \
             SELECT generateUUIDv4(), toDateTime64('2026-03-0{day} 12:00:00', 3, 'UTC'), \
                    toUUID(concat('00000000-0000-0000-0000-00000000000', toString(1 + intDiv(number, 1000)))), \
                    toUUID(concat('00000000-0000-0000-0001-00000000000', toString(number % 2))), \
                    toUUID(concat('00000000-0000-0000-0002-', leftPad(toString(if(number % 1000 < 200, number % 200, number)), 12, '0'))), \
                    'x', true, 'password' FROM numbers(3000)"
        ));
    };
    insert(1);
    let upgraded = run("authpulse");
    assert!(
        upgraded.status.success(),
        "{}",
        String::from_utf8_lossy(&upgraded.stderr)
    );
    assert_eq!(
        stack.query("SELECT name FROM system.tables WHERE database = 'authpulse' AND name LIKE 'active_users_%mv%utc' ORDER BY name"),
        "active_users_daily_mv3_utc\nactive_users_monthly_mv3_utc\n",
        "the old layout's views are replaced"
    );
    insert(2);
    let exact = stack.query(
        "SELECT uniqExact(user_id) FROM authpulse.login_events WHERE success AND toDate(occurred_at) = '2026-03-01'",
    );
    let global = |table: &str, col: &str, value: &str| {
        stack.query(&format!(
            "SELECT uniqCombined64Merge(17)(users) FROM authpulse.{table} \
             WHERE tz = 'UTC' AND {col} = '{value}' \
               AND org_id = toUUID('00000000-0000-0000-0000-000000000000') \
               AND application_id = toUUID('00000000-0000-0000-0000-000000000000')"
        ))
    };
    // Day 1 was stored under the old layout (global state rebuilt), day 2
    // under the new one.
    assert_eq!(exact.trim(), "2600");
    assert_eq!(global("active_users_daily", "day", "2026-03-01"), exact);
    assert_eq!(global("active_users_daily", "day", "2026-03-02"), exact);
    assert_eq!(global("active_users_monthly", "month", "2026-03-01"), exact);
    // ... and the global-only tables the reports read (0011) follow them.
    let global_only = |table: &str, col: &str, value: &str| {
        stack.query(&format!(
            "SELECT uniqCombined64Merge(17)(users) FROM authpulse.{table} \
             WHERE tz = 'UTC' AND {col} = '{value}'"
        ))
    };
    assert_eq!(
        global_only("active_users_daily_global", "day", "2026-03-01"),
        exact
    );
    assert_eq!(
        global_only("active_users_daily_global", "day", "2026-03-02"),
        exact
    );
    assert_eq!(
        global_only("active_users_monthly_global", "month", "2026-03-01"),
        exact
    );

    // A database where a rollup table already exists with another shape:
    // the MV that feeds it cannot be created, and the error says where.
    stack.query("CREATE DATABASE broken");
    stack.query("CREATE TABLE broken.login_totals (x UInt8) ENGINE = MergeTree ORDER BY x");
    let failed = run("broken");
    assert!(!failed.status.success());
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(
        err.contains("migration 0003_rollups.sql statement 2 failed (CREATE MATERIALIZED VIEW IF NOT EXISTS login_totals_mv TO login_totals AS)"),
        "{err}"
    );
}
