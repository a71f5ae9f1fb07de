//! Properties of the generated stream.

use std::collections::{HashMap, HashSet};

use authpulse_loadgen::{
    app_ids, generate, org_ids, user_id, Message, MessageKind, Oracle, Profile,
};
use authpulse_schemas::{parse, to_json, Body, RegistrationAction};

fn small(seed: u64, events: u64) -> Profile {
    Profile {
        seed,
        events,
        users_per_org: 300,
        late_fraction: 0.03,
        duplicate_fraction: 0.02,
        poison_fraction: 0.02,
        ..Profile::default()
    }
}

#[test]
fn deterministic_from_seed() {
    let p = small(7, 20_000);
    let a: Vec<Message> = generate(&p).collect();
    let b: Vec<Message> = generate(&p).collect();
    assert_eq!(a.len(), 20_000);
    assert_eq!(a, b);
    let c: Vec<Message> = generate(&small(8, 20_000)).collect();
    assert_ne!(a[100].payload, c[100].payload);
    // A shorter run is not a prefix (times scale with the length), but ids
    // of orgs/apps/users depend on the seed only.
    assert_eq!(org_ids(&p), org_ids(&small(7, 5)));
    assert_eq!(app_ids(&p, 2), app_ids(&small(7, 5), 2));
    assert_ne!(org_ids(&p), org_ids(&small(8, 5)));
}

#[test]
fn messages_are_what_they_claim() {
    let p = small(11, 60_000);
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut ids = HashSet::new();
    let mut codes: HashMap<&str, u64> = HashMap::new();
    for (i, m) in generate(&p).enumerate() {
        match &m.kind {
            MessageKind::Event(e) => {
                assert_eq!(m.key, e.id.to_string());
                assert_eq!(m.payload, to_json(e));
                assert_eq!(
                    &parse(&m.payload).unwrap(),
                    e,
                    "{}",
                    String::from_utf8_lossy(&m.payload)
                );
                assert!(ids.insert(e.id), "event id reused");
                seen.insert(m.payload.clone(), i);
            }
            MessageKind::Duplicate(id) => {
                assert_eq!(m.key, id.to_string());
                let first = seen
                    .get(&m.payload)
                    .expect("duplicate of an earlier first send");
                assert!(
                    i - first <= 80,
                    "duplicate {} messages after its original",
                    i - first
                );
                assert_eq!(parse(&m.payload).unwrap().id, *id);
            }
            MessageKind::Poison(code) => {
                let err = parse(&m.payload).expect_err("poison must not parse");
                assert_eq!(
                    err.code(),
                    *code,
                    "{err} in {}",
                    String::from_utf8_lossy(&m.payload[..m.payload.len().min(300)])
                );
                *codes.entry(code).or_default() += 1;
            }
        }
    }
    for code in [
        "malformed_json",
        "contract_violation",
        "unknown_type",
        "oversized",
    ] {
        assert!(
            codes.get(code).copied().unwrap_or(0) > 0,
            "no {code} poison"
        );
    }
}

#[test]
fn fractions_are_roughly_honoured() {
    let p = Profile {
        events: 200_000,
        users_per_org: 400,
        ..small(3, 0)
    };
    let mut o = Oracle::new();
    let mut late = 0u64;
    let mut max_ms = i64::MIN;
    for m in generate(&p) {
        if let Some(e) = m.as_event() {
            let ms = e.occurred_at.timestamp_millis();
            if ms < max_ms.saturating_sub(3_600_000) {
                late += 1;
            }
            max_ms = max_ms.max(ms);
            assert!(e.occurred_at >= p.start && e.occurred_at < p.start + p.span);
        }
        o.observe(&m);
    }
    let n = p.events as f64;
    let poison: u64 = o.poison_by_reason().values().sum();
    let frac = |x: u64, of: f64| x as f64 / of;
    assert!((frac(poison, n) - 0.02).abs() < 0.004, "poison {poison}");
    assert!(
        (frac(o.duplicates(), n) - 0.02).abs() < 0.004,
        "dups {}",
        o.duplicates()
    );
    assert_eq!(o.valid_events() + o.duplicates() + poison, p.events);
    let valid = o.valid_events() as f64;
    // Late events: only the non-substituted ones can be late.
    assert!(
        frac(late, valid) > 0.015 && frac(late, valid) < 0.035,
        "late {late}"
    );
    let t = o.events_by_type();
    let share = |k: &str| t[k] as f64 / valid;
    assert!((0.45..0.62).contains(&share("login")), "{t:?}");
    assert!((0.18..0.30).contains(&share("token")), "{t:?}");
    assert!((0.04..0.12).contains(&share("registration")), "{t:?}");
    assert!((0.06..0.12).contains(&share("session")), "{t:?}");
    assert!((0.035..0.07).contains(&share("audit")), "{t:?}");
}

