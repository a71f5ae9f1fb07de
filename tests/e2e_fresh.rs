//! Fresh answers from snapshot-backed reports and exact time windows,
//! against real servers: with the snapshot views stopped after a refresh
//! (so only the live delta since their watermarks can show anything new),
//! a marker login and audit events show in Porta stats' recent activity,
//! the global MAU report and Janssen's MAU within 5 s of being stored, and
//! every answer equals the oracle; events at now − 24 h ± 1 min and
//! now − 7 d ± 1 min are counted exactly.

mod common;

use std::time::{Duration as StdDuration, Instant};

use authpulse_loadgen::{app_ids, org_ids, Message, Profile};
use authpulse_schemas::{Audit, Body, Event, Login, Org};
use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use common::admin::{bearer, get_json, load_with_events, start_api, SECRET};
use common::pipeline::{refresh_snapshots, start_stack};
use common::{produce, Stack};
use serde_json::{json, Value};
use uuid::Uuid;

const KEY: &str = "fresh-e2e-all-scope-key";

fn login(org: &(Uuid, String), app: Uuid, at: DateTime<Utc>, success: bool) -> Event {
    let user = Uuid::new_v4();
    Event {
        id: Uuid::new_v4(),
        occurred_at: at,
        org: Org {
            id: org.0,
            slug: org.1.clone(),
        },
        body: Body::Login(Login {
            success,
            failure_reason: (!success).then(|| "invalid_password".into()),
            user_id: Some(user),
            login_id: format!("{user}@fresh.example"),
            application_id: app,
            application_name: None,
            provider: "password".into(),
            ip: None,
            user_agent: None,
            session_id: None,
        }),
    }
}

fn created(org: &(Uuid, String), entity_type: &str, at: DateTime<Utc>) -> Event {
    Event {
        id: Uuid::new_v4(),
        occurred_at: at,
        org: Org {
            id: org.0,
            slug: org.1.clone(),
        },
        body: Body::Audit(Audit {
            action: format!("{entity_type}.created"),
            entity_type: entity_type.into(),
            entity_id: Uuid::new_v4().to_string(),
            actor_id: Some("system".into()),
            actor_email: None,
            organization_id: Some(org.0.to_string()),
            metadata: Default::default(),
            ip_address: None,
        }),
    }
}

/// Recent activity in exactly (now − 24 h, now] / (now − 7 d, now].
fn expected_activity(events: &[Event], now: DateTime<Utc>) -> Value {
    let within = |t: DateTime<Utc>, w: Duration| t > now - w && t <= now;
    let mut v = [0u64; 4];
    for e in events {
        match &e.body {
            Body::Login(l) if within(e.occurred_at, Duration::hours(24)) => {
                v[usize::from(!l.success)] += 1
            }
            Body::Audit(a) if within(e.occurred_at, Duration::days(7)) => match a.action.as_str() {
                "user.created" => v[2] += 1,
                "organization.created" => v[3] += 1,
                _ => {}
            },
            _ => {}
        }
    }
    json!({
        "loginsLast24h": v[0],
        "failedLoginsLast24h": v[1],
        "newUsersLast7d": v[2],
        "newOrgsLast7d": v[3],
    })
}

