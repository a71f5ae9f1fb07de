//! `authpulse collect` and `authpulse import` end to end: vendor payloads
//! (the fixtures in collector/tests/fixtures, each in its vendor's
//! documented shape) POSTed twice → broker → `authpulse ingest` →
//! ClickHouse → report API, compared with counts computed here from the
//! fixtures' hand-written `expected.json` files; then auth, bad input and a
//! broker outage.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{NaiveDate, TimeZone, Utc};
use common::pipeline::{count, start_stack};
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const API_KEY: &str = "collector-e2e-api-key-0123456789";
const CONTRACT_TOKEN: &str = "contract-token-0123456789abcdef";
const FA_TOKEN: &str = "fusionauth-token-0123456789abcdef";
const KC_TOKEN: &str = "keycloak-token-0123456789abcdef";
const A0_TOKEN: &str = "auth0-token-0123456789abcdef";
const FA_SECRET: &str = "fusionauth-hmac-signing-secret-0123456789abcdef";
const KC_ORG: &str = "keycloak:acme=7f3e2a10-5b4c-4d8e-9f01-23456789abcd:acme-kc";

fn fixtures(source: &str) -> PathBuf {
    repo().join("collector/tests/fixtures").join(source)
}

/// `(file, expected contract events)` of a source, from its expected.json.
fn expected(source: &str) -> BTreeMap<String, Vec<String>> {
    serde_json::from_slice(&std::fs::read(fixtures(source).join("expected.json")).unwrap()).unwrap()
}

fn fixture(source: &str, file: &str) -> Vec<u8> {
    std::fs::read(fixtures(source).join(file)).unwrap()
}

/// Counts per expected-event label (`login:success`, `token`, `skip`, ...).
fn tally(source: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for kinds in expected(source).values() {
        for k in kinds {
            *m.entry(k.clone()).or_default() += 1;
        }
    }
    m
}

fn get(m: &BTreeMap<String, u64>, pred: impl Fn(&str) -> bool) -> u64 {
    m.iter().filter(|(k, _)| pred(k)).map(|(_, v)| v).sum()
}

/// POST `body` with headers; `(status, headers+body text)`.
fn post(stack: &Stack, url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let path = stack.dir.join(format!("body-{}", free_port()));
    std::fs::write(&path, body).unwrap();
    let mut c = Command::new("curl");
    c.args([
        "-sS",
        "--max-time",
        "120",
        "-i",
        "-X",
        "POST",
        "-w",
        "\n%{http_code}",
    ]);
    c.args(["-H", "Content-Type: application/json"]);
    for (k, v) in headers {
        c.args(["-H", &format!("{k}: {v}")]);
    }
    c.arg("--data-binary")
        .arg(format!("@{}", path.display()))
        .arg(url);
    let out = c.output().unwrap();
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The JSON body of a response printed with `curl -i`.
fn json_body(text: &str) -> Value {
    let body = text.split("\r\n\r\n").last().unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn bearer(t: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {t}"))]
}

fn fusionauth_headers(body: &[u8], secret: &str) -> Vec<(&'static str, String)> {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body));
    let jwt =
        authpulse_api::auth::sign_hs256(secret.as_bytes(), &json!({ "request_body_sha256": hash }));
    vec![
        ("Authorization", FA_TOKEN.to_string()),
        ("X-FusionAuth-Signature-JWT", jwt),
    ]
}

/// Starts `authpulse collect` with every source enabled; returns its base URL.
fn start_collector(stack: &mut Stack, extra: &[&str]) -> String {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "collect",
        "--listen",
        &listen,
        "--contract-token",
        CONTRACT_TOKEN,
        "--fusionauth-token",
        FA_TOKEN,
        "--fusionauth-hmac-secret",
        FA_SECRET,
        "--keycloak-token",
        KC_TOKEN,
        "--auth0-token",
        A0_TOKEN,
        "--org",
        KC_ORG,
    ];
    args.extend_from_slice(extra);
    stack.spawn(&args, "collect.log");
    let base = format!("http://{listen}");
    let up = eventually(Duration::from_secs(120), || {
        (http_get(&format!("{base}/readyz"), None).0 == 200).then_some(())
    });
    assert!(
        up.is_some(),
        "collector not ready:\n{}",
        stack.log("collect.log")
    );
    base
}

fn start_api(stack: &mut Stack) -> String {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    stack.spawn(
        &["api", "--listen", &listen, "--api-key", API_KEY],
        "api.log",
    );
    let base = format!("http://{listen}");
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("{base}/jans-auth/sys/health-check"), None).0 == 200).then_some(())
    })
    .expect("api up");
    base
}

