//! Hostile requests against real servers (broker, ingest, ClickHouse,
//! `authpulse api`):
//!
//! - the authorization matrix: every endpoint × {no credentials, garbage,
//!   alg=none, wrong key, HS/RS confusion, expired, not yet valid, wrong
//!   issuer, wrong audience, wrong scope, member of another org, spoofed
//!   slug, valid}: only `valid` gets data, every other answer is an empty
//!   401/403/404;
//! - org slug ownership (first claim wins, docs/auth.md): events that put
//!   acme's id under another slug, another id under acme's slug (also
//!   backdated), or an org under a new slug never let one org's members
//!   read another org's data; the answers equal the oracle computed from
//!   the produced events.
//!
//! Each matrix cell is printed as `AUTHZ|endpoint|credential|status|verdict`
//! (deploy/local/attack/50-api.sh summarises them).

mod common;

use std::collections::HashSet;

use authpulse_loadgen::{app_ids, org_ids, Message, Profile};
use authpulse_schemas::{Body, Event, Login, Org};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::admin::{bearer, load_with_events, start_api, SECRET};
use common::pipeline::{start_stack, wait_ingested};
use common::{produce, Stack};
use serde_json::{json, Value};
use uuid::Uuid;

const ISSUER: &str = "https://idp.authz-e2e.test";
const AUDIENCE: &str = "authpulse-e2e";
const ALL_SCOPE_KEY: &str = "authz-all-scope-key";
const PUBLIC_PEM: &str = include_str!("../api/src/auth/testdata/rsa_public.pem");
const PRIVATE_PEM: &str = include_str!("../api/src/auth/testdata/rsa_private.pem");
const OTHER_PEM: &str = include_str!("../api/src/auth/testdata/other_private.pem");

const SPOOF_SLUG: &str = "evil-co";
const RENAMED_SLUG: &str = "renamed-co";

fn login(org: (Uuid, &str), app: Uuid, at: DateTime<Utc>) -> Event {
    Event {
        id: Uuid::new_v4(),
        occurred_at: at,
        org: Org {
            id: org.0,
            slug: org.1.to_string(),
        },
        body: Body::Login(Login {
            success: true,
            failure_reason: None,
            user_id: Some(Uuid::new_v4()),
            login_id: "spoof@example.com".into(),
            application_id: app,
            application_name: Some("Spoofed App".into()),
            provider: "spoofprovider".into(),
            ip: None,
            user_agent: None,
            session_id: None,
        }),
    }
}

