//! The schema files (store/sql/schema/) against the migrations
//! (store/sql/migrations/), on a real ClickHouse:
//! * a new database built from the schema files and one built by replaying
//!   every migration have the same objects, column for column, and the
//!   same ledger (a schema file edited without a migration, or a migration
//!   without the schema edit, fails here);
//! * databases of earlier releases (ledger at 0018, and at 0022) upgrade to
//!   that same schema, keep every row, and answer reports as before;
//! * migrating again changes nothing.

mod common;

use std::collections::BTreeMap;

use authpulse_loadgen::{app_ids, Oracle, Profile};
use authpulse_store::{Grain, IntervalCount, LoginFilter, Range, Store};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::pipeline::{count, expected_rollups, load, TYPES};
use common::*;

const ZONES: [&str; 2] = ["UTC", "Asia/Kolkata"];

/// The latest migration: a new database's ledger records every one up to it.
const LATEST: u32 = 26;

/// The databases of earlier releases the upgrade test migrates.
const OLD: [&str; 2] = ["release23", "release18"];

/// Tables a migration after 0018 dropped (0023: nothing read them).
const DROPPED: [&str; 2] = ["org_slugs", "activity_now"];

fn zones() -> Vec<Tz> {
    ZONES.iter().map(|z| z.parse().unwrap()).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn server(stack: &Stack) -> authpulse_connect::ClickHouseClient {
    authpulse_connect::ClickHouseOptions::default()
        .client(&stack.ch_url())
        .unwrap()
}

/// Every object of `db` as ClickHouse itself describes it: the normalized
/// CREATE statement (database name removed), every column with its type,
/// default, codec and key membership, and every skip index. (A refreshing
/// view's temporary `.tmp.inner_id...` table is not an object of the schema.)
fn objects(stack: &Stack, db: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let tables = stack.query(&format!(
        "SELECT name, engine, replaceAll(create_table_query, '{db}.', '') \
         FROM system.tables WHERE database = '{db}' AND NOT startsWith(name, '.') ORDER BY name FORMAT TSVRaw"
    ));
    for line in tables.lines().filter(|l| !l.is_empty()) {
        let (name, rest) = line.split_once('\t').unwrap();
        out.insert(name.to_string(), format!("{rest}\n"));
    }
    let columns = stack.query(&format!(
        "SELECT table, name, type, default_kind, default_expression, compression_codec, \
                is_in_partition_key, is_in_sorting_key, is_in_primary_key, position \
         FROM system.columns WHERE database = '{db}' AND NOT startsWith(table, '.') \
         ORDER BY table, position FORMAT TSVRaw"
    ));
    for line in columns.lines().filter(|l| !l.is_empty()) {
        let (table, rest) = line.split_once('\t').unwrap();
        out.entry(table.to_string())
            .or_default()
            .push_str(&format!("  column {rest}\n"));
    }
    let indices = stack.query(&format!(
        "SELECT table, name, type_full, expr, granularity \
         FROM system.data_skipping_indices WHERE database = '{db}' AND NOT startsWith(table, '.') \
         ORDER BY table, name FORMAT TSVRaw"
    ));
    for line in indices.lines().filter(|l| !l.is_empty()) {
        let (table, rest) = line.split_once('\t').unwrap();
        out.entry(table.to_string())
            .or_default()
            .push_str(&format!("  index {rest}\n"));
    }
    out
}

/// Asserts two databases have the same objects, naming each difference.
fn assert_same_objects(stack: &Stack, a: &str, b: &str) {
    let (oa, ob) = (objects(stack, a), objects(stack, b));
    let mut diffs = Vec::new();
    for name in oa
        .keys()
        .chain(ob.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (oa.get(name), ob.get(name)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => diffs.push(format!(
                "{name}:\n  in {a}: {}\n  in {b}: {}",
                x.map_or("(missing)".to_string(), |s| s.replace('\n', "\n    ")),
                y.map_or("(missing)".to_string(), |s| s.replace('\n', "\n    ")),
            )),
        }
    }
    assert!(
        diffs.is_empty(),
        "{a} and {b} differ in {} object(s). A schema change is a new migration in \
         store/sql/migrations/ and the same change in its store/sql/schema/ file \
         (docs/rollups.md, \"Changing the schema\"):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(oa.len() > 60, "{a} has only {} objects", oa.len());
}

fn ledger(stack: &Stack, db: &str) -> String {
    stack.query(&format!(
        "SELECT version, name, checksum FROM {db}.schema_migrations ORDER BY version"
    ))
}

#[test]
fn schema_files_build_what_the_migrations_build_and_a_second_run_changes_nothing() {
    let stack = Stack::start("schema");
    let ch = server(&stack);
    let rt = runtime();
    let zones = zones();

    let built = rt
        .block_on(authpulse_store::migrate(&ch, "from_schema", &zones, None))
        .unwrap();
    assert!(built.from_schema, "{built:?}");
    assert_eq!(built.zones_added, ZONES);
    let replayed = rt
        .block_on(authpulse_store::migrate_by_replay(
            &ch, "replayed", &zones, LATEST,
        ))
        .unwrap();
    assert!(!replayed.from_schema);
    assert_eq!(replayed.applied.len(), LATEST as usize, "{replayed:?}");

    assert_same_objects(&stack, "from_schema", "replayed");
    assert!(objects(&stack, "from_schema").contains_key("active_users_daily_mv3_asia_kolkata"));
    // Both ledgers record every migration with its file's checksum, so any
    // release reads either the same way.
    assert_eq!(ledger(&stack, "from_schema"), ledger(&stack, "replayed"));
    assert_eq!(
        ledger(&stack, "from_schema").lines().count(),
        LATEST as usize
    );

    // Migrating again is a no-op, on either path's database.
    for db in ["from_schema", "replayed"] {
        let before = objects(&stack, db);
        let again = rt
            .block_on(authpulse_store::migrate(&ch, db, &zones, None))
            .unwrap();
        assert_eq!(
            again,
            authpulse_store::MigrateReport {
                already: LATEST as usize,
                ..Default::default()
            },
            "{db}"
        );
        assert_eq!(
            objects(&stack, db),
            before,
            "{db}: a second run changes nothing"
        );
        assert_eq!(ledger(&stack, db).lines().count(), LATEST as usize);
    }

    // A database with tables but no ledger (made by hand) is not treated as
    // new: the migrations are replayed over it, and the error names the file.
    stack.query("CREATE DATABASE partial");
    stack.query("CREATE TABLE partial.login_totals (x UInt8) ENGINE = MergeTree ORDER BY x");
    let err = rt
        .block_on(authpulse_store::migrate(&ch, "partial", &zones, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("0003_rollups.sql"), "{err}");
}

fn profile() -> Profile {
    Profile {
        seed: 15,
        events: 20_000,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 300,
        start: Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(70),
        late_fraction: 0.05,
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    }
}

fn range(p: &Profile, tz: Tz, grain: Grain) -> Range {
    let start = p.start.timestamp_millis() - 86_400_000; // late events start earlier
    let end = (p.start + p.span).timestamp_millis() + 86_400_000;
    Range::new(tz, grain, start, end).unwrap()
}

fn map(v: Vec<IntervalCount>) -> BTreeMap<i64, u64> {
    v.into_iter().map(|c| (c.interval, c.count)).collect()
}

/// Report answers of `db` (as the API computes them), with the counts
/// checked against the oracle; the whole set is returned so before and after
/// an upgrade can be compared exactly.
fn answers(stack: &Stack, db: &str, p: &Profile, oracle: &Oracle) -> String {
    for view in stack
        .query(&format!(
            "SELECT view FROM system.view_refreshes WHERE database = '{db}'"
        ))
        .lines()
        .filter(|v| !v.is_empty())
    {
        stack.query(&format!("SYSTEM REFRESH VIEW {db}.{view}"));
        stack.query(&format!("SYSTEM WAIT VIEW {db}.{view}"));
    }
    let store = Store::new(server(stack).with_database(db));
    let rt = runtime();
    let app = app_ids(p, 1)[1].0;
    let mut out = String::new();
    for tz in zones() {
        let hour = range(p, tz, Grain::Hour);
        let logins = map(rt
            .block_on(store.login_counts(hour, &LoginFilter::default()))
            .unwrap());
        assert_eq!(logins, oracle.login_hourly(tz, None), "{db} {tz} logins");
        let regs = map(rt
            .block_on(store.registration_counts(hour, Some(app)))
            .unwrap());
        assert_eq!(
            regs,
            oracle.registration_hourly(tz, Some(app)),
            "{db} {tz} registrations"
        );
        let day = range(p, tz, Grain::Day);
        let dau = map(rt
            .block_on(store.active_users(day, Grain::Day, &[]))
            .unwrap());
        let want = oracle.dau(tz, &[]);
        assert_eq!(dau.len(), want.len(), "{db} {tz} DAU days");
        for (d, w) in &want {
            let err = (dau[d] as f64 - *w as f64).abs() / (*w as f64).max(1.0);
            assert!(err <= 0.01, "{db} {tz} DAU {d}: {} vs {w}", dau[d]);
        }
        let month = range(p, tz, Grain::Month);
        let mau = map(rt
            .block_on(store.active_users(month, Grain::Month, &[app]))
            .unwrap());
        let stats = rt.block_on(store.month_stats(month)).unwrap();
        assert_eq!(stats.tokens, oracle.tokens_by_month(tz), "{db} {tz} tokens");
        out.push_str(&format!(
            "{tz}\nlogins {logins:?}\nregistrations {regs:?}\nDAU {dau:?}\nMAU {mau:?}\ntokens {:?}\nJanssen MAU {:?}\n",
            stats.tokens, stats.mau
        ));
    }
    let totals = rt.block_on(store.totals()).unwrap();
    assert_eq!(
        totals.global_registrations,
        oracle.totals().global_registrations,
        "{db} globalRegistrations"
    );
    let apps: Vec<_> = totals
        .apps
        .iter()
        .map(|a| {
            (
                a.application_id,
                a.logins,
                a.registrations,
                a.total_registrations,
            )
        })
        .collect();
    out.push_str(&format!(
        "totals {} {apps:?}\n",
        totals.global_registrations
    ));
    out
}

/// Logical rows of every table of `db` (FINAL: independent of how far
/// background merges got), except snapshots, which change with each refresh,
/// and the ledger.
fn rows(stack: &Stack, db: &str) -> BTreeMap<String, u64> {
    stack
        .query(&format!(
            "SELECT name FROM system.tables WHERE database = '{db}' AND engine LIKE '%MergeTree' \
             AND name NOT LIKE '%\\_now' AND name != 'schema_migrations' \
             AND NOT startsWith(name, '.') ORDER BY name"
        ))
        .lines()
        .filter(|t| !t.is_empty())
        .map(|t| {
            let final_ = if stack
                .query(&format!(
                    "SELECT engine FROM system.tables WHERE database = '{db}' AND name = '{t}'"
                ))
                .trim()
                == "MergeTree"
            {
                ""
            } else {
                " FINAL"
            };
            (
                t.to_string(),
                count(stack, &format!("SELECT count() FROM {db}.{t}{final_}")),
            )
        })
        .collect()
}

fn rollup_sums(stack: &Stack, db: &str) -> BTreeMap<&'static str, u64> {
    [
        ("login", "sum(logins) FROM login_counts_15m"),
        ("registration", "sum(events) FROM registration_counts_15m"),
        ("token", "sum(tokens) FROM token_counts_15m"),
        ("audit", "sum(events) FROM audit_counts_15m"),
    ]
    .into_iter()
    .map(|(t, q)| {
        (
            t,
            count(
                stack,
                &format!("SELECT {q}").replace("FROM ", &format!("FROM {db}.")),
            ),
        )
    })
    .collect()
}

#[test]
fn databases_of_earlier_releases_upgrade_keeping_their_data_and_answers() {
    let mut stack = Stack::start("upgrade");
    stack.create_topic("auth-events", 2);
    stack.create_topic("auth-events-dlq", 1);
    let ch = server(&stack);
    let rt = runtime();
    let zones = zones();
    // Databases of two earlier releases: the previous one's layout of
    // ingest bookkeeping (ledger at 0023, re-send claims sorted by id) and
    // the one before the org-claims change (0018). This release's ingest
    // writes the current schema, so the events go through the real pipeline
    // into `authpulse` (current) and are copied into the older raw tables
    // (their views fill their rollups); the 0023 database gets the claims
    // its ingest would have written, in its own layout.
    rt.block_on(authpulse_store::migrate(&ch, "authpulse", &zones, None))
        .unwrap();
    for (db, version) in [("release23", 23), ("release18", 18)] {
        rt.block_on(authpulse_store::migrate_by_replay(&ch, db, &zones, version))
            .unwrap();
        assert_eq!(ledger(&stack, db).lines().count(), version as usize);
    }
    let p = profile();
    let oracle = load(&mut stack, &p);
    stack.terminate(0);
    for db in OLD {
        for t in TYPES {
            stack.query(&format!(
                "INSERT INTO {db}.{t}_events SELECT * FROM authpulse.{t}_events"
            ));
        }
    }
    stack.query(
        "INSERT INTO release23.ingest_claims \
           (event_id, topic, partition, offset, occurred_at, store_key, claimed_at) \
         SELECT event_id, topic, partition, offset, occurred_at, store_key, claimed_at \
         FROM authpulse.ingest_claims_by_time",
    );
    let claims = count(
        &stack,
        "SELECT count() FROM authpulse.ingest_claims_by_time",
    );
    assert_eq!(claims, oracle.valid_events(), "one claim per stored event");
    for db in OLD {
        assert_eq!(rollup_sums(&stack, db), expected_rollups(&oracle), "{db}");
    }
    let rows_before: BTreeMap<&str, _> = OLD.into_iter().map(|db| (db, rows(&stack, db))).collect();
    let answers_before = answers(&stack, "release23", &p, &oracle);
    assert_eq!(answers(&stack, "authpulse", &p, &oracle), answers_before);

    // The new release's migrate, as an operator runs it.
    for db in OLD {
        stack.migrate_zones(db, &ZONES.join(","));
    }
    for db in OLD {
        assert_eq!(ledger(&stack, db), ledger(&stack, "authpulse"));
    }
    assert_eq!(ledger(&stack, "authpulse").lines().count(), LATEST as usize);

    for db in OLD {
        // Every row of every table that existed is still there (the
        // claims in their new table) ...
        let after = rows(&stack, db);
        for (t, n) in &rows_before[db] {
            if DROPPED.contains(&t.as_str()) {
                assert!(!after.contains_key(t), "{db}.{t} is dropped");
                continue;
            }
            if t == "ingest_claims" {
                assert!(!after.contains_key(t), "{db}.{t} is dropped");
                assert_eq!(
                    after.get("ingest_claims_by_time"),
                    Some(n),
                    "{db} claims kept"
                );
                continue;
            }
            assert_eq!(after.get(t), Some(n), "{db}.{t} rows after the upgrade");
        }
        assert_eq!(rollup_sums(&stack, db), expected_rollups(&oracle), "{db}");
        // ... the schema is the one a new database gets ...
        assert_same_objects(&stack, db, "authpulse");
        // ... and the reports answer as before (and as the oracle says).
        assert_eq!(answers(&stack, db, &p, &oracle), answers_before, "{db}");
    }
    // The claims are the same ones, event time and id alike.
    let claims_of = |db: &str| {
        stack.query(&format!(
            "SELECT occurred_at, event_id, topic, partition, offset, store_key \
             FROM {db}.ingest_claims_by_time ORDER BY occurred_at, event_id FORMAT TSV"
        ))
    };
    assert_eq!(claims_of("release23"), claims_of("authpulse"));
    // 0019's backfill gave the 0018 database the claims the current one
    // built as events arrived.
    assert_eq!(
        stack.query("SELECT org_slug, org_id FROM release18.org_owned_slugs ORDER BY org_slug"),
        stack.query("SELECT org_slug, org_id FROM authpulse.org_owned_slugs ORDER BY org_slug"),
    );
    assert_ne!(
        count(&stack, "SELECT count() FROM release18.org_owned_slugs"),
        0
    );

    // A new database is the same as both.
    rt.block_on(authpulse_store::migrate(&ch, "fresh", &zones, None))
        .unwrap();
    assert_same_objects(&stack, "fresh", "release18");
}

/// A refresh that began before an upgrade must not undo it: a refreshable
/// view builds its new table with its target's shape at the start and swaps
/// it in at the end, so an `ADD COLUMN` on the target during a refresh was
/// lost (0021 on `active_users_monthly_now`, whose snapshot refreshes every
/// 10 s). Here the refresh is made to take 30 s and is running when the
/// remaining migrations are applied.
#[test]
fn an_upgrade_during_a_snapshot_refresh_keeps_its_columns() {
    let stack = Stack::start("schema-refresh");
    let ch = server(&stack);
    let rt = runtime();
    let zones = zones();
    rt.block_on(authpulse_store::migrate_by_replay(
        &ch,
        "upgrading",
        &zones,
        20,
    ))
    .unwrap();
    let view = "upgrading.active_users_monthly_now_rmv";
    stack.query(&format!(
        "ALTER TABLE {view} MODIFY QUERY \
         SELECT now64(3, 'UTC') AS as_of, 'UTC' AS tz, toDate('2026-01-01') AS month, \
         toUInt64(sleepEachRow(1)) AS users FROM numbers(30) SETTINGS max_block_size = 1"
    ));
    stack.query(&format!("SYSTEM REFRESH VIEW {view}"));
    let running = eventually(std::time::Duration::from_secs(20), || {
        (stack
            .query(
                "SELECT status FROM system.view_refreshes \
                 WHERE database = 'upgrading' AND view = 'active_users_monthly_now_rmv'",
            )
            .trim()
            == "Running")
            .then_some(())
    });
    assert!(running.is_some(), "the slow refresh never started");

    rt.block_on(authpulse_store::migrate(&ch, "upgrading", &zones, None))
        .unwrap();
    // Whatever the refresh was doing has ended, and the view refreshes
    // again with the migrations' query.
    rt.block_on(async {
        ch.query(&format!("SYSTEM REFRESH VIEW {view}"))
            .execute()
            .await
            .unwrap();
        ch.query(&format!("SYSTEM WAIT VIEW {view}"))
            .execute()
            .await
            .expect(
                "the snapshot no longer refreshes after the upgrade (its table lost a column?)",
            );
    });
    let columns = stack.query(
        "SELECT name FROM system.columns WHERE database = 'upgrading' \
         AND table = 'active_users_monthly_now' ORDER BY position FORMAT TSVRaw",
    );
    assert_eq!(
        columns.split_whitespace().collect::<Vec<_>>(),
        ["as_of", "tz", "month", "users", "state"],
        "the refresh in progress swapped back the old shape"
    );
    let status = stack.query(
        "SELECT status FROM system.view_refreshes WHERE database = 'upgrading' ORDER BY view",
    );
    assert!(
        !status.contains("Disabled"),
        "refreshes left stopped after the upgrade:\n{status}"
    );
}