fn day_ms(day: &str) -> (i64, i64) {
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let start = Utc
        .from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
        .timestamp_millis();
    (start, start + 86_400_000 - 1)
}

fn report_total(api: &str, path: &str, day: &str) -> u64 {
    let (s, e) = day_ms(day);
    let (code, body) = http_get(&format!("{api}{path}?start={s}&end={e}"), Some(API_KEY));
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["total"]
        .as_u64()
        .unwrap()
}

fn audit_total(api: &str, day: &str) -> u64 {
    let (code, body) = http_get(
        &format!("{api}/api/admin/audit?pageSize=1&from={day}&to={day}"),
        Some(API_KEY),
    );
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["pagination"]["total"]
        .as_u64()
        .unwrap()
}

fn raw(stack: &Stack, table: &str, day: &str, filter: &str) -> u64 {
    count(
        stack,
        &format!(
            "SELECT count() FROM authpulse.{table} WHERE toDate(occurred_at) = '{day}' {filter}"
        ),
    )
}

/// What one day of one source must show, from the oracle.
struct DayExpect {
    day: &'static str,
    logins_ok: u64,
    logins_failed: u64,
    registered: u64,
    created: u64,
    deleted: u64,
    tokens: u64,
    sessions: u64,
    audits: u64,
}

fn day_expect(source: &str, day: &'static str) -> DayExpect {
    let t = tally(source);
    DayExpect {
        day,
        logins_ok: get(&t, |k| k == "login:success"),
        logins_failed: get(&t, |k| k == "login:failure"),
        registered: get(&t, |k| k == "registration:registered"),
        created: get(&t, |k| k == "registration:user_created"),
        deleted: get(&t, |k| k == "registration:user_deleted"),
        tokens: get(&t, |k| k == "token"),
        sessions: get(&t, |k| k.starts_with("session:")),
        audits: get(&t, |k| k.starts_with("audit:")),
    }
}

/// Waits until the raw tables hold exactly `want` for its day, then checks
/// the reports.
fn check_day(stack: &Stack, api: &str, want: &DayExpect) {
    let d = want.day;
    let now = || {
        [
            raw(stack, "login_events", d, "AND success"),
            raw(stack, "login_events", d, "AND NOT success"),
            raw(stack, "registration_events", d, ""),
            raw(stack, "token_events", d, ""),
            raw(stack, "session_events", d, ""),
            raw(stack, "audit_events", d, ""),
        ]
    };
    let target = [
        want.logins_ok,
        want.logins_failed,
        want.registered + want.created + want.deleted + registrations_other(want),
        want.tokens,
        want.sessions,
        want.audits,
    ];
    let reached = eventually(Duration::from_secs(180), || (now() == target).then_some(()));
    assert!(
        reached.is_some(),
        "{d}: raw rows {:?} never reached {target:?}\n{}",
        now(),
        stack.log("ingest.log")
    );
    // Nothing more arrives later (a re-send counted twice would).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(now(), target, "{d}: rows after settling");
    pipeline::refresh_snapshots(stack);
    assert_eq!(
        report_total(api, "/api/report/login", d),
        want.logins_ok,
        "{d} login report"
    );
    assert_eq!(
        report_total(api, "/api/report/registration", d),
        want.registered,
        "{d} registration report"
    );
    assert_eq!(audit_total(api, d), want.audits, "{d} audit log");
    assert_eq!(
        raw(
            stack,
            "registration_events",
            d,
            "AND action = 'user_created'"
        ),
        want.created
    );
    assert_eq!(
        raw(
            stack,
            "registration_events",
            d,
            "AND action = 'user_deleted'"
        ),
        want.deleted
    );
}

/// `unregistered` events of the day (not in DayExpect's report fields).
fn registrations_other(want: &DayExpect) -> u64 {
    match want.day {
        "2026-03-10" => 1, // FusionAuth user.registration.delete
        _ => 0,
    }
}

fn metric_sum(collector: &str, name: &str) -> f64 {
    let (code, text) = http_get(&format!("{collector}/metrics"), None);
    assert_eq!(code, 200);
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn dlq_records(stack: &Stack) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", stack.brokers())
        .set("group.id", "e2e-collector-watermarks")
        .create()
        .unwrap();
    let (lo, hi) = c
        .fetch_watermarks("auth-events-dlq", 0, Duration::from_secs(20))
        .unwrap();
    hi - lo
}

