//! FusionAuth webhooks: one event per request, `{"event": {...}}`
//! (docs: fusionauth.io/docs/extend/events-and-webhooks/events/). The
//! tenant is `event.tenantId`; the source id is `event.id`.

use serde_json::Value;

use super::{build, first, lookup, millis_to_rfc3339, s, source_event_id, Common, Mapped, To};
use crate::{Orgs, Source};

/// FusionAuth event type → contract. Only the transactional events map:
/// their `.complete` twins (`user.create.complete`, ...) report the same
/// change again and are skipped, so enabling both counts nothing twice.
pub const TABLE: &[(&str, To)] = &[
    ("user.login.success", To::LoginSuccess),
    ("user.login.failed", To::LoginFailure("invalid_credentials")),
    (
        "user.registration.create",
        To::AppRegistration("registered"),
    ),
    (
        "user.registration.delete",
        To::AppRegistration("unregistered"),
    ),
    (
        "user.create",
        To::UserLifecycle("user_created", "user.created"),
    ),
    (
        "user.delete",
        To::UserLifecycle("user_deleted", "user.data_purged"),
    ),
    ("jwt.refresh", To::Token("refresh_token")),
    ("user.deactivate", To::Audit("user.suspended")),
    ("user.reactivate", To::Audit("user.activated")),
    ("user.update", To::Audit("user.updated")),
    ("user.password.update", To::Audit("user.password_updated")),
    ("user.email.verified", To::Audit("user.email_verified")),
    (
        "user.two-factor.method.add",
        To::Audit("security.2fa_enabled"),
    ),
    (
        "user.two-factor.method.remove",
        To::Audit("security.2fa_disabled"),
    ),
    ("user.login.suspicious", To::Audit("user.login_suspicious")),
    (
        "jwt.refresh-token.revoke",
        To::Audit("user.refresh_tokens_revoked"),
    ),
];

pub fn map(v: &Value, orgs: &Orgs) -> Result<(String, Mapped), String> {
    let e = v
        .get("event")
        .filter(|e| e.is_object())
        .ok_or("a FusionAuth webhook body is an object with an \"event\" object")?;
    let t = s(e, &["type"]).ok_or("event.type is missing or not a string")?;
    let Some(to) = lookup(TABLE, t) else {
        return Ok((
            t.into(),
            Mapped::Skip(format!(
                "FusionAuth event type {t:?} has no contract mapping"
            )),
        ));
    };
    let at = e
        .get("createInstant")
        .and_then(Value::as_i64)
        .and_then(millis_to_rfc3339)
        .ok_or("event.createInstant (epoch milliseconds) is missing")?;
    let user = e.get("user").unwrap_or(&Value::Null);
    let app = first(e, &[&["registration", "applicationId"], &["applicationId"]]);
    let c = Common {
        source: Source::FusionAuth,
        id: source_event_id(e, s(e, &["id"])),
        at,
        org: orgs.org(Source::FusionAuth, s(e, &["tenantId"])),
        user_id: first(e, &[&["user", "id"], &["userId"]]).map(String::from),
        login_id: first(user, &[&["email"], &["username"]]),
        application_id: app.map(String::from),
        application_name: None,
        client_id: app,
        // PASSWORD → password, GOOGLE → google, ...
        provider: s(e, &["authenticationType"]).map(str::to_lowercase),
        ip: first(e, &[&["info", "ipAddress"], &["ipAddress"]]),
        user_agent: s(e, &["info", "userAgent"]),
        session_id: None,
        failure_reason: s(e, &["reason", "code"]),
        actor_id: None,
        actor_email: None,
    };
    Ok((t.into(), Mapped::Events(build(to, &c))))
}
