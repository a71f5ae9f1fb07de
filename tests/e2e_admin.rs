//! Org analytics and Porta admin APIs end to end: a multi-tenant stream
//! timed around now goes through the real broker, ingest and ClickHouse;
//! `authpulse api` (auth config file with scoped keys and HS256 JWTs)
//! answers; every answer is compared with the loadgen oracle / the
//! generated events. Also: paging visits every entry exactly once, tenant
//! isolation and permissions, 400/401/403/404 cases, and audit cleanup with
//! the retention set through `authpulse config set`.

mod common;

use std::collections::{BTreeMap, HashSet};

use authpulse_loadgen::{app_ids, org_ids, Oracle, Profile};
use authpulse_schemas::{Audit, Body, Event, Org};
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use common::admin::{bearer, config_cli, get_json, http, load_with_events, start_api};
use common::pipeline::{refresh_snapshots, start_stack};
use common::Stack;
use serde_json::{json, Map, Value};
use uuid::Uuid;

const PORTA_KEY: &str = "porta-ops-e2e-key";
const STATS_ONLY_KEY: &str = "stats-only-e2e-key";
const ALL_SCOPE_KEY: &str = "all-scope-e2e-key";
const TIE_CLIENT: &str = "tie-client-e2e";
const TIES: usize = 5;

struct Login {
    ms: i64,
    id: Uuid,
    org: Uuid,
    user: Uuid,
    app: Uuid,
    provider: String,
    success: bool,
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .unwrap()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn day(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// Newest first, ties by the id's text, descending (the API's order).
fn newest_first<T>(v: &mut [T], key: impl Fn(&T) -> (i64, String)) {
    v.sort_by_key(|a| std::cmp::Reverse(key(a)));
}

fn logins(events: &[Event]) -> Vec<Login> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Login(l) => Some(Login {
                ms: e.occurred_at.timestamp_millis(),
                id: e.id,
                org: e.org.id,
                user: l.user_id.unwrap_or_default(),
                app: l.application_id,
                provider: l.provider.clone(),
                success: l.success,
            }),
            _ => None,
        })
        .collect()
}

fn audits(events: &[Event]) -> Vec<(&Event, &Audit)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            Body::Audit(a) => Some((e, a)),
            _ => None,
        })
        .collect()
}

/// Audit entries with equal timestamps for one client (keyset tie-breaks).
fn tied_events(org: &(Uuid, String), at: DateTime<Utc>) -> Vec<Event> {
    (0..TIES)
        .map(|i| Event {
            id: Uuid::new_v4(),
            occurred_at: at,
            org: Org {
                id: org.0,
                slug: org.1.clone(),
            },
            body: Body::Audit(Audit {
                action: "client.secret_generated".into(),
                entity_type: "client".into(),
                entity_id: TIE_CLIENT.into(),
                actor_id: Some("system".into()),
                actor_email: None,
                organization_id: Some(org.0.to_string()),
                metadata: serde_json::from_value(json!({ "n": i })).unwrap(),
                ip_address: Some("192.0.2.7".into()),
            }),
        })
        .collect()
}

fn expected_stats(
    oracle: &Oracle,
    events: &[Event],
    now: DateTime<Utc>,
    sessions_as_of: DateTime<Utc>,
) -> Value {
    let sections = [
        (
            "organizations",
            "organization",
            vec!["active", "suspended", "archived"],
        ),
        (
            "users",
            "user",
            vec!["active", "inactive", "suspended", "locked"],
        ),
        ("applications", "application", vec!["active", "archived"]),
        ("clients", "client", vec!["active", "revoked"]),
    ];
    let status = oracle.entity_status_counts();
    let mut body = Map::new();
    for (section, entity_type, keys) in sections {
        let counts = status.get(entity_type).cloned().unwrap_or_default();
        let mut out = Map::new();
        for k in keys {
            out.insert(k.into(), json!(0));
        }
        for (k, v) in &counts {
            out.insert(k.clone(), json!(v));
        }
        out.insert("total".into(), json!(counts.values().sum::<u64>()));
        body.insert(section.into(), Value::Object(out));
    }
    let (sessions, users) = oracle.active_sessions(sessions_as_of);
    body.insert(
        "sessions".into(),
        json!({ "activeSessions": sessions, "uniqueUsers": users }),
    );
    // Exact windows (now - window, now].
    let now_ms = now.timestamp_millis();
    let within = |ms: i64, window: Duration| ms > (now - window).timestamp_millis() && ms <= now_ms;
    let l = logins(events);
    let ok = l
        .iter()
        .filter(|l| l.success && within(l.ms, Duration::hours(24)))
        .count();
    let failed = l
        .iter()
        .filter(|l| !l.success && within(l.ms, Duration::hours(24)))
        .count();
    let created = |action: &str| {
        audits(events)
            .iter()
            .filter(|(e, a)| {
                a.action == action && within(e.occurred_at.timestamp_millis(), Duration::days(7))
            })
            .count()
    };
    body.insert(
        "recentActivity".into(),
        json!({
            "loginsLast24h": ok,
            "failedLoginsLast24h": failed,
            "newUsersLast7d": created("user.created"),
            "newOrgsLast7d": created("organization.created"),
        }),
    );
    Value::Object(body)
}