/// Produces `extra` and waits until ingest stored every one of them;
/// returns when they were seen stored.
fn produce_stored(stack: &Stack, extra: &[Event]) -> Instant {
    let batch: Vec<(String, Vec<u8>)> = extra
        .iter()
        .map(|e| {
            let m = Message::event(e.clone());
            (m.key, m.payload)
        })
        .collect();
    produce(&stack.brokers(), "auth-events", &batch);
    let ids: Vec<String> = extra.iter().map(|e| format!("'{}'", e.id)).collect();
    let sql = format!(
        "SELECT (SELECT count() FROM authpulse.login_events WHERE event_id IN ({0})) \
         + (SELECT count() FROM authpulse.audit_events WHERE event_id IN ({0}))",
        ids.join(",")
    );
    let deadline = Instant::now() + StdDuration::from_secs(120);
    loop {
        if stack.query(&sql).trim() == extra.len().to_string() {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "markers never stored:\n{}",
            stack.log("ingest.log")
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
}

/// The stats' recent activity, bracketed by the clock: `None` when an
/// event lies on a window edge that moved during the request.
fn activity(base: &str, events: &[Event]) -> Option<(Value, Value)> {
    let t0 = Utc::now();
    let got = get_json(&format!("{base}/api/admin/stats"), KEY)["recentActivity"].clone();
    let t1 = Utc::now();
    let want = expected_activity(events, t0);
    (want == expected_activity(events, t1)).then_some((got, want))
}

fn month_key(t: DateTime<Utc>) -> (i64, String) {
    (
        i64::from(t.year() - 1970) * 12 + i64::from(t.month0()),
        format!("{:04}{:02}", t.year(), t.month()),
    )
}

#[test]
fn snapshot_reports_are_fresh_and_windows_exact() {
    let now = Utc::now();
    let p = Profile {
        seed: 91,
        events: 4_000,
        orgs: 2,
        apps_per_org: 2,
        users_per_org: 200,
        start: now - Duration::days(9),
        // Ends a few minutes before now: nothing lies in the future.
        span: Duration::days(9) - Duration::minutes(5),
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    };
    let orgs = org_ids(&p);
    let app = app_ids(&p, 1)[0].0;
    let mut stack = start_stack("fresh", 1, "UTC");
    let (mut oracle, mut events) = load_with_events(&mut stack, &p, Vec::new());
    // Janssen's stat cache (an hour by default, as Janssen) would hide any
    // change: off for this test.
    std::env::set_var("AUTHPULSE_STAT_CACHE_SECS", "0");
    let config = json!({ "jwt": { "hs256_secrets": [SECRET] } });
    let base = start_api(&mut stack, &config, KEY);
    let utc: Tz = "UTC".parse().unwrap();

    // ---- exact windows: events one minute inside / outside each edge ----
    let tb = Utc::now();
    let edge = vec![
        login(
            &orgs[0],
            app,
            tb - Duration::hours(24) + Duration::minutes(1),
            true,
        ),
        login(
            &orgs[0],
            app,
            tb - Duration::hours(24) - Duration::minutes(1),
            true,
        ),
        login(
            &orgs[1],
            app,
            tb - Duration::hours(24) + Duration::minutes(1),
            false,
        ),
        login(
            &orgs[1],
            app,
            tb - Duration::hours(24) - Duration::minutes(1),
            false,
        ),
        created(
            &orgs[0],
            "user",
            tb - Duration::days(7) + Duration::minutes(1),
        ),
        created(
            &orgs[0],
            "user",
            tb - Duration::days(7) - Duration::minutes(1),
        ),
        created(
            &orgs[1],
            "organization",
            tb - Duration::days(7) + Duration::minutes(1),
        ),
        created(
            &orgs[1],
            "organization",
            tb - Duration::days(7) - Duration::minutes(1),
        ),
    ];
    produce_stored(&stack, &edge);
    for e in &edge {
        oracle.observe(&Message::event(e.clone()));
    }
    events.extend(edge.iter().cloned());
    // The inside events are 24 h / 7 d late: one in a whole bucket before
    // the snapshot's watermark counts from the next refresh, within 5 s
    // (docs/rollups.md, "Late events"), so the answer may lag that long.
    let mut checked = false;
    let mut last = None;
    for _ in 0..20 {
        if let Some((got, want)) = activity(&base, &events) {
            // Still within a minute of tb: the inside events count, the
            // outside ones don't (the oracle is exact).
            assert!(
                Utc::now() - tb < Duration::seconds(55),
                "too slow for ±1 min edges: {last:?}"
            );
            if got == want {
                checked = true;
                break;
            }
            last = Some((got, want));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    if let Some((got, want)) = last.filter(|_| !checked) {
        assert_eq!(got, want, "recent activity at the window edges");
    }
    assert!(checked, "a window edge moved during every request");
    // The raw edge read goes through login_events' projection by_time
    // (0026): with force_optimize_projection ClickHouse refuses a plan that
    // uses none. Same answer as the oracle over ±5 min of the 24 h edge.
    let (lo, hi) = (
        tb - Duration::hours(24) - Duration::minutes(5),
        tb - Duration::hours(24) + Duration::minutes(5),
    );
    let want: u64 = events
        .iter()
        .filter(|e| matches!(&e.body, Body::Login(l) if l.success))
        .filter(|e| e.occurred_at > lo && e.occurred_at < hi)
        .count() as u64;
    let got = stack.query(&format!(
        "SELECT countIf(success) FROM authpulse.login_events \
         WHERE occurred_at > fromUnixTimestamp64Milli({}, 'UTC') \
           AND occurred_at < fromUnixTimestamp64Milli({}, 'UTC') \
         SETTINGS force_optimize_projection = 1",
        lo.timestamp_millis(),
        hi.timestamp_millis()
    ));
    assert_eq!(got.trim(), want.to_string(), "logins at the 24 h edge");
    assert!(want >= 2, "the two successful edge logins are in range");

    // ---- freshness: snapshots refreshed once, then stopped ----------------
    refresh_snapshots(&stack);
    for view in ["activity_buckets_now_rmv", "active_users_monthly_now_rmv"] {
        stack.query(&format!("SYSTEM STOP VIEW authpulse.{view}"));
    }
    let (interval, month) = month_key(Utc::now());
    let mau_url = {
        let start = (Utc::now() - Duration::days(40)).timestamp_millis();
        let end = Utc::now().timestamp_millis();
        format!("{base}/api/report/monthly-active-users?start={start}&end={end}")
    };
    let jans = bearer(
        &json!({"sub": "ops", "scope": "openid jans_stat", "exp": Utc::now().timestamp() + 600}),
    );
    let stat_url = format!("{base}/jans-auth/restv1/internal/stat?month={month}");
    let mau = || -> u64 {
        let v = get_json(&mau_url, KEY);
        v["monthlyActiveUsers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["interval"] == json!(interval))
            .map_or(0, |x| x["count"].as_u64().unwrap())
    };
    let jans_mau = || -> u64 {
        get_json(&stat_url, &jans)["response"][0]["monthly_active_users"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(
        mau(),
        oracle.mau(utc, &[])[&interval],
        "MAU before the markers"
    );
    assert_eq!(jans_mau(), oracle.mau_by_month(utc)[&month]);

    let at = Utc::now();
    let markers = vec![
        login(&orgs[0], app, at, true),
        login(&orgs[1], app, at, false),
        created(&orgs[0], "user", at),
        created(&orgs[1], "organization", at),
    ];
    for e in &markers {
        oracle.observe(&Message::event(e.clone()));
    }
    events.extend(markers.iter().cloned());
    let stored = produce_stored(&stack, &markers);
    let want_mau = oracle.mau(utc, &[])[&interval];
    let want_jans = oracle.mau_by_month(utc)[&month];
    let mut seen = (None, None, None);
    while seen.0.is_none() || seen.1.is_none() || seen.2.is_none() {
        let waited = stored.elapsed();
        assert!(
            waited < StdDuration::from_secs(5),
            "not visible 5 s after stored (activity, MAU, Janssen): {seen:?}"
        );
        if seen.0.is_none() {
            if let Some((got, want)) = activity(&base, &events) {
                if got == want {
                    seen.0 = Some(waited);
                }
            }
        }
        if seen.1.is_none() && mau() == want_mau {
            seen.1 = Some(waited);
        }
        if seen.2.is_none() && jans_mau() == want_jans {
            seen.2 = Some(waited);
        }
    }
    // A zone without any monthly snapshot yet (a new deployment before the
    // first refresh): the current month from its daily states alone.
    stack.query("TRUNCATE TABLE authpulse.active_users_monthly_now");
    assert_eq!(mau(), want_mau, "MAU without a snapshot");
    // Still exact afterwards (nothing counted twice by snapshot and delta),
    // also once the snapshots catch up with the markers.
    for view in ["activity_buckets_now_rmv", "active_users_monthly_now_rmv"] {
        stack.query(&format!("SYSTEM START VIEW authpulse.{view}"));
    }
    refresh_snapshots(&stack);
    let (got, want) = (0..5)
        .find_map(|_| activity(&base, &events))
        .expect("window edge moved");
    assert_eq!(got, want, "recent activity after the refresh");
    assert_eq!(mau(), want_mau, "MAU after the refresh");
    assert_eq!(jans_mau(), want_jans, "Janssen MAU after the refresh");
}