/// `(status, body)`; `form` is sent as an urlencoded POST body.
fn http(method: &str, url: &str, auth: Option<&str>, form: Option<&str>) -> (u16, String) {
    let mut c = std::process::Command::new("curl");
    c.args(["-sS", "--max-time", "60", "-X", method, "-o", "-"]);
    c.args(["-w", "\n%{http_code}", url]);
    if let Some(a) = auth {
        c.args(["-H", &format!("Authorization: {a}")]);
    }
    if let Some(f) = form {
        c.args(["--data", f]);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// What an endpoint requires.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    Scope(&'static str),
    /// Janssen: the stat scope, 401 without it.
    Stat,
    /// Org analytics: a membership in the org of the path.
    Member,
}

struct Endpoint {
    method: &'static str,
    path: String,
    form: Option<String>,
    need: Need,
}

#[test]
fn authorization_matrix_and_slug_ownership() {
    let now = Utc::now();
    let start = Utc.timestamp_opt(now.timestamp() - 10 * 86_400, 0).unwrap();
    let p = Profile {
        seed: 4242,
        events: 3_000,
        orgs: 3,
        apps_per_org: 2,
        users_per_org: 80,
        start,
        span: Duration::days(10) - Duration::minutes(5),
        late_fraction: 0.0,
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    };
    let orgs = org_ids(&p);
    let (acme, globex, third) = (&orgs[0], &orgs[1], &orgs[2]);
    let acme_app = app_ids(&p, 0)[0].0;
    let mut stack = start_stack("authz", 1, "UTC");
    // Phase 1: the orgs' own traffic, stored before anything hostile.
    let (mut oracle, mut events) = load_with_events(&mut stack, &p, Vec::new());

    // Phase 2, ingested later: every way event data can try to move a slug.
    let (intruder, early) = (Uuid::new_v4(), Uuid::new_v4());
    let spoofs = vec![
        // acme's id under a slug nobody had: members of evil-co must not
        // see acme's data.
        login((acme.0, SPOOF_SLUG), acme_app, now - Duration::minutes(2)),
        // acme's id under globex's slug.
        login((acme.0, &globex.1), acme_app, now - Duration::minutes(2)),
        // A second id claims acme's slug, newest event of all...
        login(
            (intruder, &acme.1),
            Uuid::new_v4(),
            now - Duration::minutes(1),
        ),
        // ... and one backdated before acme's first event.
        login((early, &acme.1), Uuid::new_v4(), start - Duration::days(3)),
        // An org that changes slug.
        login(
            (third.0, RENAMED_SLUG),
            Uuid::new_v4(),
            now - Duration::minutes(3),
        ),
    ];
    let batch: Vec<(String, Vec<u8>)> = spoofs
        .iter()
        .map(|e| {
            let m = Message::event(e.clone());
            oracle.observe(&m);
            (m.key.clone(), m.payload.clone())
        })
        .collect();
    events.extend(spoofs);
    produce(&stack.brokers(), "auth-events", &batch);
    wait_ingested(&stack, &oracle, &["ingest.log"]);

    // The API starts only now, so no slug is cached from before phase 2.
    std::fs::write(stack.dir.join("idp.pem"), PUBLIC_PEM).unwrap();
    let auth_config = json!({
        "jwt": {
            "hs256_secrets": [SECRET],
            "rs256_public_keys": ["idp.pem"],
            "issuer": ISSUER,
            "audience": AUDIENCE,
        }
    });
    let base = start_api(&mut stack, &auth_config, ALL_SCOPE_KEY);

    check_slug_ownership(&stack, &base, &p, &orgs, &events, now);
    check_matrix(&base, &orgs, now);
}

fn claims(now: DateTime<Utc>, extra: Value) -> Value {
    let mut c = json!({
        "sub": "authz-e2e", "iss": ISSUER, "aud": AUDIENCE,
        "exp": now.timestamp() + 3600,
    });
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

/// Successful logins of org id `org` per UTC day, from the events.
fn trends(events: &[Event], org: Uuid) -> Value {
    let mut days = std::collections::BTreeMap::<String, u64>::new();
    for e in events {
        if let Body::Login(l) = &e.body {
            if l.success && e.org.id == org {
                *days
                    .entry(e.occurred_at.format("%Y-%m-%d").to_string())
                    .or_default() += 1;
            }
        }
    }
    json!(days
        .into_iter()
        .map(|(date, count)| json!({ "date": date, "count": count }))
        .collect::<Vec<_>>())
}

fn login_ids(events: &[Event], org: Uuid) -> HashSet<String> {
    events
        .iter()
        .filter(|e| e.org.id == org && matches!(&e.body, Body::Login(l) if l.success))
        .map(|e| e.id.to_string())
        .collect()
}

fn check_slug_ownership(
    stack: &Stack,
    base: &str,
    p: &Profile,
    orgs: &[(Uuid, String)],
    events: &[Event],
    now: DateTime<Utc>,
) {
    let range = format!(
        "start_date={}&end_date={}",
        (p.start - Duration::days(5)).format("%Y-%m-%d"),
        now.format("%Y-%m-%d")
    );
    let member = |slug: &str| bearer(&claims(now, json!({ "orgs": { slug: "Member" } })));
    let get = |slug: &str, ep: &str, q: &str| {
        http(
            "GET",
            &format!("{base}/api/organizations/{slug}/analytics/{ep}?{q}"),
            Some(&member(slug)),
            None,
        )
    };
    // Each org's members see exactly their org id's logins (the spoofed
    // events that carry acme's id are acme's logins, under whatever slug).
    for (i, (id, slug)) in orgs.iter().enumerate() {
        let (code, body) = get(slug, "login-trends", &range);
        assert_eq!(code, 200, "{slug}: {body}");
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got, trends(events, *id), "{slug} login-trends");

        let own_apps: HashSet<String> = events
            .iter()
            .filter(|e| e.org.id == *id)
            .filter_map(|e| match &e.body {
                Body::Login(l) => Some(l.application_id.to_string()),
                _ => None,
            })
            .collect();
        assert!(own_apps.contains(&app_ids(p, i)[0].0.to_string()));
        let (code, body) = get(slug, "logins-by-service", &range);
        assert_eq!(code, 200, "{slug}: {body}");
        let services: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert!(!services.is_empty(), "{slug} logins-by-service");
        for s in &services {
            let sid = s["service_id"].as_str().unwrap();
            assert!(
                own_apps.contains(sid),
                "{slug} sees service {sid} of another org: {body}"
            );
        }

        let ids = login_ids(events, *id);
        for q in ["limit=100", range.as_str()] {
            let (code, body) = get(slug, "recent-logins", q);
            assert_eq!(code, 200, "{slug}: {body}");
            let recent: Vec<Value> = serde_json::from_str(&body).unwrap();
            assert!(!recent.is_empty(), "{slug} recent-logins {q}");
            for r in &recent {
                let eid = r["id"].as_str().unwrap();
                assert!(ids.contains(eid), "{slug} sees login {eid} of another org");
            }
        }
    }
    // A slug first claimed by acme's id, and the third org's new slug,
    // belong to nobody: their "members" get 404, no data.
    for slug in [SPOOF_SLUG, RENAMED_SLUG] {
        for ep in [
            "login-trends",
            "logins-by-service",
            "logins-by-provider",
            "recent-logins",
        ] {
            assert_eq!(
                get(slug, ep, ""),
                (404, String::new()),
                "{slug} {ep} must not resolve to another org"
            );
        }
    }
    // The store holds the claims as sent (nothing was dropped): the
    // protection is in resolution, not in losing events.
    let claimed = stack.query(&format!(
        "SELECT count() FROM authpulse.org_claims FINAL WHERE org_slug IN ('{SPOOF_SLUG}', '{RENAMED_SLUG}', '{}')",
        orgs[0].1
    ));
    assert_eq!(claimed.trim(), "5", "claims of the spoofed slugs");
}

fn check_matrix(base: &str, orgs: &[(Uuid, String)], now: DateTime<Utc>) {
    let (acme, globex) = (&orgs[0].1, &orgs[1].1);
    let (start, end) = (
        (now - Duration::days(30)).timestamp_millis(),
        now.timestamp_millis(),
    );
    let month = now.format("%Y%m").to_string();
    let mut endpoints: Vec<Endpoint> = Vec::new();
    let mut add = |method, path: String, form: Option<String>, need| {
        endpoints.push(Endpoint {
            method,
            path,
            form,
            need,
        })
    };
    for r in [
        "login",
        "registration",
        "daily-active-users",
        "daily-active-user",
        "monthly-active-users",
        "monthly-active-user",
    ] {
        add(
            "GET",
            format!("/api/report/{r}?start={start}&end={end}"),
            None,
            Need::Scope("reports:read"),
        );
    }
    add(
        "GET",
        "/api/report/totals".into(),
        None,
        Need::Scope("reports:read"),
    );
    add(
        "GET",
        format!("/jans-auth/restv1/internal/stat?month={month}"),
        None,
        Need::Stat,
    );
    add(
        "POST",
        "/jans-auth/restv1/internal/stat".into(),
        Some(format!("month={month}")),
        Need::Stat,
    );
    for ep in [
        "login-trends",
        "logins-by-service",
        "logins-by-provider",
        "recent-logins",
    ] {
        add(
            "GET",
            format!("/api/organizations/{acme}/analytics/{ep}"),
            None,
            Need::Member,
        );
    }
    let org = orgs[0].0;
    for (path, scope) in [
        ("/api/admin/stats".to_string(), "stats:read"),
        ("/api/admin/audit".to_string(), "audit:read"),
        (
            format!("/api/admin/organizations/{org}/history"),
            "org:read",
        ),
        (format!("/api/admin/applications/{org}/history"), "app:read"),
        ("/api/admin/clients/c1/history".to_string(), "client:read"),
        (
            format!("/api/admin/organizations/{org}/users/{org}/history"),
            "user:read",
        ),
    ] {
        add("GET", path, None, Need::Scope(scope));
    }
    add(
        "DELETE",
        "/api/admin/audit/cleanup".into(),
        None,
        Need::Scope("audit:write"),
    );

    let all_scopes = "reports:read jans_stat stats:read audit:read audit:write org:read app:read client:read user:read";
    let good = claims(
        now,
        json!({ "scope": all_scopes, "orgs": { acme.as_str(): "Member" } }),
    );
    let hs = |c: &Value| {
        format!(
            "Bearer {}",
            authpulse_api::auth::sign_hs256(SECRET.as_bytes(), c)
        )
    };
    let with = |extra: Value| {
        let mut c = good.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let alg_none = format!(
        "Bearer {}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&good)
    );
    let confusion = format!(
        "Bearer {}",
        authpulse_api::auth::sign_hs256(PUBLIC_PEM.as_bytes(), &good)
    );
    // The same claims, as every kind of invalid credential.
    let invalid: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("garbage", Some("garbage-not-a-key".into())),
        ("garbage-jwt", Some("Bearer garbage.garbage.garbage".into())),
        ("alg-none", Some(alg_none)),
        (
            "wrong-key-hs256",
            Some(format!(
                "Bearer {}",
                authpulse_api::auth::sign_hs256(
                    b"another-secret-that-is-long-enough-0123456789",
                    &good
                )
            )),
        ),
        (
            "wrong-key-rs256",
            Some(format!(
                "Bearer {}",
                authpulse_api::auth::sign_rs256(OTHER_PEM.as_bytes(), &good)
            )),
        ),
        ("hs-rs-confusion", Some(confusion)),
        (
            "expired",
            Some(hs(&with(json!({ "exp": now.timestamp() - 3600 })))),
        ),
        (
            "not-yet-valid",
            Some(hs(&with(json!({ "nbf": now.timestamp() + 3600 })))),
        ),
        (
            "wrong-issuer",
            Some(hs(&with(json!({ "iss": "https://evil.example" })))),
        ),
        (
            "wrong-audience",
            Some(hs(&with(json!({ "aud": "someone-else" })))),
        ),
    ];
    let wrong_scope = hs(&with(json!({ "scope": "openid profile", "orgs": {} })));
    let other_org = hs(&with(json!({ "orgs": { globex.as_str(): "Owner" } })));
    let spoofed = hs(&with(json!({ "orgs": { SPOOF_SLUG: "Owner" } })));
    let valid_hs = hs(&good);
    let valid_rs = format!(
        "Bearer {}",
        authpulse_api::auth::sign_rs256(PRIVATE_PEM.as_bytes(), &good)
    );

    let mut failures = Vec::new();
    let mut cells = 0;
    for e in &endpoints {
        let mut cell = |cred: &str, path: &str, auth: Option<&str>, want: u16| {
            let (code, body) = http(e.method, &format!("{base}{path}"), auth, e.form.as_deref());
            let ok = if want == 200 {
                code == 200 && !body.is_empty()
            } else {
                // Refusals carry no data at all.
                code == want && body.is_empty()
            };
            println!(
                "AUTHZ|{} {}|{cred}|{code}|{}",
                e.method,
                path.split('?').next().unwrap(),
                if ok { "ok" } else { "FAIL" }
            );
            cells += 1;
            if !ok {
                failures.push(format!(
                    "{} {path} with {cred}: {code} (want {want}) {body:.200}",
                    e.method
                ));
            }
        };
        for (name, auth) in &invalid {
            cell(name, &e.path, auth.as_deref(), 401);
        }
        let refused = match e.need {
            Need::Stat => 401,
            Need::Scope(_) | Need::Member => 403,
        };
        cell("wrong-scope", &e.path, Some(&wrong_scope), refused);
        if e.need == Need::Member {
            cell("member-of-another-org", &e.path, Some(&other_org), 403);
            let spoof_path = e.path.replace(
                &format!("/organizations/{acme}/"),
                &format!("/organizations/{SPOOF_SLUG}/"),
            );
            cell("spoofed-slug", &spoof_path, Some(&spoofed), 404);
        }
        cell("valid-hs256", &e.path, Some(&valid_hs), 200);
        cell("valid-rs256", &e.path, Some(&valid_rs), 200);
    }
    println!("AUTHZ-CELLS|{cells}|{}", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