/// Gets the stats, refreshing the snapshots first: active sessions are
/// expected as of their snapshot's time, the recent-activity windows exactly
/// as of the request (bracketed by the clock before and after it; retried
/// when a scheduled refresh or an event at a window edge lands in between).
fn check_stats(stack: &Stack, base: &str, oracle: &Oracle, events: &[Event], label: &str) -> Value {
    for _ in 0..10 {
        refresh_snapshots(stack);
        let as_of = || -> i64 {
            stack
                .query("SELECT toUnixTimestamp64Milli(max(as_of)) FROM authpulse.sessions_now")
                .trim()
                .parse()
                .expect("as_of")
        };
        let before = as_of();
        let t0 = Utc::now();
        let got = get_json(&format!("{base}/api/admin/stats"), PORTA_KEY);
        let t1 = Utc::now();
        // A scheduled refresh in between: try again.
        if as_of() != before {
            continue;
        }
        let at = Utc.timestamp_millis_opt(before).unwrap();
        let want = expected_stats(oracle, events, t0, at);
        if want != expected_stats(oracle, events, t1, at) {
            continue;
        }
        assert_eq!(got, want, "{label}: stats");
        return got;
    }
    panic!("{label}: a snapshot refresh or window edge landed during every request");
}

fn walk_history(base: &str, path: &str, extra: &str, limit: usize, auth: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{base}{path}?limit={limit}{extra}");
        if let Some(c) = &after {
            url.push_str(&format!("&after={c}"));
        }
        let page = get_json(&url, auth);
        let data = page["data"].as_array().unwrap().clone();
        assert!(data.len() <= limit);
        out.extend(data);
        if page["hasMore"] == json!(true) {
            after = Some(
                page["nextCursor"]
                    .as_str()
                    .expect("nextCursor with hasMore")
                    .to_string(),
            );
        } else {
            assert_eq!(page["nextCursor"], Value::Null);
            return out;
        }
    }
}

fn history_entry(e: &Event, a: &Audit) -> Value {
    json!({
        "id": e.id.to_string(),
        "eventType": a.action,
        "actorId": a.actor_id,
        "metadata": Value::Object(a.metadata.clone()),
        "ipAddress": a.ip_address,
        "createdAt": iso(e.occurred_at.timestamp_millis()),
    })
}

fn expected_history(events: &[Event], keep: impl Fn(&Event, &Audit) -> bool) -> Vec<Value> {
    let mut v: Vec<(&Event, &Audit)> = audits(events)
        .into_iter()
        .filter(|(e, a)| keep(e, a))
        .collect();
    newest_first(&mut v, |(e, _)| {
        (e.occurred_at.timestamp_millis(), e.id.to_string())
    });
    v.into_iter().map(|(e, a)| history_entry(e, a)).collect()
}

