//! FusionAuth reports and Janssen stat over HTTP against the oracle, with a
//! report timezone other than UTC; every documented error; authentication
//! (missing, invalid, expired credentials and missing scopes); the stat
//! cache; the health check following ClickHouse.

mod common;

use std::collections::BTreeMap;

use authpulse_loadgen::{app_ids, generate, Message, Oracle, Profile};
use authpulse_schemas::{Body, Event, Org, Token};
use chrono::{Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use common::admin::{bearer, get_json, http, SECRET};
use common::pipeline::{load, start_stack, wait_ingested};
use common::*;
use serde_json::{json, Value};
use uuid::Uuid;

const KEY: &str = "reports-key-0123456789";
const NO_SCOPE_KEY: &str = "stats-only-key-0123456789";
const ZONE: &str = "America/Denver";

fn profile() -> Profile {
    Profile {
        seed: 31,
        events: 12_000,
        orgs: 2,
        apps_per_org: 3,
        users_per_org: 300,
        start: Utc.with_ymd_and_hms(2026, 2, 20, 0, 0, 0).unwrap(),
        span: chrono::Duration::days(100),
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    }
}

fn start_api(stack: &mut Stack, extra: &[&str], log: &str) -> String {
    let config = json!({
        "api_keys": [
            { "key": KEY, "name": "reports", "scopes": ["reports:read"] },
            { "key": NO_SCOPE_KEY, "name": "stats", "scopes": ["stats:read"] }
        ],
        "jwt": { "hs256_secrets": [SECRET] }
    });
    let path = stack.dir.join("auth.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = vec![
        "api",
        "--listen",
        &listen,
        "--auth-config",
        path.to_str().unwrap(),
        "--report-tz",
        ZONE,
    ];
    args.extend_from_slice(extra);
    stack.spawn(&args, log);
    let base = format!("http://{listen}");
    eventually(std::time::Duration::from_secs(60), || {
        (http("GET", &format!("{base}/jans-auth/sys/health-check"), None).0 == 200).then_some(())
    })
    .expect("api up");
    base
}

fn intervals(v: &Value, key: &str) -> BTreeMap<i64, u64> {
    v[key]
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

fn assert_total(v: &Value, key: &str) {
    let sum: u64 = intervals(v, key).values().sum();
    assert_eq!(
        v["total"].as_u64().unwrap(),
        sum,
        "total is the sum of the counts"
    );
}

fn close(got: &BTreeMap<i64, u64>, want: &BTreeMap<i64, u64>, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (k, w) in want {
        assert!(
            (got[k] as f64 - *w as f64).abs() <= (*w as f64 * 0.01).max(0.0),
            "{what} {k}: {} vs {w}",
            got[k]
        );
    }
}

fn token_json(o: &Oracle, tz: Tz, month: &str) -> Value {
    json!(o
        .tokens_by_month(tz)
        .get(month)
        .cloned()
        .unwrap_or_default())
}

#[test]
fn fusionauth_and_janssen_reports_equal_the_oracle() {
    let mut stack = start_stack("reports", 3, ZONE);
    let p = profile();
    let oracle = load(&mut stack, &p);
    let tz: Tz = ZONE.parse().unwrap();
    let base = start_api(&mut stack, &[], "api.log");
    let start = (p.start - chrono::Duration::days(8)).timestamp_millis();
    let end = (p.start + p.span + chrono::Duration::days(1)).timestamp_millis();
    let q = format!("start={start}&end={end}");
    let app = app_ids(&p, 1)[0].0;

    // Login and registration reports, global and per application.
    let v = get_json(&format!("{base}/api/report/login?{q}"), KEY);
    assert_eq!(intervals(&v, "hourlyCounts"), oracle.login_hourly(tz, None));
    assert_total(&v, "hourlyCounts");
    let v = get_json(
        &format!("{base}/api/report/login?{q}&applicationId={app}"),
        KEY,
    );
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.login_hourly(tz, Some(app))
    );
    let user = authpulse_loadgen::user_id(&p, 1, 3);
    let v = get_json(&format!("{base}/api/report/login?{q}&userId={user}"), KEY);
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.login_hourly_by_user(tz, user)
    );
    let login_id = authpulse_loadgen::login_id(&p, 0, 2);
    let v = get_json(
        &format!("{base}/api/report/login?{q}&loginId={login_id}"),
        KEY,
    );
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.login_hourly_by_login_id(tz, &login_id)
    );
    let v = get_json(&format!("{base}/api/report/registration?{q}"), KEY);
    assert_eq!(
        intervals(&v, "hourlyCounts"),
        oracle.registration_hourly(tz, None)
    );
    assert_total(&v, "hourlyCounts");

    // Active users, both spellings.
    for path in ["daily-active-users", "daily-active-user"] {
        let v = get_json(&format!("{base}/api/report/{path}?{q}"), KEY);
        close(
            &intervals(&v, "dailyActiveUsers"),
            &oracle.dau(tz, &[]),
            path,
        );
        assert_total(&v, "dailyActiveUsers");
    }
    for path in ["monthly-active-users", "monthly-active-user"] {
        let v = get_json(
            &format!("{base}/api/report/{path}?{q}&applicationId={app}"),
            KEY,
        );
        close(
            &intervals(&v, "monthlyActiveUsers"),
            &oracle.mau(tz, &[app]),
            path,
        );
        assert_total(&v, "monthlyActiveUsers");
    }

    // Totals.
    let v = get_json(&format!("{base}/api/report/totals"), KEY);
    let t = oracle.totals();
    assert_eq!(v["globalRegistrations"], json!(t.global_registrations));
    assert_eq!(
        v["totalGlobalRegistrations"],
        json!(t.total_global_registrations)
    );
    let want: BTreeMap<String, Value> = t
        .apps
        .iter()
        .map(|(id, a)| {
            (id.to_string(), json!({"logins": a.logins, "registrations": a.registrations, "totalRegistrations": a.total_registrations}))
        })
        .collect();
    assert_eq!(v["applicationTotals"], json!(want));

    // Janssen stat: a month list, a range, jsonmonth, openmetrics, POST.
    let stat = format!("{base}/jans-auth/restv1/internal/stat");
    let jans = bearer(
        &json!({"sub": "ops", "scope": "openid jans_stat", "exp": Utc::now().timestamp() + 600}),
    );
    let months: Vec<String> = oracle.mau_by_month(tz).keys().cloned().collect();
    assert!(months.len() >= 4);
    let v = get_json(
        &format!("{stat}?month={}%20{}", months[1], months[2]),
        &jans,
    );
    let list = v["response"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for (entry, m) in list.iter().zip(&months[1..3]) {
        assert_eq!(entry["month"], json!(m));
        assert_eq!(
            entry["token_count_per_granttype"],
            token_json(&oracle, tz, m)
        );
        let mau = entry["monthly_active_users"].as_u64().unwrap() as f64;
        let exact = oracle.mau_by_month(tz)[m] as f64;
        assert!(
            (mau - exact).abs() <= exact * 0.01,
            "MAU {m}: {mau} vs {exact}"
        );
    }
    let v = get_json(
        &format!(
            "{stat}?start-month={}&end-month={}&format=jsonmonth",
            months[0], months[3]
        ),
        &jans,
    );
    let map = v["response"].as_object().unwrap();
    assert_eq!(
        map.keys().cloned().collect::<Vec<_>>(),
        months[..4].to_vec()
    );
    assert_eq!(
        map[&months[3]]["token_count_per_granttype"],
        token_json(&oracle, tz, &months[3])
    );
    let (code, text) = http(
        "GET",
        &format!("{stat}?month={}&format=openmetrics", months[2]),
        Some(&jans),
    );
    assert_eq!(code, 200);
    assert!(text.contains(&format!("monthly_active_users{{month=\"{}\"}}", months[2])));
    let tokens = oracle.tokens_by_month(tz);
    let (grant, types) = tokens[&months[2]].iter().next().unwrap();
    let (ttype, n) = types.iter().next().unwrap();
    assert!(
        text.contains(&format!(
            "{ttype}{{month=\"{}\",grantType=\"{grant}\"}} {n}",
            months[2]
        )),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: {jans}"),
            "--data",
            &format!("month={}", months[1]),
            &stat,
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["response"][0]["token_count_per_granttype"],
        token_json(&oracle, tz, &months[1])
    );

    // The stat answer is cached per month set: new tokens in a cached month
    // do not show until the cache expires; an uncached API sees them.
    let month = &months[1];
    let before = get_json(&format!("{stat}?month={month}"), &jans);
    let (y, m) = (
        month[..4].parse::<i32>().unwrap(),
        month[4..].parse::<u32>().unwrap(),
    );
    let at = tz
        .with_ymd_and_hms(y, m, 15, 12, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let org = Org {
        id: authpulse_loadgen::org_ids(&p)[0].0,
        slug: authpulse_loadgen::org_ids(&p)[0].1.clone(),
    };
    let extra: Vec<Event> = (0..7)
        .map(|i| Event {
            id: Uuid::from_u128(0xCAC4E000 + i),
            occurred_at: at,
            org: org.clone(),
            body: Body::Token(Token {
                grant_type: "urn:test:cache".into(),
                token_type: "access_token".into(),
                client_id: "cache-test".into(),
                application_id: None,
                user_id: None,
            }),
        })
        .collect();
    let mut oracle2 = Oracle::new();
    for m in generate(&p).chain(extra.iter().cloned().map(Message::event)) {
        oracle2.observe(&m);
    }
    let msgs: Vec<(String, Vec<u8>)> = extra
        .iter()
        .map(|e| (e.id.to_string(), authpulse_schemas::to_json(e)))
        .collect();
    produce(&stack.brokers(), "auth-events", &msgs);
    wait_ingested(&stack, &oracle2, &["ingest.log"]);
    assert_eq!(
        get_json(&format!("{stat}?month={month}"), &jans),
        before,
        "served from the cache"
    );
    let fresh = start_api(&mut stack, &["--stat-cache-secs", "0"], "api-nocache.log");
    let v = get_json(
        &format!("{fresh}/jans-auth/restv1/internal/stat?month={month}"),
        &jans,
    );
    assert_eq!(
        v["response"][0]["token_count_per_granttype"]["urn:test:cache"]["access_token"],
        json!(7)
    );
    assert_eq!(at.month(), m);
}

#[test]
fn errors_and_authentication() {
    let mut stack = start_stack("report-errors", 1, ZONE);
    let base = start_api(&mut stack, &[], "api.log");
    let now = Utc::now().timestamp();
    let expired = bearer(&json!({"sub": "x", "scope": "jans_stat reports:read", "exp": now - 120}));
    let wrong_secret = format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(
            b"another-secret-that-is-long-enough-123",
            &json!({"sub": "x", "scope": "jans_stat", "exp": now + 600})
        )
    );
    let no_scope = bearer(&json!({"sub": "x", "scope": "openid", "exp": now + 600}));
    let reports_jwt = bearer(&json!({"sub": "x", "scope": "reports:read", "exp": now + 600}));

    let q = "start=0&end=86400000";
    let fusion = [
        "login",
        "registration",
        "daily-active-users",
        "daily-active-user",
        "monthly-active-users",
        "monthly-active-user",
    ];
    for path in fusion
        .iter()
        .map(|p| format!("/api/report/{p}?{q}"))
        .chain(["/api/report/totals".to_string()])
    {
        let url = format!("{base}{path}");
        for bad in [
            None,
            Some("nope"),
            Some(expired.as_str()),
            Some(wrong_secret.as_str()),
        ] {
            let (code, body) = http("GET", &url, bad);
            assert_eq!((code, body.as_str()), (401, ""), "{path} with {bad:?}");
        }
        // Authenticated but without reports:read: 403 (RFC 6750
        // insufficient_scope), as docs/auth.md says.
        for lacking in [NO_SCOPE_KEY, no_scope.as_str()] {
            let (code, body) = http("GET", &url, Some(lacking));
            assert_eq!((code, body.as_str()), (403, ""), "{path} with {lacking:?}");
        }
        assert_eq!(http("GET", &url, Some(KEY)).0, 200, "{path}");
        assert_eq!(
            http("GET", &url, Some(&reports_jwt)).0,
            200,
            "{path} with a JWT"
        );
    }
    // FusionAuth errors JSON.
    for path in fusion {
        let (code, body) = http(
            "GET",
            &format!("{base}/api/report/{path}?start=10&applicationId=x"),
            Some(KEY),
        );
        assert_eq!(code, 400, "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["fieldErrors"]["end"][0]["code"], "[missing]end", "{path}");
        assert_eq!(
            v["fieldErrors"]["applicationId"][0]["code"], "[invalid]applicationId",
            "{path}"
        );
        let (code, body) = http(
            "GET",
            &format!("{base}/api/report/{path}?start=20&end=10"),
            Some(KEY),
        );
        assert_eq!(code, 400);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["fieldErrors"]["end"][0]["code"],
            "[invalid]end"
        );
    }

    // Janssen: 401 without the scope; 400 for both or neither month forms.
    let stat = format!("{base}/jans-auth/restv1/internal/stat");
    let jans = bearer(&json!({"sub": "ops", "scope": "jans_stat", "exp": now + 600}));
    for bad in [
        None,
        Some("nope"),
        Some(expired.as_str()),
        Some(wrong_secret.as_str()),
        Some(no_scope.as_str()),
        Some(KEY),
    ] {
        assert_eq!(
            http("GET", &format!("{stat}?month=202601"), bad).0,
            401,
            "stat with {bad:?}"
        );
    }
    for query in [
        "",
        "?month=202601&start-month=202601&end-month=202602",
        "?start-month=202601",
        "?month=2026-01",
        "?month=202601&format=xml",
    ] {
        let (code, body) = http("GET", &format!("{stat}{query}"), Some(&jans));
        assert_eq!(code, 400, "{query}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"],
            "invalid_request"
        );
    }
    let v = get_json(&format!("{stat}?month=202601"), &jans);
    assert_eq!(
        v,
        json!({"response": [{"month": "202601", "monthly_active_users": 0, "token_count_per_granttype": {}}]})
    );

    // The OpenAPI document is served without credentials.
    let doc = get_json(&format!("{base}/openapi.json"), "");
    assert!(doc["paths"]["/jans-auth/restv1/internal/stat"]["post"].is_object());

    // Health follows ClickHouse.
    let health = format!("{base}/jans-auth/sys/health-check");
    assert_eq!(
        get_json(&health, ""),
        json!({"status": "running", "db_status": "online"})
    );
    stack.clickhouse("stop");
    let (code, body) = http("GET", &health, None);
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "running", "db_status": "offline"})
    );
    // A report while the store is down: 503 with the documented body
    // (docs/api.md: overload and outage), no internals.
    let (code, body) = http("GET", &format!("{base}/api/report/login?{q}"), Some(KEY));
    assert_eq!(
        (code, body.as_str()),
        (503, r#"{"error":"store unavailable, retry later"}"#)
    );
    stack.clickhouse("start");
}
