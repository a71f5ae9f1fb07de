//! A sharded ClickHouse cluster run for real (issue 17, first part): two
//! shards (one replica each; the local servers cannot join Keeper, so
//! replication cannot run here, docs/scaling.md), migrated with
//! `migrate --cluster-layout sharded`, holding a loadgen stream's rows split
//! by organization. Every figure read through the cluster database
//! (`authpulse_cluster`: Distributed tables under the local tables' names)
//! equals the loadgen oracle (distinct users within the sketch error) and
//! the single server that ingested the same stream; and the whole pipeline
//! runs on it: two ingest instances writing, the API reading.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use authpulse_loadgen::{generate, org_ids, Oracle, Profile};
use authpulse_testkit::{block_on, Shards};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use common::pipeline::{count, load, start_stack};
use common::Stack;
use serde_json::{json, Value};

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

/// The report figures, over the single-node tables (`db` "authpulse") or
/// the Distributed ones ("authpulse_cluster"); keys as the oracle's
/// intervals in UTC.
fn figures(query: &dyn Fn(&str) -> String, db: &str) -> BTreeMap<&'static str, String> {
    let q = |name: &'static str, sql: String| (name, query(&sql));
    BTreeMap::from([
        q(
            "logins total",
            format!("SELECT sum(logins) FROM {db}.login_counts_15m"),
        ),
        q(
            "successful logins per hour",
            format!(
                "SELECT intDiv(toUnixTimestamp(bucket), 3600) h, sum(logins) \
                 FROM {db}.login_counts_15m WHERE success GROUP BY h ORDER BY h"
            ),
        ),
        q(
            "registrations per hour",
            format!(
                "SELECT intDiv(toUnixTimestamp(bucket), 3600) h, sum(events) \
                 FROM {db}.registration_counts_15m WHERE action = 'registered' \
                 GROUP BY h ORDER BY h"
            ),
        ),
        // Sketch states of every shard merged, as the DAU/MAU reports do.
        q(
            "daily active users",
            format!(
                "SELECT toInt64(toUInt16(day)) d, uniqCombined64Merge(17)(users) \
                 FROM {db}.active_users_daily_global WHERE tz = 'UTC' GROUP BY d ORDER BY d"
            ),
        ),
        q(
            "monthly active users",
            format!(
                "SELECT (toYear(month) - 1970) * 12 + toMonth(month) - 1 m, uniqCombined64Merge(17)(users) \
                 FROM {db}.active_users_monthly WHERE tz = 'UTC' \
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
    // became a shard): the sharded migrate must still give it the cluster
    // database, though it has no migration left to replay.
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
    let distributed = "SELECT count() FROM system.tables WHERE database = 'authpulse_cluster' \
                       AND engine = 'Distributed'";
    assert_eq!(shards.query(1, distributed).trim(), "0");
    shards.migrate("authpulse", "UTC");
    let n = shards.len();
    let per_node: Vec<String> = (0..n)
        .map(|node| shards.query(node, distributed).trim().to_string())
        .collect();
    assert!(per_node[0].parse::<u32>().unwrap() > 20, "{per_node:?}");
    assert_eq!(
        per_node[0], per_node[1],
        "the same Distributed tables on every node"
    );
    // The Distributed tables exist on every node, over the cluster.
    for node in 0..n {
        assert_eq!(
            shards
                .query(
                    node,
                    "SELECT engine_full LIKE 'Distributed(\\'authpulse\\', \\'authpulse\\', \\'login_events\\', cityHash64(org_id))%' \
                     FROM system.tables WHERE database = 'authpulse_cluster' AND name = 'login_events'"
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
            "INSERT INTO authpulse_cluster.registration_events SELECT * FROM {} \
             SETTINGS distributed_foreground_insert = 1",
            source("registration_events")
        ),
    );
    eprintln!(
        "registration_events through the cluster database: {:?}",
        t0.elapsed()
    );

    // Every organization lives on exactly one shard, the key's, whichever
    // way its rows were routed; and both shards hold some.
    let placement = shards.query(
        1,
        "SELECT toString(org_id), groupUniqArray(_shard_num), any(cityHash64(org_id) % 2) + 1 FROM ( \
         SELECT org_id, _shard_num FROM authpulse_cluster.login_events \
         UNION ALL SELECT org_id, _shard_num FROM authpulse_cluster.registration_events \
         UNION ALL SELECT org_id, _shard_num FROM authpulse_cluster.login_counts_15m) \
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
            .query(0, &format!("SELECT count() FROM authpulse_cluster.{t}"))
            .trim()
            .parse()
            .unwrap();
        assert!(single > 0, "{t}: the stream has some");
        assert_eq!((local, all), (single, single), "{t} rows");
    }

    // The report figures through the cluster database, asked of either node,
    // equal the single server's; counts equal the oracle exactly.
    let single = figures(&|sql| stack.query(sql), "authpulse");
    for node in 0..n {
        let cluster = figures(&|sql| shards.query(node, sql), "authpulse_cluster");
        for (what, got) in &cluster {
            assert_eq!(got, &single[what], "node {node}: {what}");
        }
    }
    // A shard crash: the Distributed tables refuse to answer without it (no
    // silent partial sums), and after its restart its data, rollups
    // included, is all there again.
    shards.kill_node(1);
    let err = shards
        .try_query(
            0,
            "SELECT sum(logins) FROM authpulse_cluster.login_counts_15m",
        )
        .expect_err("a cluster read with a shard down");
    assert!(
        err.contains("ALL_CONNECTION_TRIES_FAILED") || err.contains("NETWORK_ERROR"),
        "{err}"
    );
    shards.start_node(1);
    assert_eq!(
        figures(&|sql| shards.query(0, sql), "authpulse_cluster"),
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

const KEY: &str = "cluster-all-scopes-key";

/// Starts `authpulse api` on `url`'s database `db`; returns its base URL.
fn start_api(stack: &mut Stack, url: &str, db: &str, log: &str) -> String {
    let config = json!({
        "api_keys": [{ "key": KEY, "name": "all",
            "scopes": ["reports:read", "stats:read", "audit:read", "audit:write", "org:read",
                       "app:read", "client:read", "user:read"] }],
        "jwt": { "hs256_secrets": [common::admin::SECRET] }
    });
    let path = stack.dir.join(format!("{log}.auth.json"));
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let listen = format!("127.0.0.1:{}", common::free_port());
    stack.spawn_env(
        &[
            "api",
            "--listen",
            &listen,
            "--auth-config",
            path.to_str().unwrap(),
            "--database",
            db,
        ],
        log,
        &[("AUTHPULSE_CLICKHOUSE_URL", url)],
    );
    let base = format!("http://{listen}");
    common::eventually(Duration::from_secs(60), || {
        (common::http_get(&format!("{base}/jans-auth/sys/health-check"), None).0 == 200)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("api up:\n{}", stack.log(log)));
    base
}

/// Raw rows per event type through `db` on a shards node.
fn stored_in(shards: &Shards, node: usize, db: &str) -> BTreeMap<&'static str, u64> {
    common::pipeline::TYPES
        .into_iter()
        .map(|t| {
            let n = shards
                .try_query(node, &format!("SELECT count() FROM {db}.{t}_events"))
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            (t, n)
        })
        .collect()
}

/// The whole pipeline on two shards: a 3-broker Kafka, two ingest
/// instances of one consumer group writing through the cluster database of
/// the node each talks to (one SIGKILLed mid-stream and restarted, and one
/// shard SIGKILLed and restarted while they work), and the API reading
/// through the cluster database. Every report equals the single server
/// that ingested the same stream (one ingest, its own consumer group) and
/// the oracle.
#[test]
fn two_ingest_instances_and_the_api_on_two_shards_answer_like_one_server() {
    let now = Utc::now();
    // Older than a week: the "last 24 hours / 7 days" figures are the same
    // whenever the two APIs are asked (the windows move with the clock).
    let p = Profile {
        seed: 1717,
        events: 30_000,
        orgs: 6,
        apps_per_org: 2,
        users_per_org: 400,
        start: now - chrono::Duration::days(25),
        span: chrono::Duration::days(15),
        ..Profile::default()
    };
    let mut stack = Stack::start_cluster("cluster-pipe", 3);
    stack.create_topic("auth-events", 4);
    stack.create_topic("auth-events-dlq", 1);
    stack.migrate("authpulse");
    let shards = Shards::start("cluster-pipe", 2);
    shards.migrate("authpulse", "UTC");

    let mut oracle = Oracle::new();
    let messages: Vec<(String, Vec<u8>)> = generate(&p)
        .map(|m| {
            oracle.observe(&m);
            (m.key.clone(), m.payload.clone())
        })
        .collect();
    let (first, second) = messages.split_at(messages.len() / 2);
    common::produce(&stack.brokers(), "auth-events", first);

    // The single-server reference.
    stack.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest-single.log");
    // Two instances of one group, each on its own node's cluster database.
    let cluster_ingest = |stack: &mut Stack, node: usize, log: &str| {
        stack.spawn_env(
            &[
                "ingest",
                "--batch-wait-ms",
                "200",
                "--group",
                "authpulse-cluster",
                "--database",
                "authpulse_cluster",
            ],
            log,
            &[("AUTHPULSE_CLICKHOUSE_URL", &shards.url(node))],
        )
    };
    let a = cluster_ingest(&mut stack, 0, "ingest-a.log");
    let _b = cluster_ingest(&mut stack, 1, "ingest-b.log");
    // A is killed only once it owns partitions and rows are stored: the
    // first member to join can take every partition and store before the
    // other's join moves some of them, so stored rows alone do not say A
    // is mid-stream.
    let started = common::eventually(Duration::from_secs(120), || {
        let owns = |l: &str| stack.log(l).contains("partition assigned");
        (owns("ingest-a.log")
            && owns("ingest-b.log")
            && stored_in(&shards, 0, "authpulse_cluster")["login"] > 0)
            .then_some(())
    });
    assert!(
        started.is_some(),
        "--- ingest-a.log\n{}\n--- ingest-b.log\n{}",
        stack.log("ingest-a.log"),
        stack.log("ingest-b.log")
    );
    // Instance A crashes mid-stream (SIGKILL: no commit, no flush).
    eprintln!(
        "A SIGKILLed at {:?}",
        stored_in(&shards, 0, "authpulse_cluster")
    );
    stack.child(a).kill().unwrap();
    stack.child(a).wait().unwrap();
    common::produce(&stack.brokers(), "auth-events", second);
    // Shard 2 crashes while B (talking to it) and the rebalance run.
    std::thread::sleep(Duration::from_secs(2));
    shards.kill_node(1);
    std::thread::sleep(Duration::from_secs(3));
    shards.start_node(1);
    eprintln!(
        "shard 2 restarted at {:?}",
        stored_in(&shards, 0, "authpulse_cluster")
    );
    let _a2 = cluster_ingest(&mut stack, 0, "ingest-a2.log");

    let want = common::pipeline::expected(&oracle);
    let logs = ["ingest-a.log", "ingest-b.log", "ingest-a2.log"];
    let client = shards.client(0);
    let done = common::eventually(Duration::from_secs(300), || {
        let s = stored_in(&shards, 0, "authpulse_cluster");
        for (k, v) in &s {
            assert!(
                v <= &want[k],
                "more {k} rows than events: {s:?} vs {want:?}"
            );
        }
        let sums = block_on(authpulse_testkit::rollup_sums(&client, "authpulse_cluster")).ok()?;
        let views = sums.iter().all(|(k, v)| *v == want[k]);
        (s == want && views).then_some(())
    });
    if done.is_none() {
        let l: String = logs
            .iter()
            .map(|l| format!("--- {l}\n{}", stack.log(l)))
            .collect();
        panic!(
            "cluster never caught up: {:?} vs {want:?}\n{l}",
            stored_in(&shards, 0, "authpulse_cluster")
        );
    }
    common::pipeline::wait_ingested(&stack, &oracle, &["ingest-single.log"]);
    // Both instances owned partitions (the group spread them).
    for l in ["ingest-a.log", "ingest-b.log"] {
        assert!(stack.log(l).contains("partition assigned"), "{l}");
    }
    // Every organization on its key's shard, none on both.
    let placement = shards.query(
        0,
        "SELECT count() FROM (SELECT org_id, uniqExact(_shard_num) s, any(_shard_num) n \
         FROM authpulse_cluster.login_events GROUP BY org_id) WHERE s != 1",
    );
    assert_eq!(placement.trim(), "0");
    // Poison went to the dead letters once, as on one server.
    let dead = |q: &dyn Fn(&str) -> String, db: &str| {
        q(&format!(
            "SELECT count(), uniqExact(topic, partition, offset) FROM {db}.dead_letters"
        ))
    };
    assert_eq!(
        dead(&|s| shards.query(0, s), "authpulse_cluster"),
        dead(&|s| stack.query(s), "authpulse")
    );

    // Snapshots: the cluster database computes its own over both shards.
    assert!(
        block_on(authpulse_testkit::refresh_views(
            &client,
            "authpulse_cluster"
        ))
        .unwrap()
            > 0
    );
    let single_url = stack.ch_url();
    let single = start_api(&mut stack, &single_url, "authpulse", "api-single.log");
    let cluster = start_api(
        &mut stack,
        &shards.url(0),
        "authpulse_cluster",
        "api-cluster.log",
    );

    let q = format!(
        "start={}&end={}",
        (p.start - chrono::Duration::days(1)).timestamp_millis(),
        now.timestamp_millis()
    );
    let orgs = org_ids(&p);
    let app = authpulse_loadgen::app_ids(&p, 1)[0].0;
    let user = authpulse_loadgen::user_id(&p, 1, 3);
    let login_id = authpulse_loadgen::login_id(&p, 0, 2);
    let exp = now.timestamp() + 3600;
    let jans =
        common::admin::bearer(&json!({"sub": "ops", "scope": "openid jans_stat", "exp": exp}));
    let months: Vec<String> = oracle.mau_by_month(Tz::UTC).keys().cloned().collect();
    let client_id = stack.query(
        "SELECT entity_id FROM authpulse.audit_events WHERE entity_type = 'client' \
         GROUP BY entity_id ORDER BY count() DESC, entity_id LIMIT 1",
    );
    let mut requests: Vec<(String, String)> = vec![
        (format!("/api/report/login?{q}"), KEY.into()),
        (
            format!("/api/report/login?{q}&applicationId={app}"),
            KEY.into(),
        ),
        (format!("/api/report/login?{q}&userId={user}"), KEY.into()),
        (
            format!("/api/report/login?{q}&loginId={login_id}"),
            KEY.into(),
        ),
        (format!("/api/report/registration?{q}"), KEY.into()),
        (
            format!("/api/report/registration?{q}&applicationId={app}"),
            KEY.into(),
        ),
        (format!("/api/report/daily-active-users?{q}"), KEY.into()),
        (
            format!("/api/report/daily-active-users?{q}&applicationId={app}"),
            KEY.into(),
        ),
        (format!("/api/report/monthly-active-users?{q}"), KEY.into()),
        ("/api/report/totals".into(), KEY.into()),
        (
            format!(
                "/jans-auth/restv1/internal/stat?month={}",
                months.join("%20")
            ),
            jans.clone(),
        ),
        ("/api/admin/stats".into(), KEY.into()),
        ("/api/admin/audit?limit=40".into(), KEY.into()),
        (
            format!("/api/admin/clients/{}/history?limit=40", client_id.trim()),
            KEY.into(),
        ),
    ];
    for (o, (_, slug)) in orgs.iter().enumerate() {
        let member = common::admin::bearer(
            &json!({"sub": format!("m{o}"), "exp": exp, "orgs": {slug.as_str(): "Member"}}),
        );
        for ep in [
            "login-trends",
            "logins-by-service",
            "logins-by-provider",
            "recent-logins",
        ] {
            requests.push((
                format!("/api/organizations/{slug}/analytics/{ep}"),
                member.clone(),
            ));
        }
    }
    let get = |base: &str, path: &str, auth: &str| -> Value {
        let (code, body) = common::http_get(&format!("{base}{path}"), Some(auth));
        assert_eq!(code, 200, "{base}{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    for (path, auth) in &requests {
        let one = get(&single, path, auth);
        let two = get(&cluster, path, auth);
        assert_eq!(two, one, "{path}: the cluster answers as the single server");
    }

    // Grafana on the cluster database (its datasource's default database):
    // every variable query and every ClickHouse panel of the dashboards
    // returns the single server's rows.
    let sql_in = |url: &str, db: &str, sql: &str| -> Vec<String> {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--fail-with-body",
                &format!("{url}/?database={db}"),
                "--data-binary",
                sql,
            ])
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{db}: {sql}\n{body}");
        let mut rows: Vec<String> = body.lines().map(str::to_string).collect();
        rows.sort();
        rows
    };
    let grafana = |sql: &str| {
        let one = sql_in(&stack.ch_url(), "authpulse", sql);
        let two = sql_in(&shards.url(0), "authpulse_cluster", sql);
        assert_eq!(two, one, "Grafana query on the cluster: {sql}");
        one
    };
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(
            common::repo().join("deploy/grafana/dashboards/authpulse-overview.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let vars = dash["templating"]["list"].as_array().unwrap();
    let var = |name: &str, org: &str| {
        let v = vars.iter().find(|v| v["name"] == name).unwrap();
        let sql = v["query"].as_str().or(v["definition"].as_str()).unwrap();
        grafana(&common::grafana::interpolate(
            sql,
            &BTreeMap::from([("org", org.to_string())]),
        ))
    };
    let slugs = var("org", "");
    assert_eq!(slugs.len(), orgs.len(), "{slugs:?}");
    assert!(!var("app", &slugs[0]).is_empty());
    assert_eq!(var("tz", ""), vec!["UTC".to_string()]);
    let panels = common::grafana::panels("authpulse-overview.json");
    let mut ran = 0;
    for (org, app) in [("__all", "__all"), (slugs[1].as_str(), "__all")] {
        let query = common::grafana::Query {
            from: p.start - chrono::Duration::days(1),
            to: now,
            interval_s: 86_400,
            vars: BTreeMap::from([
                ("org", org.to_string()),
                ("app", app.to_string()),
                ("tz", "UTC".to_string()),
            ]),
        };
        for panel in &panels {
            for t in panel["targets"].as_array().into_iter().flatten() {
                if let Some(sql) = t["rawSql"].as_str() {
                    let rows = grafana(&common::grafana::panel_query(sql, &query));
                    assert!(!rows.is_empty(), "{}: no rows", panel["title"]);
                    ran += 1;
                }
            }
        }
    }
    assert!(ran >= 20, "{ran} panel queries");

    // And the oracle, through the cluster.
    let intervals = |v: &Value, key: &str| -> BTreeMap<i64, u64> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["interval"].as_i64().unwrap(),
                    e["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let v = get(&cluster, &format!("/api/report/login?{q}"), KEY);
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.login_hourly(Tz::UTC, None)
    );
    let v = get(&cluster, &format!("/api/report/registration?{q}"), KEY);
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.registration_hourly(Tz::UTC, None)
    );
    let v = get(
        &cluster,
        &format!("/api/report/daily-active-users?{q}"),
        KEY,
    );
    common::assert_sketch_close(
        &intervals(&v, "dailyActiveUsers"),
        &oracle.dau(Tz::UTC, &[]),
        "DAU",
    );
    let v = get(&cluster, "/api/report/totals", KEY);
    let t = oracle.totals();
    assert_eq!(
        v["totalGlobalRegistrations"],
        json!(t.total_global_registrations)
    );
    // Porta's audit retention and cleanup: the setting written through the
    // cluster database, the cleanup deleting on every shard.
    let bin = stack.bin.clone();
    let config = |url: &str, db: &str, args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .arg("config")
            .args(args)
            .env("AUTHPULSE_CLICKHOUSE_URL", url)
            .env("AUTHPULSE_DATABASE", db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for (url, db) in [
        (single_url.as_str(), "authpulse"),
        (&shards.url(1), "authpulse_cluster"),
    ] {
        config(
            url,
            db,
            &["set", "--key", "audit_retention_days", "--value", "20"],
        );
    }
    assert_eq!(
        config(
            &shards.url(0),
            "authpulse_cluster",
            &["get", "--key", "audit_retention_days"]
        ),
        config(
            &single_url,
            "authpulse",
            &["get", "--key", "audit_retention_days"]
        )
    );
    let cleanup = |base: &str| {
        common::admin::http(
            "DELETE",
            &format!("{base}/api/admin/audit/cleanup"),
            Some(KEY),
        )
    };
    let (code, body) = cleanup(&single);
    assert_eq!(code, 200, "{body}");
    let deleted: Value = serde_json::from_str(&body).unwrap();
    assert!(deleted["deleted"].as_u64().unwrap() > 0, "{deleted}");
    // ClickHouse deletes only in the shards' tables, with ON CLUSTER, which
    // needs Keeper (none here): refused, naming it, nothing deleted.
    let (code, body) = cleanup(&cluster);
    assert_eq!(code, 501, "{body}");
    assert!(
        body.contains("Keeper") && body.contains("`authpulse`"),
        "{body}"
    );
    assert_ne!(
        get(&cluster, "/api/admin/audit?limit=40", KEY),
        get(&single, "/api/admin/audit?limit=40", KEY)
    );
    // The cleanup against each shard's own database (an API per shard)
    // deletes what the single server deleted.
    let mut on_shards = 0;
    for node in 0..shards.len() {
        config(
            &shards.url(node),
            "authpulse",
            &["set", "--key", "audit_retention_days", "--value", "20"],
        );
        let api = start_api(
            &mut stack,
            &shards.url(node),
            "authpulse",
            &format!("api-shard{node}.log"),
        );
        let (code, body) = cleanup(&api);
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["cutoffDate"], deleted["cutoffDate"]);
        on_shards += v["deleted"].as_u64().unwrap();
    }
    assert_eq!(on_shards, deleted["deleted"].as_u64().unwrap());
    for path in ["/api/admin/audit?limit=40", "/api/admin/stats"] {
        assert_eq!(get(&cluster, path, KEY), get(&single, path, KEY), "{path}");
    }
}
