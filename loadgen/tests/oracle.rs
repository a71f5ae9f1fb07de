//! Oracle semantics on hand-built streams with known answers.

use std::collections::BTreeMap;

use authpulse_loadgen::{AppTotals, Message, MessageKind, Oracle};
use authpulse_schemas::{
    Audit, Body, Event, Login, Org, Registration, RegistrationAction, Session, SessionAction, Token,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::{America::Denver, Asia::Kolkata, Tz};
use uuid::Uuid;

const ORG: Uuid = Uuid::from_u128(0x7f3e2a10_5b4c_4d8e_9f01_23456789abcd);
const APP1: Uuid = Uuid::from_u128(0xa1);
const APP2: Uuid = Uuid::from_u128(0xa2);
const U1: Uuid = Uuid::from_u128(0x01);
const U2: Uuid = Uuid::from_u128(0x02);
const U3: Uuid = Uuid::from_u128(0x03);
const U4: Uuid = Uuid::from_u128(0x04);

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

struct Stream {
    next: u128,
    oracle: Oracle,
}

impl Stream {
    fn new() -> Self {
        Stream {
            next: 1000,
            oracle: Oracle::new(),
        }
    }

    fn push(&mut self, at: &str, body: Body) -> Message {
        self.next += 1;
        let m = Message::event(Event {
            id: Uuid::from_u128(self.next),
            occurred_at: ts(at),
            org: Org {
                id: ORG,
                slug: "acme".into(),
            },
            body,
        });
        self.oracle.observe(&m);
        m
    }

    fn login(&mut self, at: &str, user: Uuid, app: Uuid, success: bool) -> Message {
        let login_id = format!("user{}@acme.example", user.as_u128());
        self.push(
            at,
            Body::Login(Login {
                success,
                failure_reason: (!success).then(|| "invalid_password".into()),
                user_id: Some(user),
                login_id,
                application_id: app,
                application_name: None,
                provider: if app == APP1 { "password" } else { "google" }.into(),
                ip: None,
                user_agent: None,
                session_id: None,
            }),
        )
    }

    fn reg(&mut self, at: &str, action: RegistrationAction, user: Uuid, app: Option<Uuid>) {
        self.push(
            at,
            Body::Registration(Registration {
                action,
                user_id: user,
                application_id: app,
                application_name: None,
            }),
        );
    }

    fn audit(&mut self, at: &str, action: &str, entity_type: &str, entity_id: &str) {
        self.push(
            at,
            Body::Audit(Audit {
                action: action.into(),
                entity_type: entity_type.into(),
                entity_id: entity_id.into(),
                actor_id: Some("system".into()),
                actor_email: None,
                organization_id: Some(ORG.to_string()),
                metadata: Default::default(),
                ip_address: None,
            }),
        );
    }

    fn session(
        &mut self,
        at: &str,
        action: SessionAction,
        id: &str,
        user: Uuid,
        exp: Option<&str>,
    ) {
        self.push(
            at,
            Body::Session(Session {
                action,
                session_id: id.into(),
                user_id: user,
                expires_at: exp.map(ts),
                application_id: None,
            }),
        );
    }
}

fn day(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
        .num_days()
}

fn month(y: i64, m: i64) -> i64 {
    (y - 1970) * 12 + (m - 1)
}

fn hour(local: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M")
        .unwrap()
        .and_utc()
        .timestamp()
        .div_euclid(3600)
}

fn map<K: Ord, const N: usize>(pairs: [(K, u64); N]) -> BTreeMap<K, u64> {
    pairs.into_iter().collect()
}

/// Logins around the 2026 America/Denver DST changes (Mar 8 09:00Z spring
/// forward, Nov 1 08:00Z fall back) and Asia/Kolkata (+05:30) date lines.
fn logins() -> Oracle {
    let mut s = Stream::new();
    let l1 = s.login("2026-03-08T06:30:00Z", U1, APP1, true); // IST Mar 8 12:00, Denver Mar 7 23:30 MST
    s.login("2026-03-08T18:45:00Z", U1, APP1, true); // IST Mar 9 00:15, Denver Mar 8 12:45 MDT
    s.login("2026-03-08T09:30:00Z", U2, APP2, true); // IST Mar 8 15:00, Denver Mar 8 03:30 MDT
    s.login("2026-03-08T08:30:00Z", U2, APP1, true); // IST Mar 8 14:00, Denver Mar 8 01:30 MST
    s.login("2026-01-31T20:00:00Z", U3, APP1, true); // IST Feb 1 01:30, Denver Jan 31 13:00
    s.login("2026-03-08T10:00:00Z", U3, APP1, false); // failed: never counted
    s.login("2026-11-01T07:30:00Z", U1, APP2, true); // Denver Nov 1 01:30 MDT
    s.login("2026-11-01T08:30:00Z", U2, APP2, true); // Denver Nov 1 01:30 MST (again)
                                                     // A re-send of the first login and a poison message count separately.
    s.oracle.observe(&Message {
        kind: MessageKind::Duplicate(l1.as_event().unwrap().id),
        ..l1
    });
    s.oracle.observe(&Message {
        key: "p".into(),
        payload: b"{".to_vec(),
        kind: MessageKind::Poison("malformed_json"),
    });
    s.oracle
}

#[test]
fn dau_and_mau_across_timezones_and_dst() {
    let o = logins();
    assert_eq!(o.valid_events(), 8);
    assert_eq!(o.duplicates(), 1);
    assert_eq!(o.poison_by_reason(), map([("malformed_json", 1)]));
    assert_eq!(o.events_by_type()["login"], 8);

    assert_eq!(
        o.dau(Kolkata, &[]),
        map([
            (day(2026, 2, 1), 1),
            (day(2026, 3, 8), 2),
            (day(2026, 3, 9), 1),
            (day(2026, 11, 1), 2)
        ])
    );
    assert_eq!(
        o.dau(Denver, &[]),
        map([
            (day(2026, 1, 31), 1),
            (day(2026, 3, 7), 1),
            (day(2026, 3, 8), 2),
            (day(2026, 11, 1), 2)
        ])
    );
    assert_eq!(
        o.dau(Denver, &[APP1]),
        map([
            (day(2026, 1, 31), 1),
            (day(2026, 3, 7), 1),
            (day(2026, 3, 8), 2)
        ])
    );
    assert_eq!(
        o.dau(Denver, &[APP2]),
        map([(day(2026, 3, 8), 1), (day(2026, 11, 1), 2)])
    );
    assert_eq!(o.dau(Denver, &[APP1, APP2]), o.dau(Denver, &[]));
    assert!(o.dau(Denver, &[Uuid::from_u128(0xdead)]).is_empty());

    assert_eq!(
        o.mau(Kolkata, &[]),
        map([
            (month(2026, 2), 1),
            (month(2026, 3), 2),
            (month(2026, 11), 2)
        ])
    );
    assert_eq!(
        o.mau(Denver, &[]),
        map([
            (month(2026, 1), 1),
            (month(2026, 3), 2),
            (month(2026, 11), 2)
        ])
    );
    assert_eq!(
        o.mau_by_month(Denver),
        map([
            ("202601".to_string(), 1),
            ("202603".into(), 2),
            ("202611".into(), 2)
        ])
    );
    assert_eq!(
        o.mau_by_month(Tz::UTC),
        map([
            ("202601".to_string(), 1),
            ("202603".into(), 2),
            ("202611".into(), 2)
        ])
    );

    assert_eq!(
        o.distinct_active(ts("2026-03-08T00:00:00Z"), ts("2026-03-09T00:00:00Z"), &[]),
        2
    );
    assert_eq!(
        o.distinct_active(
            ts("2026-03-08T00:00:00Z"),
            ts("2026-03-09T00:00:00Z"),
            &[APP2]
        ),
        1
    );
    // [from, to): the 06:30 login is excluded when `to` is 06:30.
    assert_eq!(
        o.distinct_active(ts("2026-03-08T00:00:00Z"), ts("2026-03-08T06:30:00Z"), &[]),
        0
    );
}

#[test]
fn hourly_intervals_use_the_local_wall_clock() {
    let o = logins();
    // Both Nov 1 logins happen at 01:30 local in Denver (once MDT, once MST).
    assert_eq!(
        o.login_hourly(Denver, Some(APP2)),
        map([(hour("2026-03-08T03:30"), 1), (hour("2026-11-01T01:30"), 2)])
    );
    assert_eq!(
        o.login_hourly(Kolkata, Some(APP1)),
        map([
            (hour("2026-02-01T01:30"), 1),
            (hour("2026-03-08T12:00"), 1),
            (hour("2026-03-08T14:00"), 1),
            (hour("2026-03-09T00:15"), 1)
        ])
    );
    assert_eq!(o.login_hourly(Tz::UTC, None).values().sum::<u64>(), 7);
    assert_eq!(
        o.login_hourly_by_user(Denver, U1),
        map([
            (hour("2026-03-07T23:30"), 1),
            (hour("2026-03-08T12:45"), 1),
            (hour("2026-11-01T01:30"), 1)
        ])
    );
    assert_eq!(
        o.login_hourly_by_login_id(Kolkata, "user3@acme.example"),
        map([(hour("2026-02-01T01:30"), 1)])
    );
    assert!(o.login_hourly_by_login_id(Kolkata, "nobody").is_empty());
    assert!(o
        .login_hourly(Kolkata, Some(Uuid::from_u128(0xdead)))
        .is_empty());

    assert_eq!(
        o.org_logins_daily(ORG),
        [
            ("2026-01-31".to_string(), (1, 0)),
            ("2026-03-08".into(), (4, 1)),
            ("2026-11-01".into(), (2, 0))
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(o.org_logins_by_app(ORG), map([(APP1, 4), (APP2, 3)]));
    assert_eq!(
        o.org_logins_by_provider(ORG),
        map([("google".to_string(), 3), ("password".into(), 4)])
    );
    assert!(o.org_logins_by_app(Uuid::nil()).is_empty());
}

#[test]
fn totals_semantics() {
    use RegistrationAction::*;
    let mut s = Stream::new();
    for u in [U1, U2, U3, U4] {
        s.reg("2026-03-01T00:00:00Z", UserCreated, u, None);
    }
    s.reg("2026-03-01T01:00:00Z", Registered, U1, Some(APP1));
    s.reg("2026-03-01T01:10:00Z", Registered, U2, Some(APP1));
    s.reg("2026-03-01T02:00:00Z", Registered, U2, Some(APP2));
    s.reg("2026-03-02T00:00:00Z", Unregistered, U2, Some(APP1));
    s.reg("2026-03-02T01:00:00Z", Registered, U3, Some(APP1));
    s.reg("2026-03-02T02:00:00Z", Registered, U4, Some(APP2));
    // Deleting U3 drops its APP1 registration without an `unregistered`.
    s.reg("2026-03-03T00:00:00Z", UserDeleted, U3, None);
    s.login("2026-03-04T00:00:00Z", U1, APP1, true);
    s.login("2026-03-04T00:01:00Z", U1, APP1, false);
    s.login("2026-03-04T00:02:00Z", U2, APP2, true);
    let o = s.oracle;
    let t = o.totals();
    assert_eq!(t.global_registrations, 3);
    assert_eq!(t.total_global_registrations, 4);
    assert_eq!(
        t.apps,
        [
            (
                APP1,
                AppTotals {
                    logins: 1,
                    registrations: 1,
                    total_registrations: 3
                }
            ),
            (
                APP2,
                AppTotals {
                    logins: 1,
                    registrations: 2,
                    total_registrations: 2
                }
            )
        ]
        .into_iter()
        .collect()
    );
    assert_eq!(
        o.registration_hourly(Tz::UTC, Some(APP1)),
        map([(hour("2026-03-01T01:00"), 2), (hour("2026-03-02T01:00"), 1)])
    );
    assert_eq!(
        o.registration_hourly(Kolkata, None).values().sum::<u64>(),
        5
    );
    assert_eq!(o.events_by_type()["registration"], 11);
}

#[test]
fn entity_status_latest_occurred_at_wins() {
    let mut s = Stream::new();
    let org = ORG.to_string();
    s.audit(
        "2026-03-01T00:00:00Z",
        "organization.created",
        "organization",
        &org,
    );
    s.audit(
        "2026-03-03T00:00:00Z",
        "organization.suspended",
        "organization",
        &org,
    );
    // Late: happened before the suspension, arrives after it.
    s.audit(
        "2026-03-02T00:00:00Z",
        "organization.archived",
        "organization",
        &org,
    );
    s.audit("2026-03-01T00:00:00Z", "user.created", "user", "u-1");
    s.audit("2026-03-01T01:00:00Z", "user.auto_locked", "user", "u-1");
    s.audit("2026-03-01T02:00:00Z", "user.login_failure", "user", "u-1");
    s.audit("2026-03-01T00:00:00Z", "user.invited", "user", "u-2");
    s.audit("2026-03-01T00:00:00Z", "user.login_failure", "user", "u-3");
    s.audit(
        "2026-03-01T00:00:00Z",
        "client.created",
        "client",
        "acme-portal",
    );
    s.audit(
        "2026-03-05T00:00:00Z",
        "client.secret_generated",
        "client",
        "acme-portal",
    );
    s.audit(
        "2026-03-06T00:00:00Z",
        "client.revoked",
        "client",
        "acme-portal",
    );
    s.audit(
        "2026-03-06T00:00:00Z",
        "role.created",
        "role",
        "acme-role-1",
    );
    let o = s.oracle;
    let expect: BTreeMap<String, BTreeMap<String, u64>> = [
        ("client", vec![("revoked", 1)]),
        ("organization", vec![("suspended", 1)]),
        ("role", vec![("active", 1)]),
        ("user", vec![("inactive", 1), ("locked", 1)]),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            v.into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
        )
    })
    .collect();
    assert_eq!(o.entity_status_counts(), expect);
    assert_eq!(o.audit_by_action()["user.login_failure"], 2);
    assert_eq!(o.audit_by_action().values().sum::<u64>(), 12);
    let entries = o.audit_events();
    assert_eq!(entries.len(), 12);
    assert!(entries
        .windows(2)
        .all(|w| (w[0].occurred_at, w[0].id) <= (w[1].occurred_at, w[1].id)));
    assert_eq!(entries[11].action, "role.created");
}

#[test]
fn active_sessions_at_an_instant() {
    use SessionAction::*;
    let mut s = Stream::new();
    s.session(
        "2026-03-01T10:00:00Z",
        Created,
        "s1",
        U1,
        Some("2026-03-01T12:00:00Z"),
    );
    s.session(
        "2026-03-01T10:30:00Z",
        Created,
        "s2",
        U1,
        Some("2026-03-02T10:30:00Z"),
    );
    s.session(
        "2026-03-01T11:00:00Z",
        Created,
        "s3",
        U2,
        Some("2026-03-02T11:00:00Z"),
    );
    s.session("2026-03-01T11:30:00Z", Revoked, "s3", U2, None);
    s.session(
        "2026-03-01T13:00:00Z",
        Created,
        "s4",
        U3,
        Some("2026-03-01T14:00:00-05:00"),
    );
    let o = s.oracle;
    assert_eq!(o.active_sessions(ts("2026-03-01T09:59:59Z")), (0, 0));
    assert_eq!(o.active_sessions(ts("2026-03-01T11:15:00Z")), (3, 2));
    assert_eq!(o.active_sessions(ts("2026-03-01T11:30:00Z")), (2, 1));
    assert_eq!(o.active_sessions(ts("2026-03-01T12:00:00Z")), (1, 1));
    assert_eq!(o.active_sessions(ts("2026-03-01T13:00:00Z")), (2, 2));
    assert_eq!(o.active_sessions(ts("2026-03-01T19:00:00Z")), (1, 1));
}

#[test]
fn tokens_by_local_month() {
    let mut s = Stream::new();
    let token = |grant: &str, tt: &str| {
        Body::Token(Token {
            grant_type: grant.into(),
            token_type: tt.into(),
            client_id: "acme-portal".into(),
            application_id: Some(APP1),
            user_id: None,
        })
    };
    s.push(
        "2026-04-01T03:00:00Z",
        token("client_credentials", "access_token"),
    );
    s.push(
        "2026-04-01T03:00:01Z",
        token("authorization_code", "id_token"),
    );
    s.push(
        "2026-04-02T03:00:00Z",
        token("authorization_code", "id_token"),
    );
    s.push(
        "2026-04-02T03:00:00Z",
        token("urn:ietf:params:oauth:grant-type:uma-ticket", "uma_token"),
    );
    let o = s.oracle;
    let denver = o.tokens_by_month(Denver);
    assert_eq!(denver["202603"]["client_credentials"]["access_token"], 1);
    assert_eq!(denver["202603"]["authorization_code"]["id_token"], 1);
    assert_eq!(denver["202604"]["authorization_code"]["id_token"], 1);
    assert_eq!(
        denver["202604"]["urn:ietf:params:oauth:grant-type:uma-ticket"]["uma_token"],
        1
    );
    let utc = o.tokens_by_month(Tz::UTC);
    assert_eq!(utc.len(), 1);
    assert_eq!(utc["202604"]["authorization_code"]["id_token"], 2);
}
