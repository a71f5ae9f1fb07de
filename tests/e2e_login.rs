//! One event family end to end: login events produced to the broker →
//! `authpulse ingest` → ClickHouse raw table → materialized 15-minute rollup →
//! `GET /api/report/login`, compared with counts computed here from the
//! generated stream.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use authpulse_schemas::{to_json, Body, Event, Login, Org};
use chrono::{DateTime, TimeZone, Utc};
use common::*;
use serde_json::Value;
use uuid::Uuid;

const KEY: &str = "test-api-key-0123456789";

struct Stream {
    messages: Vec<(String, Vec<u8>)>,
    events: Vec<Event>,
}

/// `n` login events over `hours` hours from `t0`; every 7th fails; three apps.
fn generate(n: u64, t0: DateTime<Utc>, hours: i64) -> Stream {
    let org = Org {
        id: Uuid::from_u128(7),
        slug: "acme".into(),
    };
    let apps = [
        Uuid::from_u128(0xA1),
        Uuid::from_u128(0xA2),
        Uuid::from_u128(0xA3),
    ];
    let mut events = Vec::new();
    for i in 0..n {
        // A deterministic scatter over the span, not in time order.
        let offset_s = (i * 7919 + i * i * 31) % (hours as u64 * 3600);
        let success = i % 7 != 3;
        events.push(Event {
            id: Uuid::from_u128(0x1_0000_0000 + u128::from(i)),
            occurred_at: t0 + chrono::Duration::seconds(offset_s as i64),
            org: org.clone(),
            body: Body::Login(Login {
                success,
                failure_reason: (!success).then(|| "invalid_password".into()),
                user_id: Some(Uuid::from_u128(0xB000 + u128::from(i % 40))),
                login_id: format!("u{}@acme.test", i % 40),
                application_id: apps[(i % 3) as usize],
                application_name: Some(format!("app{}", i % 3)),
                provider: ["password", "google", "github"][(i % 3) as usize].into(),
                ip: Some("10.0.0.1".into()),
                user_agent: None,
                session_id: None,
            }),
        });
    }
    let messages = events
        .iter()
        .map(|e| (e.id.to_string(), to_json(e)))
        .collect();
    Stream { messages, events }
}

/// The oracle: successful logins per UTC hour interval (hours since epoch).
fn oracle(events: &[Event], app: Option<Uuid>) -> BTreeMap<i64, u64> {
    let mut m = BTreeMap::new();
    for e in events {
        if let Body::Login(l) = &e.body {
            if l.success && app.is_none_or(|a| a == l.application_id) {
                *m.entry(e.occurred_at.timestamp().div_euclid(3600))
                    .or_default() += 1;
            }
        }
    }
    m
}

fn report(port: u16, start: i64, end: i64, app: Option<Uuid>) -> (BTreeMap<i64, u64>, u64) {
    let mut url = format!("http://127.0.0.1:{port}/api/report/login?start={start}&end={end}");
    if let Some(a) = app {
        url.push_str(&format!("&applicationId={a}"));
    }
    let (code, body) = http_get(&url, Some(KEY));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let counts = v["hourlyCounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["interval"].as_i64().unwrap(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    (counts, v["total"].as_u64().unwrap())
}

#[test]
fn login_events_reach_the_hourly_report_exactly() {
    let mut stack = Stack::start("login");
    let topic = "auth-events";
    stack.create_topic(topic, 3);
    stack.create_topic("auth-events-dlq", 1);
    stack.migrate("authpulse");

    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    let hours = 6;
    let stream = generate(1200, t0, hours);
    produce(&stack.brokers(), topic, &stream.messages);

    stack.spawn(
        &["ingest", "--topics", topic, "--batch-wait-ms", "200"],
        "ingest.log",
    );
    let api_port = free_port();
    let listen = format!("127.0.0.1:{api_port}");
    stack.spawn(&["api", "--listen", &listen, "--api-key", KEY], "api.log");

    let start = t0.timestamp_millis();
    let end = (t0 + chrono::Duration::hours(hours) - chrono::Duration::milliseconds(1))
        .timestamp_millis();
    let expected = oracle(&stream.events, None);
    let expected_total: u64 = expected.values().sum();
    assert_eq!(
        expected.len(),
        hours as usize,
        "the stream covers every hour"
    );

    let got = eventually(Duration::from_secs(120), || {
        let (counts, total) =
            std::panic::catch_unwind(|| report(api_port, start, end, None)).ok()?;
        (total == expected_total).then_some(counts)
    });
    let got = got.unwrap_or_else(|| {
        panic!(
            "report never reached {expected_total}\ningest log:\n{}\napi log:\n{}",
            stack.log("ingest.log"),
            stack.log("api.log")
        )
    });
    assert_eq!(got, expected, "hourly counts equal the oracle");

    // Filtered by application, and a range that cuts the first and last hour.
    let app = Uuid::from_u128(0xA2);
    let (counts, total) = report(api_port, start, end, Some(app));
    let expected_app = oracle(&stream.events, Some(app));
    assert_eq!(counts, expected_app);
    assert_eq!(total, expected_app.values().sum::<u64>());
    let inner_start = start + 3_600_000 + 1234; // truncated to the second hour
    let inner_end = end - 3_600_000; // inside the fifth hour
    let (counts, _) = report(api_port, inner_start, inner_end, None);
    let expected_inner: BTreeMap<i64, u64> = expected
        .iter()
        .skip(1)
        .take(4)
        .map(|(k, v)| (*k, *v))
        .collect();
    assert_eq!(counts, expected_inner);

    // The raw table holds every event exactly once, failures included.
    let raw: u64 = stack
        .query("SELECT count() FROM authpulse.login_events")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(raw, stream.events.len() as u64);
}

#[test]
fn report_requires_api_key_and_valid_parameters() {
    let mut stack = Stack::start("login-errors");
    stack.migrate("authpulse");
    let api_port = free_port();
    let listen = format!("127.0.0.1:{api_port}");
    stack.spawn(&["api", "--listen", &listen, "--api-key", KEY], "api.log");
    let base = format!("http://127.0.0.1:{api_port}/api/report/login");
    eventually(Duration::from_secs(30), || {
        (http_get(&base, Some(KEY)).0 != 0).then_some(())
    })
    .expect("api came up");

    let (code, body) = http_get(&format!("{base}?start=0&end=1"), None);
    assert_eq!((code, body.as_str()), (401, ""));
    let (code, _) = http_get(&format!("{base}?start=0&end=1"), Some("wrong"));
    assert_eq!(code, 401);

    let (code, body) = http_get(&base, Some(KEY));
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["fieldErrors"]["start"][0]["code"], "[missing]start");
    assert_eq!(v["fieldErrors"]["end"][0]["code"], "[missing]end");

    let (code, body) = http_get(
        &format!("{base}?start=abc&end=5&applicationId=nope"),
        Some(KEY),
    );
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["fieldErrors"]["start"][0]["code"], "[invalid]start");
    assert_eq!(
        v["fieldErrors"]["applicationId"][0]["code"],
        "[invalid]applicationId"
    );

    let (code, body) = http_get(&format!("{base}?start=10&end=5"), Some(KEY));
    assert_eq!(code, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["fieldErrors"]["end"][0]["code"], "[invalid]end");

    // An empty store answers an empty report, not an error.
    let (code, body) = http_get(&format!("{base}?start=0&end=3600000"), Some(KEY));
    assert_eq!(code, 200);
    assert_eq!(body, r#"{"total":0,"hourlyCounts":[]}"#);
}