#[test]
fn fixtures_posted_twice_and_imports_count_once() {
    let mut stack = start_stack("collector", 3, "UTC");
    stack.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest.log");
    let api = start_api(&mut stack);
    let col = start_collector(&mut stack, &[]);
    let mut skipped_answers = 0u64;

    // Contract: all examples as one JSON array, then again as NDJSON.
    let files: Vec<String> = expected("contract").into_keys().collect();
    let docs: Vec<Value> = files
        .iter()
        .map(|f| serde_json::from_slice(&fixture("contract", f)).unwrap())
        .collect();
    let array = serde_json::to_vec(&docs).unwrap();
    let ndjson: String = docs.iter().map(|d| format!("{d}\n")).collect();
    for body in [array, ndjson.into_bytes()] {
        let (code, text) = post(
            &stack,
            &format!("{col}/v1/events"),
            &bearer(CONTRACT_TOKEN),
            &body,
        );
        assert_eq!(code, 200, "{text}");
        assert_eq!(json_body(&text)["accepted"], docs.len());
    }

    // FusionAuth: one webhook per request, signed, each delivered twice.
    for round in 0..2 {
        for file in expected("fusionauth").keys() {
            let body = fixture("fusionauth", file);
            let (code, text) = post(
                &stack,
                &format!("{col}/v1/sources/fusionauth"),
                &fusionauth_headers(&body, FA_SECRET),
                &body,
            );
            assert_eq!(code, 200, "round {round} {file}: {text}");
            skipped_answers += json_body(&text)["skipped"].as_array().unwrap().len() as u64;
        }
    }

    // Keycloak: one event per request, then all of them as one NDJSON batch.
    let kc: Vec<String> = expected("keycloak").into_keys().collect();
    for file in &kc {
        let (code, text) = post(
            &stack,
            &format!("{col}/v1/sources/keycloak"),
            &bearer(KC_TOKEN),
            &fixture("keycloak", file),
        );
        assert_eq!(code, 200, "{file}: {text}");
        skipped_answers += json_body(&text)["skipped"].as_array().unwrap().len() as u64;
    }
    let batch: String = kc
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_slice(&fixture("keycloak", f)).unwrap();
            format!("{v}\n")
        })
        .collect();
    let (code, text) = post(
        &stack,
        &format!("{col}/v1/sources/keycloak"),
        &bearer(KC_TOKEN),
        batch.as_bytes(),
    );
    assert_eq!(code, 200, "{text}");
    skipped_answers += json_body(&text)["skipped"].as_array().unwrap().len() as u64;

    // Auth0: the log stream's batch as a JSON array, then as JSON lines, with
    // the Authorization Token sent verbatim.
    let a0: Vec<Value> = expected("auth0")
        .keys()
        .map(|f| serde_json::from_slice(&fixture("auth0", f)).unwrap())
        .collect();
    let lines: String = a0.iter().map(|d| format!("{d}\n")).collect();
    for body in [serde_json::to_vec(&a0).unwrap(), lines.into_bytes()] {
        let (code, text) = post(
            &stack,
            &format!("{col}/v1/sources/auth0"),
            &[("Authorization", A0_TOKEN.to_string())],
            &body,
        );
        assert_eq!(code, 200, "{text}");
        let v = json_body(&text);
        assert_eq!(v["received"], a0.len());
        skipped_answers += v["skipped"].as_array().unwrap().len() as u64;
    }

    let expect_skips = 2 * ["fusionauth", "keycloak", "auth0"]
        .iter()
        .map(|s| get(&tally(s), |k| k == "skip"))
        .sum::<u64>();
    assert_eq!(skipped_answers, expect_skips, "skipped events answered");
    assert_eq!(
        metric_sum(&col, "authpulse_collector_events_skipped_total"),
        expect_skips as f64
    );
    assert_eq!(
        dlq_records(&stack),
        expect_skips as i64,
        "dead letters on the DLQ topic"
    );

    for (source, day) in [
        ("contract", "2026-03-08"),
        ("fusionauth", "2026-03-10"),
        ("keycloak", "2026-03-11"),
        ("auth0", "2026-03-12"),
    ] {
        check_day(&stack, &api, &day_expect(source, day));
    }
    // The Keycloak realm went to the configured org; the others to derived ones.
    assert_eq!(
        stack.query("SELECT DISTINCT org_slug FROM authpulse.login_events WHERE toDate(occurred_at) = '2026-03-11'").trim(),
        "acme-kc"
    );

    // Imports: an Auth0 export (NDJSON of 300 logins) and a Keycloak admin-API
    // export (one JSON array of 120 logins), each imported twice.
    let a0_file = stack.dir.join("auth0-export.ndjson");
    let mut text = String::new();
    for i in 0..300 {
        let e = json!({"log_id": format!("imp{i:06}"), "date": format!("2026-03-13T{:02}:{:02}:00.000Z", i / 60, i % 60),
            "type": "s", "client_id": "AaiyAPdpYdesoKnqjj8HJqRn4T5titww", "client_name": "Acme Web",
            "user_id": format!("auth0|u{}", i % 37), "user_name": format!("u{}@acme.example", i % 37),
            "strategy": "google-oauth2", "tenant_name": "acme-prod", "ip": "198.51.100.7"});
        text.push_str(&format!("{e}\n"));
    }
    std::fs::write(&a0_file, text).unwrap();
    let kc_file = stack.dir.join("keycloak-events.json");
    let kc_events: Vec<Value> = (0..120)
        .map(|i| json!({"id": format!("kc-import-{i}"), "time": day_ms("2026-03-14").0 + i * 60_000,
            "type": if i % 4 == 0 { "LOGIN_ERROR" } else { "LOGIN" }, "realmId": "acme", "clientId": "web-app",
            "userId": format!("b1f2c3d4-e5f6-4a7b-8c9d-{:012}", i % 11), "ipAddress": "172.17.0.1",
            "error": if i % 4 == 0 { Some("invalid_user_credentials") } else { None },
            "details": {"username": format!("user{}", i % 11)}}))
        .collect();
    std::fs::write(&kc_file, serde_json::to_vec_pretty(&kc_events).unwrap()).unwrap();
    for _ in 0..2 {
        for (source, file) in [("auth0", &a0_file), ("keycloak", &kc_file)] {
            let out = Command::new(env!("CARGO_BIN_EXE_authpulse"))
                .args(["import", "--source", source])
                .arg(file)
                .args(["--org", KC_ORG])
                .env("AUTHPULSE_BROKERS", stack.brokers())
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "import {source}: {said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let n = if source == "auth0" { 300 } else { 120 };
            assert!(
                said.contains(&format!("{n} contract events produced")),
                "{said}"
            );
        }
    }
    let import_days = [
        DayExpect {
            day: "2026-03-13",
            logins_ok: 300,
            logins_failed: 0,
            registered: 0,
            created: 0,
            deleted: 0,
            tokens: 0,
            sessions: 0,
            audits: 0,
        },
        DayExpect {
            day: "2026-03-14",
            logins_ok: 90,
            logins_failed: 30,
            registered: 0,
            created: 0,
            deleted: 0,
            tokens: 0,
            sessions: 0,
            audits: 0,
        },
    ];
    for want in &import_days {
        check_day(&stack, &api, want);
    }
    // Distinct users of the Auth0 import: 37 derived user ids.
    assert_eq!(
        count(&stack, "SELECT uniqExact(user_id) FROM authpulse.login_events WHERE toDate(occurred_at) = '2026-03-13'"),
        37
    );
}