#[test]
fn lifecycle_is_plausible() {
    let p = small(5, 80_000);
    let orgs = org_ids(&p);
    let mut org_created = HashSet::new();
    let mut created = HashSet::new();
    let mut deleted = HashSet::new();
    let mut registered = HashSet::new();
    let (mut ok, mut logins, mut failed, mut providers) =
        (0u64, 0u64, HashSet::new(), HashSet::new());
    let mut grants = HashSet::new();
    let mut actions = HashSet::new();
    for m in generate(&p) {
        let Some(e) = m.as_event() else { continue };
        if let Body::Audit(a) = &e.body {
            if a.action == "organization.created" {
                org_created.insert(e.org.id);
            }
            actions.insert(a.action.clone());
            assert_eq!(
                a.organization_id.as_deref(),
                Some(e.org.id.to_string().as_str())
            );
            continue;
        }
        assert!(
            org_created.contains(&e.org.id),
            "event before its org was created"
        );
        match &e.body {
            Body::Registration(r) => match r.action {
                RegistrationAction::UserCreated => assert!(created.insert(r.user_id)),
                RegistrationAction::UserDeleted => {
                    assert!(created.contains(&r.user_id));
                    deleted.insert(r.user_id);
                }
                RegistrationAction::Registered => {
                    assert!(created.contains(&r.user_id) && !deleted.contains(&r.user_id));
                    assert!(registered.insert((r.user_id, r.application_id)));
                }
                RegistrationAction::Unregistered => {
                    assert!(registered.remove(&(r.user_id, r.application_id)));
                }
            },
            Body::Login(l) => {
                logins += 1;
                providers.insert(l.provider.clone());
                if l.success {
                    ok += 1;
                    let u = l.user_id.unwrap();
                    assert!(created.contains(&u) && !deleted.contains(&u));
                    assert!(registered.contains(&(u, Some(l.application_id))));
                } else {
                    failed.insert(l.failure_reason.clone().unwrap());
                }
            }
            Body::Token(t) => {
                grants.insert((t.grant_type.clone(), t.token_type.clone()));
                if let Some(u) = t.user_id {
                    assert!(created.contains(&u));
                }
            }
            _ => {}
        }
    }
    assert_eq!(org_created.len(), orgs.len());
    assert!(!deleted.is_empty());
    let rate = ok as f64 / logins as f64;
    assert!((0.84..0.92).contains(&rate), "success rate {rate}");
    assert_eq!(failed.len(), 4, "{failed:?}");
    assert_eq!(providers.len(), 6, "{providers:?}");
    let grant_types: HashSet<_> = grants.iter().map(|(g, _)| g.as_str()).collect();
    assert_eq!(grant_types.len(), 8, "{grant_types:?}");
    let token_types: HashSet<_> = grants.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(token_types.len(), 4, "{token_types:?}");
    for a in [
        "organization.created",
        "organization.suspended",
        "user.created",
        "user.invited",
        "user.auto_locked",
        "user.login_failure",
        "client.created",
        "client.secret_generated",
        "role.created",
        "security.2fa_enabled",
        "user.data_exported",
    ] {
        assert!(actions.contains(a), "no {a} in {actions:?}");
    }
    // The most active user of org 0 shows up in the oracle.
    let mut o = Oracle::new();
    generate(&p).for_each(|m| o.observe(&m));
    assert!(!o
        .login_hourly_by_user(chrono_tz::UTC, user_id(&p, 0, 0))
        .is_empty());
    assert!(!o.entity_status_counts()["user"].is_empty());
    assert!(o.active_sessions(p.start + p.span / 2).0 > 0);
}

#[test]
fn oracle_summary_is_consistent() {
    let p = small(9, 40_000);
    let mut o = Oracle::new();
    generate(&p).for_each(|m| o.observe(&m));
    let totals = o.totals();
    let logins: u64 = totals.apps.values().map(|a| a.logins).sum();
    let hourly: u64 = o
        .login_hourly(chrono_tz::Asia::Kolkata, None)
        .values()
        .sum();
    assert_eq!(logins, hourly);
    let (org0, _) = org_ids(&p)[0];
    let by_app: u64 = o.org_logins_by_app(org0).values().sum();
    let by_provider: u64 = o.org_logins_by_provider(org0).values().sum();
    let daily: u64 = o.org_logins_daily(org0).values().map(|d| d.0).sum();
    assert_eq!(by_app, by_provider);
    assert_eq!(by_app, daily);
    assert!(totals.global_registrations > 0);
    let regs: i64 = totals.apps.values().map(|a| a.registrations).sum();
    assert!(regs > 0 && regs as u64 <= totals.apps.values().map(|a| a.total_registrations).sum());
    let reg_hourly: u64 = o.registration_hourly(chrono_tz::UTC, None).values().sum();
    assert_eq!(
        reg_hourly,
        totals
            .apps
            .values()
            .map(|a| a.total_registrations)
            .sum::<u64>()
    );
    let dir = std::env::temp_dir().join(format!("authpulse-truth-{}.json", std::process::id()));
    o.write_truth(&dir).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&dir).unwrap()).unwrap();
    std::fs::remove_file(&dir).ok();
    assert_eq!(v["valid_events"], o.valid_events());
    assert!(v["mau_by_month_utc"]["202601"].as_u64().unwrap() > 0);
    assert!(
        v["tokens_by_month_utc"]["202602"]["authorization_code"]["access_token"]
            .as_u64()
            .unwrap()
            > 0
    );
}
