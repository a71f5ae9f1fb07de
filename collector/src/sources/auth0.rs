//! Auth0 log streams (custom webhook): a batch of log events as a JSON array,
//! JSON lines or one object, each `{"log_id": ..., "data": {...}}`; the
//! Management API's `GET /api/v2/logs` export has the same fields without
//! the `data` wrapper, and both are accepted. The tenant is
//! `data.tenant_name` (else the first label of `data.hostname`); the source
//! id is `log_id`. Auth0 user and client ids are not UUIDs: they become
//! UUIDv5 of `auth0:user:<id>` / `auth0:client:<id>`.

use serde_json::Value;

use super::{build, first, lookup, s, source_event_id, Common, Mapped, To};
use crate::{ids, Orgs, Source};

/// Auth0 log event type code → contract.
pub const TABLE: &[(&str, To)] = &[
    ("s", To::LoginSuccess),
    ("f", To::LoginFailure("failed_login")),
    ("fp", To::LoginFailure("wrong_password")),
    ("fu", To::LoginFailure("invalid_username")),
    ("ss", To::UserLifecycle("user_created", "user.created")),
    ("sdu", To::UserLifecycle("user_deleted", "user.data_purged")),
    ("seacft", To::Token("authorization_code")),
    ("seccft", To::Token("client_credentials")),
    ("sertft", To::Token("refresh_token")),
    ("sepft", To::Token("password")),
    ("slo", To::Audit("user.logged_out")),
    ("scp", To::Audit("user.password_changed")),
    ("sv", To::Audit("user.email_verified")),
];

/// Auth0 strategy → contract login provider.
fn provider(strategy: &str) -> String {
    match strategy {
        "auth0" => "password".into(),
        "google-oauth2" => "google".into(),
        "windowslive" | "waad" => "microsoft".into(),
        "samlp" => "saml".into(),
        other => other.to_ascii_lowercase(),
    }
}

pub fn map(v: &Value, orgs: &Orgs) -> Result<(String, Mapped), String> {
    // Log stream: {"log_id", "data": {...}}; Management API: flat.
    let d = match v.get("data") {
        Some(d) if d.is_object() => d,
        _ if v.get("type").is_some() && v.get("date").is_some() => v,
        _ => {
            return Err(
                "an Auth0 log event is {\"log_id\", \"data\": {\"type\", \"date\", ...}}".into(),
            )
        }
    };
    let t = s(d, &["type"]).ok_or("data.type is missing or not a string")?;
    let date = s(d, &["date"]).ok_or("data.date is missing")?;
    let Some(to) = lookup(TABLE, t) else {
        return Ok((
            t.into(),
            Mapped::Skip(format!("Auth0 log type {t:?} has no contract mapping")),
        ));
    };
    let tenant =
        s(d, &["tenant_name"]).or_else(|| s(d, &["hostname"]).and_then(|h| h.split('.').next()));
    let user = s(d, &["user_id"]);
    let client = s(d, &["client_id"]);
    let c = Common {
        source: Source::Auth0,
        id: source_event_id(v, first(v, &[&["log_id"], &["data", "log_id"], &["_id"]])),
        at: date.to_string(),
        org: orgs.org(Source::Auth0, tenant),
        user_id: user.map(|u| ids::as_uuid("auth0", "user", u).to_string()),
        login_id: first(d, &[&["user_name"], &["details", "username"], &["user_id"]]),
        application_id: client.map(|c| ids::as_uuid("auth0", "client", c).to_string()),
        application_name: s(d, &["client_name"]),
        client_id: client,
        provider: first(d, &[&["strategy"], &["connection"]]).map(provider),
        ip: s(d, &["ip"]),
        user_agent: s(d, &["user_agent"]),
        session_id: None,
        failure_reason: None,
        actor_id: None,
        actor_email: s(d, &["user_name"]).filter(|n| n.contains('@')),
    };
    Ok((t.into(), Mapped::Events(build(to, &c))))
}