#[test]
fn auth_bad_input_and_broker_outage() {
    let mut stack = start_stack("collector-faults", 2, "UTC");
    stack.spawn(&["ingest", "--batch-wait-ms", "200"], "ingest.log");
    let col = start_collector(
        &mut stack,
        &[
            "--produce-timeout-ms",
            "4000",
            "--max-body-bytes",
            "200000",
            "--max-events",
            "300",
        ],
    );
    let fa_body = fixture("fusionauth", "user.login.success.json");
    let a0_body = fixture("auth0", "s.json");
    let events = format!("{col}/v1/events");

    // Authentication.
    let (code, _) = post(&stack, &events, &[], &fixture("contract", "login.json"));
    assert_eq!(code, 401, "no token");
    let (code, _) = post(
        &stack,
        &events,
        &bearer("wrong-token-0123456789abcdef"),
        &fixture("contract", "login.json"),
    );
    assert_eq!(code, 401, "wrong token");
    let (code, _) = post(
        &stack,
        &events,
        &bearer(KC_TOKEN),
        &fixture("contract", "login.json"),
    );
    assert_eq!(code, 401, "another source's token");
    let fa = format!("{col}/v1/sources/fusionauth");
    let (code, text) = post(
        &stack,
        &fa,
        &fusionauth_headers(&fa_body, "some-other-secret-0123456789abcdefghijkl"),
        &fa_body,
    );
    assert_eq!(code, 401, "bad signature: {text}");
    let (code, _) = post(
        &stack,
        &fa,
        &[("Authorization", FA_TOKEN.to_string())],
        &fa_body,
    );
    assert_eq!(code, 401, "unsigned");
    let mut tampered = fa_body.clone();
    tampered.extend_from_slice(b" ");
    let (code, _) = post(
        &stack,
        &fa,
        &fusionauth_headers(&fa_body, FA_SECRET),
        &tampered,
    );
    assert_eq!(code, 401, "signature of another body");

    // Bad input: refused with the reason, nothing produced.
    let a0 = format!("{col}/v1/sources/auth0");
    let (code, text) = post(
        &stack,
        &a0,
        &bearer(A0_TOKEN),
        &a0_body[..a0_body.len() / 2],
    );
    assert_eq!(code, 400, "{text}");
    assert_eq!(json_body(&text)["error"], "malformed_json");
    let (code, text) = post(&stack, &a0, &bearer(A0_TOKEN), &fa_body);
    assert_eq!(code, 400, "{text}");
    assert_eq!(json_body(&text)["error"], "not_auth0_event");
    let signed = fusionauth_headers(&a0_body, FA_SECRET);
    let (code, text) = post(&stack, &fa, &signed, &a0_body);
    assert_eq!(
        (code, json_body(&text)["error"].clone()),
        (400, json!("not_fusionauth_event"))
    );
    let good: Value = serde_json::from_slice(&fixture("contract", "login.json")).unwrap();
    let mut bad = good.clone();
    bad["data"]["ip"] = json!("10.0.0.1:80");
    let (code, text) = post(
        &stack,
        &events,
        &bearer(CONTRACT_TOKEN),
        &serde_json::to_vec(&json!([good, bad])).unwrap(),
    );
    assert_eq!(code, 400, "{text}");
    let v = json_body(&text);
    assert_eq!(
        (v["index"].clone(), v["error"].clone()),
        (json!(1), json!("contract_violation"))
    );
    assert!(v["detail"].as_str().unwrap().contains("data.ip"), "{v}");
    let big = vec![b' '; 250_000];
    let (code, _) = post(&stack, &events, &bearer(CONTRACT_TOKEN), &big);
    assert_eq!(code, 413, "oversized body");
    let many: String = (0..301).map(|_| format!("{good}\n")).collect();
    let (code, text) = post(&stack, &events, &bearer(CONTRACT_TOKEN), many.as_bytes());
    assert_eq!(
        (code, json_body(&text)["error"].clone()),
        (413, json!("too_many_events"))
    );

    // Broker outage during a POST: 503 with Retry-After, never 2xx; after the
    // broker is back, the client's retry lands every event exactly once.
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 8, 0, 0).unwrap();
    let batch: Vec<Value> = (0..250)
        .map(|i| {
            let mut e = good.clone();
            e["id"] = json!(uuid::Uuid::from_u128(0xC0_0000 + i as u128).to_string());
            e["occurred_at"] = json!((t0 + chrono::Duration::seconds(i * 13)).to_rfc3339());
            e
        })
        .collect();
    let body = serde_json::to_vec(&batch).unwrap();
    stack.broker_ctl("stop");
    let t = Instant::now();
    let (code, text) = post(&stack, &events, &bearer(CONTRACT_TOKEN), &body);
    assert_eq!(code, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 2"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
    let (code, _) = http_get(&format!("{col}/readyz"), None);
    assert_eq!(code, 503, "not ready while the broker is down");
    stack.broker_ctl("start");
    let accepted = eventually(Duration::from_secs(180), || {
        let (code, text) = post(&stack, &events, &bearer(CONTRACT_TOKEN), &body);
        assert!(code == 200 || code == 503 || code == 429, "{code}: {text}");
        (code == 200).then_some(())
    });
    assert!(
        accepted.is_some(),
        "never accepted after the broker came back:\n{}",
        stack.log("collect.log")
    );
    let want = batch.len() as u64;
    let got = || {
        count(
            &stack,
            "SELECT count() FROM authpulse.login_events WHERE toDate(occurred_at) = '2026-04-01'",
        )
    };
    let reached = eventually(Duration::from_secs(180), || (got() == want).then_some(()));
    assert!(
        reached.is_some(),
        "stored {} of {want}\n{}",
        got(),
        stack.log("ingest.log")
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(got(), want, "each event once");
    // Nothing of the refused requests was stored.
    assert_eq!(
        count(&stack, "SELECT count() FROM authpulse.login_events"),
        want
    );
    assert!(metric_sum(&col, "authpulse_collector_events_rejected_total") >= 10.0);
}
