//! Keycloak events as event-listener extensions post them and the admin
//! REST API lists them (`GET /admin/realms/{realm}/events` and
//! `/admin-events`): user events (`EventRepresentation`: `type`, `time`,
//! `realmId`, `clientId`, `userId`, `sessionId`, `ipAddress`, `error`,
//! `details`) and admin events (`AdminEventRepresentation`:
//! `operationType`, `resourceType`, `resourcePath`, `authDetails`). The
//! tenant is the realm (`realmId`); the source id is `id` (Keycloak ≥ 22
//! sends one; older events get a digest of their content).

use serde_json::{json, Value};

use super::{
    build, compact, event, first, lookup, millis_to_rfc3339, s, source_event_id, Common, Mapped, To,
};
use crate::{ids, Orgs, Source};

/// Keycloak user event type → contract.
pub const TABLE: &[(&str, To)] = &[
    ("LOGIN", To::LoginSuccess),
    ("LOGIN_ERROR", To::LoginFailure("login_error")),
    (
        "REGISTER",
        To::UserLifecycle("user_created", "user.created"),
    ),
    (
        "DELETE_ACCOUNT",
        To::UserLifecycle("user_deleted", "user.data_purged"),
    ),
    ("CODE_TO_TOKEN", To::Token("authorization_code")),
    ("REFRESH_TOKEN", To::Token("refresh_token")),
    ("CLIENT_LOGIN", To::Token("client_credentials")),
    (
        "TOKEN_EXCHANGE",
        To::Token("urn:ietf:params:oauth:grant-type:token-exchange"),
    ),
    ("LOGOUT", To::SessionRevoked),
    ("UPDATE_PASSWORD", To::Audit("user.password_updated")),
    ("UPDATE_TOTP", To::Audit("security.2fa_enabled")),
    ("REMOVE_TOTP", To::Audit("security.2fa_disabled")),
];

/// Admin event operation → audit verb (`<resource>.<verb>`). DELETE is
/// `data_purged` because Keycloak deletes for good: the contract's status
/// table makes that `deleted`.
pub const ADMIN_VERBS: &[(&str, &str)] = &[
    ("CREATE", "created"),
    ("UPDATE", "updated"),
    ("DELETE", "data_purged"),
    ("ACTION", "action"),
];

pub fn map(v: &Value, orgs: &Orgs) -> Result<(String, Mapped), String> {
    if !v.is_object() {
        return Err("a Keycloak event is a JSON object".into());
    }
    let at = v
        .get("time")
        .and_then(Value::as_i64)
        .and_then(millis_to_rfc3339)
        .ok_or("time (epoch milliseconds) is missing")?;
    if v.get("operationType").is_some() {
        return admin(v, at, orgs);
    }
    let t =
        s(v, &["type"]).ok_or("neither a user event (type) nor an admin event (operationType)")?;
    let Some(to) = lookup(TABLE, t) else {
        return Ok((
            t.into(),
            Mapped::Skip(format!("Keycloak event type {t:?} has no contract mapping")),
        ));
    };
    let realm = s(v, &["realmId"]);
    let client = s(v, &["clientId"]);
    let c = Common {
        source: Source::Keycloak,
        id: source_event_id(v, s(v, &["id"])),
        at,
        org: orgs.org(Source::Keycloak, realm),
        user_id: s(v, &["userId"]).map(String::from),
        login_id: first(v, &[&["details", "username"], &["userId"]]).or(Some("unknown")),
        // Keycloak client ids are names (`account`, `web-app`): the contract
        // wants a UUID, derived per realm.
        application_id: client.map(|cl| {
            ids::as_uuid(
                "keycloak",
                "client",
                &format!("{}/{cl}", realm.unwrap_or("")),
            )
            .to_string()
        }),
        application_name: client,
        client_id: client,
        provider: Some(
            s(v, &["details", "identity_provider"])
                .unwrap_or("keycloak")
                .to_string(),
        ),
        ip: s(v, &["ipAddress"]),
        user_agent: None,
        session_id: s(v, &["sessionId"]),
        failure_reason: s(v, &["error"]),
        actor_id: None,
        actor_email: None,
    };
    Ok((t.into(), Mapped::Events(build(to, &c))))
}

fn admin(v: &Value, at: String, orgs: &Orgs) -> Result<(String, Mapped), String> {
    let op = s(v, &["operationType"]).ok_or("operationType is not a string")?;
    let resource = s(v, &["resourceType"]).unwrap_or("UNKNOWN");
    let source_type = format!("admin:{resource}:{op}");
    let Some(verb) = ADMIN_VERBS.iter().find(|(o, _)| *o == op).map(|(_, v)| *v) else {
        return Ok((
            source_type,
            Mapped::Skip(format!("admin operation {op:?} has no contract mapping")),
        ));
    };
    if let Some(err) = s(v, &["error"]) {
        return Ok((
            source_type,
            Mapped::Skip(format!("failed admin operation ({err}) is not audited")),
        ));
    }
    let realm = first(v, &[&["realmId"], &["authDetails", "realmId"]]);
    let path = s(v, &["resourcePath"]).unwrap_or("");
    let entity = resource.to_ascii_lowercase();
    // users/{id}, clients/{id}, ...: the id is the second segment; a realm
    // event's path is empty or names the realm.
    let entity_id = path
        .split('/')
        .nth(1)
        .filter(|x| !x.is_empty())
        .or(realm)
        .unwrap_or("unknown");
    let id = source_event_id(v, s(v, &["id"]));
    let org = orgs.org(Source::Keycloak, realm);
    let audit = event(
        Source::Keycloak,
        &id,
        "audit",
        &at,
        &org,
        "audit",
        compact(json!({
            "action": format!("{entity}.{verb}"),
            "entity_type": entity,
            "entity_id": entity_id,
            "actor_id": s(v, &["authDetails", "userId"]),
            "organization_id": realm,
            "metadata": compact(json!({
                "source": "keycloak",
                "operation_type": op,
                "resource_type": resource,
                "resource_path": path,
                "client_id": s(v, &["authDetails", "clientId"]),
            })),
            "ip_address": s(v, &["authDetails", "ipAddress"]),
        })),
    );
    let mut events = vec![audit];
    // Users created or deleted by an administrator count as users too.
    let lifecycle = match (resource, op) {
        ("USER", "CREATE") => Some("user_created"),
        ("USER", "DELETE") => Some("user_deleted"),
        _ => None,
    };
    if let Some(action) = lifecycle {
        events.push(event(
            Source::Keycloak,
            &id,
            "registration",
            &at,
            &org,
            "registration",
            json!({ "action": action, "user_id": entity_id }),
        ));
    }
    Ok((source_type, Mapped::Events(events)))
}