#[test]
fn org_analytics_and_porta_admin_equal_the_oracle() {
    let now = Utc::now();
    let start = Utc.timestamp_opt(now.timestamp() - 21 * 86_400, 0).unwrap();
    let p = Profile {
        seed: 77,
        events: 12_000,
        orgs: 3,
        apps_per_org: 3,
        users_per_org: 300,
        start,
        // Ends a few minutes before now: nothing lies in the future.
        span: Duration::days(21) - Duration::minutes(5),
        late_fraction: 0.02,
        duplicate_fraction: 0.0,
        poison_fraction: 0.0,
        ..Profile::default()
    };
    let orgs = org_ids(&p);
    let tie_at = Utc
        .timestamp_millis_opt(now.timestamp_millis() - 2 * 86_400_000)
        .unwrap();
    let mut stack = start_stack("admin", 2, "UTC");
    let (oracle, events) = load_with_events(&mut stack, &p, tied_events(&orgs[0], tie_at));

    let (acme, globex) = (&orgs[0].1, &orgs[1].1);
    let auth_config = json!({
        "api_keys": [
            { "key": PORTA_KEY, "name": "porta-ops",
              "scopes": ["stats:read", "audit:read", "audit:write", "org:read", "app:read", "client:read", "user:read"] },
            { "key": STATS_ONLY_KEY, "name": "stats-only", "scopes": ["stats:read"],
              "memberships": { acme.as_str(): "Member" } }
        ],
        "jwt": { "hs256_secrets": [common::admin::SECRET] }
    });
    let base = start_api(&mut stack, &auth_config, ALL_SCOPE_KEY);
    let exp = now.timestamp() + 3600;

    // ---- org analytics --------------------------------------------------
    let all_logins = logins(&events);
    for (o, (org_id, slug)) in orgs.iter().enumerate() {
        let member = bearer(
            &json!({ "sub": format!("m{o}"), "exp": exp, "orgs": { slug.as_str(): "Member" } }),
        );
        let url = |ep: &str| format!("{base}/api/organizations/{slug}/analytics/{ep}");
        // login-trends: default range (30 days through today) holds everything.
        let want: Vec<Value> = oracle
            .org_logins_daily(*org_id)
            .into_iter()
            .filter(|(_, (ok, _))| *ok > 0)
            .map(|(date, (ok, _))| json!({ "date": date, "count": ok }))
            .collect();
        assert!(want.len() > 20, "{slug}: {want:?}");
        assert_eq!(
            get_json(&url("login-trends"), &member),
            json!(want),
            "{slug} login-trends"
        );
        // An explicit sub-range.
        let (from, to) = (
            day((now - Duration::days(10)).timestamp_millis()),
            day((now - Duration::days(3)).timestamp_millis()),
        );
        let mut by_day: BTreeMap<String, u64> = BTreeMap::new();
        for l in all_logins.iter().filter(|l| l.org == *org_id && l.success) {
            let d = day(l.ms);
            if d >= from && d <= to {
                *by_day.entry(d).or_default() += 1;
            }
        }
        let want: Vec<Value> = by_day
            .iter()
            .map(|(d, n)| json!({ "date": d, "count": n }))
            .collect();
        let got = get_json(
            &format!("{}?start_date={from}&end_date={to}", url("login-trends")),
            &member,
        );
        assert_eq!(got, json!(want), "{slug} login-trends {from}..{to}");

        // logins-by-service, with names from the application names.
        let names: BTreeMap<Uuid, String> = app_ids(&p, o).into_iter().collect();
        let mut want: Vec<(u64, String, String)> = oracle
            .org_logins_by_app(*org_id)
            .into_iter()
            .map(|(id, n)| (n, id.to_string(), names[&id].clone()))
            .collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<Value> = want
            .into_iter()
            .map(|(n, id, name)| json!({ "service_id": id, "service_name": name, "count": n }))
            .collect();
        assert_eq!(
            get_json(&url("logins-by-service"), &member),
            json!(want),
            "{slug} logins-by-service"
        );

        let mut want: Vec<(u64, String)> = oracle
            .org_logins_by_provider(*org_id)
            .into_iter()
            .map(|(p, n)| (n, p))
            .collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let want: Vec<Value> = want
            .into_iter()
            .map(|(n, p)| json!({ "provider": p, "count": n }))
            .collect();
        assert_eq!(
            get_json(&url("logins-by-provider"), &member),
            json!(want),
            "{slug} logins-by-provider"
        );

        // recent-logins: newest successful logins from the raw table.
        let mut recent: Vec<&Login> = all_logins
            .iter()
            .filter(|l| l.org == *org_id && l.success)
            .collect();
        newest_first(&mut recent, |l| (l.ms, l.id.to_string()));
        let want = |n: usize| -> Value {
            json!(recent
                .iter()
                .take(n)
                .map(|l| json!({
                    "id": l.id.to_string(), "user_id": l.user.to_string(), "service_id": l.app.to_string(),
                    "provider": l.provider, "created_at": iso(l.ms),
                }))
                .collect::<Vec<_>>())
        };
        assert_eq!(
            get_json(&url("recent-logins"), &member),
            want(10),
            "{slug} recent-logins"
        );
        for (limit, n) in [
            ("37", 37),
            ("0", 1),
            ("-3", 1),
            ("100", 100),
            ("1000000000000000000000000", 100),
        ] {
            let got = get_json(&format!("{}?limit={limit}", url("recent-logins")), &member);
            assert_eq!(got, want(n), "{slug} recent-logins limit={limit}");
        }
        let (code, body) = http(
            "GET",
            &format!("{}?limit=ten", url("recent-logins")),
            Some(&member),
        );
        assert_eq!(code, 400, "{body}");
    }

    // Dates: bad → 400 with a JSON error; end before start → 400.
    let acme_member =
        bearer(&json!({ "sub": "a", "exp": exp, "orgs": [{ "slug": acme, "role": "admin" }] }));
    let trends = format!("{base}/api/organizations/{acme}/analytics/login-trends");
    for q in [
        "start_date=2025-13-01",
        "end_date=yesterday",
        "start_date=2025-01-31&end_date=2025-01-01",
        "start_date=20250101",
    ] {
        let (code, body) = http("GET", &format!("{trends}?{q}"), Some(&acme_member));
        assert_eq!(code, 400, "{q}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"].is_string(), "{q}: {body}");
    }
    // Tenant isolation and credentials.
    let globex_url = format!("{base}/api/organizations/{globex}/analytics/login-trends");
    assert_eq!(
        http("GET", &globex_url, Some(&acme_member)).0,
        403,
        "member of acme on globex"
    );
    assert_eq!(
        http("GET", &globex_url, Some(ALL_SCOPE_KEY)).0,
        403,
        "scope * without membership"
    );
    assert_eq!(
        http("GET", &trends, Some(STATS_ONLY_KEY)).0,
        200,
        "API key with a membership"
    );
    assert_eq!(
        http("GET", &globex_url, None),
        (401, String::new()),
        "no credentials"
    );
    assert_eq!(
        http("GET", &globex_url, Some("Bearer garbage.garbage.garbage")).0,
        401
    );
    assert_eq!(http("GET", &globex_url, Some("not-a-key")).0, 401);
    let expired = bearer(
        &json!({ "sub": "x", "exp": now.timestamp() - 3600, "orgs": { globex.as_str(): "Owner" } }),
    );
    assert_eq!(
        http("GET", &globex_url, Some(&expired)).0,
        401,
        "expired token"
    );
    let ghost = bearer(&json!({ "sub": "g", "exp": exp, "orgs": { "no-such-org": "Owner" } }));
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/organizations/no-such-org/analytics/recent-logins"),
            Some(&ghost)
        )
        .0,
        404
    );
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/organizations/no-such-org/analytics/recent-logins"),
            Some(&acme_member)
        )
        .0,
        403
    );

    // ---- Porta admin: stats -----------------------------------------------
    let stats_before = check_stats(&stack, &base, &oracle, &events, "before cleanup");
    assert!(stats_before["users"]["total"].as_u64().unwrap() > 100);
    assert!(stats_before["sessions"]["activeSessions"].as_u64().unwrap() > 0);
    assert!(
        stats_before["recentActivity"]["loginsLast24h"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/admin/stats"),
            Some(&acme_member)
        )
        .0,
        403,
        "no stats:read"
    );
    assert_eq!(http("GET", &format!("{base}/api/admin/stats"), None).0, 401);
    let stats_jwt = bearer(&json!({ "sub": "s", "exp": exp, "permissions": ["stats:read"] }));
    assert_eq!(
        http("GET", &format!("{base}/api/admin/stats"), Some(&stats_jwt)).0,
        200
    );

    // ---- Porta admin: audit list ------------------------------------------
    let mut all_audits = audits(&events);
    newest_first(&mut all_audits, |(e, _)| {
        (e.occurred_at.timestamp_millis(), e.id.to_string())
    });
    let audit_entry = |e: &Event, a: &Audit| {
        json!({
            "id": e.id.to_string(), "action": a.action, "entityType": a.entity_type, "entityId": a.entity_id,
            "actorId": a.actor_id, "actorEmail": a.actor_email, "organizationId": a.organization_id,
            "metadata": Value::Object(a.metadata.clone()), "createdAt": iso(e.occurred_at.timestamp_millis()),
        })
    };
    let total = all_audits.len() as u64;
    assert_eq!(total, oracle.audit_events().len() as u64);
    let mut seen = Vec::new();
    let pages = total.div_ceil(100);
    for page in 1..=pages + 1 {
        let v = get_json(
            &format!("{base}/api/admin/audit?page={page}&pageSize=100"),
            PORTA_KEY,
        );
        assert_eq!(
            v["pagination"],
            json!({ "total": total, "page": page, "pageSize": 100, "totalPages": pages })
        );
        seen.extend(v["data"].as_array().unwrap().clone());
    }
    let want: Vec<Value> = all_audits.iter().map(|(e, a)| audit_entry(e, a)).collect();
    assert_eq!(seen.len(), want.len());
    assert_eq!(seen, want, "every audit entry once, newest first");
    // Defaults, cap and filters.
    let v = get_json(&format!("{base}/api/admin/audit"), PORTA_KEY);
    assert_eq!(v["pagination"]["pageSize"], json!(20));
    assert_eq!(v["data"], json!(want[..20]));
    let v = get_json(&format!("{base}/api/admin/audit?pageSize=5000"), PORTA_KEY);
    assert_eq!(v["pagination"]["pageSize"], json!(100));
    let org0 = orgs[0].0.to_string();
    let (from, to) = (now - Duration::days(9), now - Duration::days(2));
    let filtered: Vec<Value> = all_audits
        .iter()
        .filter(|(e, a)| {
            a.action == "user.created"
                && a.organization_id.as_deref() == Some(org0.as_str())
                && e.occurred_at >= from
                && e.occurred_at <= to
        })
        .map(|(e, a)| audit_entry(e, a))
        .collect();
    assert!(!filtered.is_empty());
    let url = format!(
        "{base}/api/admin/audit?action=user.created&organization_id={org0}&from={}&to={}&pageSize=100",
        iso(from.timestamp_millis()),
        iso(to.timestamp_millis())
    );
    let v = get_json(&url, PORTA_KEY);
    assert_eq!(v["pagination"]["total"], json!(filtered.len()));
    assert_eq!(
        v["data"],
        json!(filtered.iter().take(100).cloned().collect::<Vec<_>>())
    );
    let (e0, a0) = all_audits
        .iter()
        .find(|(_, a)| a.entity_type == "user" && a.actor_id.as_deref() != Some("system"))
        .unwrap();
    let v = get_json(
        &format!(
            "{base}/api/admin/audit?entity_type=user&entity_id={}&actor_id={}&pageSize=100",
            a0.entity_id,
            a0.actor_id.as_deref().unwrap()
        ),
        PORTA_KEY,
    );
    let n = all_audits
        .iter()
        .filter(|(_, a)| {
            a.entity_type == "user" && a.entity_id == a0.entity_id && a.actor_id == a0.actor_id
        })
        .count();
    assert_eq!(v["pagination"]["total"], json!(n));
    assert!(v["data"].as_array().unwrap().contains(&audit_entry(e0, a0)));
    for bad in [
        "page=0",
        "pageSize=-1",
        "page=abc",
        "from=yesterday",
        "to=2025-02-30",
    ] {
        let (code, body) = http(
            "GET",
            &format!("{base}/api/admin/audit?{bad}"),
            Some(PORTA_KEY),
        );
        assert_eq!(code, 400, "{bad}: {body}");
    }
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/admin/audit"),
            Some(STATS_ONLY_KEY)
        )
        .0,
        403,
        "no audit:read"
    );

    // ---- Porta admin: entity history --------------------------------------
    let org_hist = expected_history(&events, |_, a| {
        a.entity_type == "organization" && a.entity_id == org0
    });
    assert!(!org_hist.is_empty());
    let got = walk_history(
        &base,
        &format!("/api/admin/organizations/{org0}/history"),
        "",
        1,
        PORTA_KEY,
    );
    assert_eq!(got, org_hist, "organization history");
    let app = app_ids(&p, 1)[0].0.to_string();
    let got = walk_history(
        &base,
        &format!("/api/admin/applications/{app}/history"),
        "",
        20,
        PORTA_KEY,
    );
    assert_eq!(
        got,
        expected_history(&events, |_, a| a.entity_type == "application"
            && a.entity_id == app)
    );
    // Equal timestamps: keyset paging by (createdAt, id) still visits each once.
    let tie_hist = expected_history(&events, |_, a| {
        a.entity_type == "client" && a.entity_id == TIE_CLIENT
    });
    assert_eq!(tie_hist.len(), TIES);
    for limit in [1, 2, 3, 100] {
        let got = walk_history(
            &base,
            &format!("/api/admin/clients/{TIE_CLIENT}/history"),
            "",
            limit,
            PORTA_KEY,
        );
        assert_eq!(got, tie_hist, "tied client history, limit {limit}");
    }
    // The busiest user of org 0, walked 7 at a time; and a prefix filter.
    let mut per_user: BTreeMap<&str, usize> = BTreeMap::new();
    for (e, a) in audits(&events) {
        if a.entity_type == "user" && e.org.id == orgs[0].0 {
            *per_user.entry(a.entity_id.as_str()).or_default() += 1;
        }
    }
    let (user, n) = per_user
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(u, n)| (u.to_string(), *n))
        .unwrap();
    assert!(n > 7, "busiest user has {n} entries");
    let user_path = format!("/api/admin/organizations/{org0}/users/{user}/history");
    let want = expected_history(&events, |e, a| {
        a.entity_type == "user" && a.entity_id == user && e.org.id == orgs[0].0
    });
    let got = walk_history(&base, &user_path, "", 7, PORTA_KEY);
    let ids: HashSet<&Value> = got.iter().map(|v| &v["id"]).collect();
    assert_eq!(ids.len(), got.len(), "no entry twice");
    assert_eq!(got, want, "user history");
    let want_user = expected_history(&events, |e, a| {
        a.entity_type == "user"
            && a.entity_id == user
            && e.org.id == orgs[0].0
            && a.action.starts_with("user.")
    });
    assert_eq!(
        walk_history(&base, &user_path, "&event_type=user.", 3, PORTA_KEY),
        want_user,
        "event_type prefix"
    );
    // Another org's id → that user's entries there (none).
    let other = orgs[1].0;
    let v = get_json(
        &format!("{base}/api/admin/organizations/{other}/users/{user}/history"),
        PORTA_KEY,
    );
    assert_eq!(
        v,
        json!({ "data": [], "hasMore": false, "nextCursor": null })
    );
    // Default limit 20, cap 100.
    let v = get_json(
        &format!("{base}/api/admin/clients/{TIE_CLIENT}/history?limit=1000"),
        PORTA_KEY,
    );
    assert_eq!(v["data"].as_array().unwrap().len(), TIES);
    let v = get_json(&format!("{base}{user_path}"), PORTA_KEY);
    assert_eq!(v["data"].as_array().unwrap().len(), n.min(20));
    // Cursors that do not validate → 400.
    let page = get_json(
        &format!("{base}/api/admin/clients/{TIE_CLIENT}/history?limit=2"),
        PORTA_KEY,
    );
    let cursor = page["nextCursor"].as_str().unwrap().to_string();
    // Damage the first character (it carries the JSON's opening brace): a
    // character in the middle may land in a digit of the time and still
    // spell a valid cursor (cursors are Porta's unsigned format).
    let mut tampered = cursor.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let seed_cursor = "eyJjIjoiMjAyNi0wMS0xNVQxMDozMDowMFoiLCJpIjoiOThmZTQ2M2EtLi4uIn0";
    for bad in [
        tampered.as_str(),
        "garbage",
        seed_cursor,
        &format!("{cursor}%3D"),
        &cursor[..cursor.len() - 1],
    ] {
        let (code, body) = http(
            "GET",
            &format!("{base}/api/admin/clients/{TIE_CLIENT}/history?after={bad}"),
            Some(PORTA_KEY),
        );
        assert_eq!(code, 400, "cursor {bad}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    }
    // Permissions per entity type.
    let org_reader = bearer(&json!({ "sub": "r", "exp": exp, "scope": "org:read" }));
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/admin/organizations/{org0}/history"),
            Some(&org_reader)
        )
        .0,
        200
    );
    for path in [
        format!("/api/admin/applications/{app}/history"),
        format!("/api/admin/clients/{TIE_CLIENT}/history"),
        user_path.clone(),
    ] {
        assert_eq!(
            http("GET", &format!("{base}{path}"), Some(&org_reader)).0,
            403,
            "{path}"
        );
    }
    assert_eq!(
        http(
            "GET",
            &format!("{base}/api/admin/organizations/not-a-uuid/users/{user}/history"),
            Some(PORTA_KEY)
        )
        .0,
        400
    );

    // ---- Porta admin: cleanup ---------------------------------------------
    let cleanup = format!("{base}/api/admin/audit/cleanup");
    assert_eq!(
        http("DELETE", &cleanup, Some(&stats_jwt)).0,
        403,
        "no audit:write"
    );
    assert_eq!(http("DELETE", &cleanup, None).0, 401);
    let (ok, out) = config_cli(&stack, &["get", "--key", "audit_retention_days"]);
    assert!(ok && out.contains("365"), "{out}");
    let (ok, out) = config_cli(&stack, &["set", "--key", "retention", "--value", "10"]);
    assert!(!ok, "unknown key accepted: {out}");
    let (ok, out) = config_cli(
        &stack,
        &["set", "--key", "audit_retention_days", "--value", "0"],
    );
    assert!(!ok, "0 days accepted: {out}");
    // Nothing is older than 365 days: the default deletes nothing.
    let (code, body) = http("DELETE", &cleanup, Some(PORTA_KEY));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["deleted"].clone(), v["retentionDays"].clone()),
        (json!(0), json!(365))
    );

    let (ok, out) = config_cli(
        &stack,
        &["set", "--key", "audit_retention_days", "--value", "10"],
    );
    assert!(ok, "{out}");
    let (ok, out) = config_cli(&stack, &["get", "--key", "audit_retention_days"]);
    assert!(ok && out.trim() == "10", "{out}");
    let counts_sql = "SELECT action, sum(events) FROM authpulse.audit_counts_15m GROUP BY action ORDER BY action";
    let counts_before = stack.query(counts_sql);
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let cutoff = midnight - Duration::days(10);
    let old = all_audits
        .iter()
        .filter(|(e, _)| e.occurred_at < cutoff)
        .count();
    assert!(
        old > 0 && old < all_audits.len(),
        "{old} of {}",
        all_audits.len()
    );
    let (code, body) = http("DELETE", &cleanup, Some(PORTA_KEY));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({ "deleted": old, "retentionDays": 10, "cutoffDate": iso(cutoff.timestamp_millis()) }),
        "cleanup"
    );
    let v = get_json(&format!("{base}/api/admin/audit?pageSize=1"), PORTA_KEY);
    assert_eq!(v["pagination"]["total"], json!(all_audits.len() - old));
    // The copies sorted by entity and by time lost the same entries.
    for copy in ["audit_entity_history", "audit_by_time"] {
        assert_eq!(
            stack
                .query(&format!("SELECT count() FROM authpulse.{copy}"))
                .trim(),
            (all_audits.len() - old).to_string(),
            "{copy}"
        );
        assert_eq!(
            stack
                .query(&format!(
                    "SELECT count() FROM authpulse.{copy} WHERE occurred_at < fromUnixTimestamp64Milli({})",
                    cutoff.timestamp_millis()
                ))
                .trim(),
            "0",
            "{copy}"
        );
    }
    assert_eq!(
        stack.query(counts_sql),
        counts_before,
        "audit_counts_15m unchanged"
    );
    let by_action: BTreeMap<String, u64> = stack
        .query(counts_sql)
        .lines()
        .map(|l| {
            let (a, n) = l.split_once('\t').unwrap();
            (a.to_string(), n.parse().unwrap())
        })
        .collect();
    assert_eq!(
        by_action,
        oracle.audit_by_action(),
        "audit counts equal the oracle"
    );
    let stats_after = check_stats(&stack, &base, &oracle, &events, "after cleanup");
    for section in ["organizations", "users", "applications", "clients"] {
        assert_eq!(
            stats_after[section], stats_before[section],
            "{section} after cleanup"
        );
    }
    // Idempotent: nothing left to delete.
    let v: Value = serde_json::from_str(&http("DELETE", &cleanup, Some(PORTA_KEY)).1).unwrap();
    assert_eq!(v["deleted"], json!(0));
}
