//! One mapping table per source: source event type → contract event(s).
//! Each module's `TABLE` is the single place its mapping lives (the docs in
//! docs/sources/ list the same rows; a test checks they agree).

pub mod auth0;
pub mod fusionauth;
pub mod keycloak;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{ids, Orgs, Source};

/// What one source event becomes.
#[derive(Debug)]
pub enum Mapped {
    /// Contract events (JSON), validated afterwards by the schemas parser.
    Events(Vec<Value>),
    /// A well-formed event of a type that does not map; the detail says why.
    Skip(String),
}

/// Maps one source event; `Err` when it is not an event of that source at
/// all (the request is refused). Returns the source's own type too.
pub fn map(source: Source, v: &Value, orgs: &Orgs) -> Result<(String, Mapped), String> {
    match source {
        Source::FusionAuth => fusionauth::map(v, orgs),
        Source::Keycloak => keycloak::map(v, orgs),
        Source::Auth0 => auth0::map(v, orgs),
        Source::Contract => Err("contract events are not mapped".into()),
    }
}

/// A non-empty string at `path`.
pub(crate) fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|x| !x.is_empty())
}

/// First non-empty string among `paths`.
pub(crate) fn first<'a>(v: &'a Value, paths: &[&[&str]]) -> Option<&'a str> {
    paths.iter().find_map(|p| s(v, p))
}

pub(crate) fn millis_to_rfc3339(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The source's own event id, or — for producers that send none (older
/// Keycloak) — a digest of the event itself, so an identical re-delivery
/// still gets the same contract id.
pub(crate) fn source_event_id(v: &Value, id: Option<&str>) -> String {
    match id {
        Some(id) => id.to_string(),
        None => {
            let digest = Sha256::digest(v.to_string().as_bytes());
            format!(
                "sha256:{}",
                digest
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
    }
}

/// Builds a contract event; `part` tells apart several contract events made
/// from one source event.
pub(crate) fn event(
    source: Source,
    source_id: &str,
    part: &str,
    occurred_at: &str,
    org: &Value,
    kind: &str,
    data: Value,
) -> Value {
    json!({
        "id": ids::event_id(source.name(), source_id, part),
        "type": kind,
        "occurred_at": occurred_at,
        "org": org,
        "data": data,
    })
}

/// Drops `null` members so optional fields are simply absent.
pub(crate) fn compact(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}

/// The contract event(s) a source type becomes; each source module's
/// `TABLE` pairs its types with one of these.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum To {
    /// `login` with `success: true`.
    LoginSuccess,
    /// `login` with `success: false`; the reason when the source gives none.
    LoginFailure(&'static str),
    /// `registration` `registered` / `unregistered` (per application).
    AppRegistration(&'static str),
    /// `registration` `user_created` / `user_deleted`, plus an `audit`
    /// entry with this action (so Porta's user statuses follow).
    UserLifecycle(&'static str, &'static str),
    /// `token` (`access_token`) with this grant type.
    Token(&'static str),
    /// `session` `revoked`.
    SessionRevoked,
    /// `audit` with this action on the user.
    Audit(&'static str),
}

impl To {
    /// The contract types it produces, for docs and tests.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            To::LoginSuccess | To::LoginFailure(_) => &["login"],
            To::AppRegistration(_) => &["registration"],
            To::UserLifecycle(..) => &["registration", "audit"],
            To::Token(_) => &["token"],
            To::SessionRevoked => &["session"],
            To::Audit(_) => &["audit"],
        }
    }
}

pub(crate) fn lookup(table: &[(&'static str, To)], t: &str) -> Option<To> {
    table.iter().find(|(k, _)| *k == t).map(|(_, to)| *to)
}

/// Fields every source extracts before building contract events.
pub(crate) struct Common<'a> {
    pub source: Source,
    pub id: String,
    pub at: String,
    pub org: Value,
    pub user_id: Option<String>,
    pub login_id: Option<&'a str>,
    pub application_id: Option<String>,
    pub application_name: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub provider: Option<String>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub failure_reason: Option<&'a str>,
    pub actor_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
}

/// The nil UUID stands for "no application" where the source names none
/// (a FusionAuth login without applicationId): the contract requires one.
pub const NO_APPLICATION: &str = "00000000-0000-0000-0000-000000000000";

pub(crate) fn build(to: To, c: &Common) -> Vec<Value> {
    let ev = |part: &str, kind: &str, data: Value| {
        event(c.source, &c.id, part, &c.at, &c.org, kind, compact(data))
    };
    let app = c.application_id.clone();
    let audit = |action: &str| {
        ev(
            "audit",
            "audit",
            json!({
                "action": action,
                "entity_type": "user",
                "entity_id": c.user_id,
                "actor_id": c.actor_id.or(c.user_id.as_deref()),
                "actor_email": c.actor_email,
                "metadata": { "source": c.source.name() },
                "ip_address": c.ip,
            }),
        )
    };
    match to {
        To::LoginSuccess | To::LoginFailure(_) => {
            let success = to == To::LoginSuccess;
            let reason = match to {
                To::LoginFailure(default) => Some(c.failure_reason.unwrap_or(default)),
                _ => None,
            };
            vec![ev(
                "login",
                "login",
                json!({
                    "success": success,
                    "failure_reason": reason,
                    "user_id": c.user_id,
                    "login_id": c.login_id.or(c.user_id.as_deref()),
                    "application_id": app.as_deref().unwrap_or(NO_APPLICATION),
                    "application_name": c.application_name,
                    "provider": c.provider.as_deref().unwrap_or(c.source.name()),
                    "ip": c.ip,
                    "user_agent": c.user_agent,
                    "session_id": c.session_id,
                }),
            )]
        }
        To::AppRegistration(action) => vec![ev(
            "registration",
            "registration",
            json!({
                "action": action,
                "user_id": c.user_id,
                "application_id": app,
                "application_name": c.application_name,
            }),
        )],
        To::UserLifecycle(action, audit_action) => vec![
            ev(
                "registration",
                "registration",
                json!({ "action": action, "user_id": c.user_id }),
            ),
            audit(audit_action),
        ],
        To::Token(grant) => vec![ev(
            "token",
            "token",
            json!({
                "grant_type": grant,
                "token_type": "access_token",
                "client_id": c.client_id,
                "application_id": app,
                // A client-credentials token acts for no user.
                "user_id": if grant == "client_credentials" { None } else { c.user_id.clone() },
            }),
        )],
        To::SessionRevoked => vec![ev(
            "session",
            "session",
            json!({
                "action": "revoked",
                "session_id": c.session_id,
                "user_id": c.user_id,
                "application_id": app,
            }),
        )],
        To::Audit(action) => vec![audit(action)],
    }
}
