//! The validating parser.
//!
//! Strategy: the whole message is scanned once by serde_json into a tiny
//! envelope struct whose fields are borrowed `&RawValue` slices (this pass
//! also proves the message is well-formed JSON). Every field is then decoded
//! from its slice by a helper that knows the field's path, so each violation
//! names the field (`data.user_id: must be a UUID ...`). Unknown fields are
//! skipped without being materialized. `null` counts as absent.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::audit::{is_valid_action, is_valid_entity_type};
use crate::model::{
    Audit, Body, Event, Login, Org, Registration, RegistrationAction, Session, SessionAction, Token,
};
use crate::{ContractError, MAX_EVENT_BYTES, MAX_EVENT_TIME, MIN_EVENT_TIME, TOKEN_TYPES};

/// Max `org.slug` length, in characters.
pub(crate) const MAX_SLUG_CHARS: usize = 128;

type Field<'a> = Option<&'a RawValue>;
type Result<T> = std::result::Result<T, ContractError>;

#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(borrow, default)]
    id: Field<'a>,
    #[serde(borrow, default, rename = "type")]
    kind: Field<'a>,
    #[serde(borrow, default)]
    occurred_at: Field<'a>,
    #[serde(borrow, default)]
    org: Field<'a>,
    #[serde(borrow, default)]
    data: Field<'a>,
}

#[derive(Deserialize)]
struct WireOrg<'a> {
    #[serde(borrow, default)]
    id: Field<'a>,
    #[serde(borrow, default)]
    slug: Field<'a>,
}

#[derive(Deserialize)]
struct WireLogin<'a> {
    #[serde(borrow, default)]
    success: Field<'a>,
    #[serde(borrow, default)]
    failure_reason: Field<'a>,
    #[serde(borrow, default)]
    user_id: Field<'a>,
    #[serde(borrow, default)]
    login_id: Field<'a>,
    #[serde(borrow, default)]
    application_id: Field<'a>,
    #[serde(borrow, default)]
    application_name: Field<'a>,
    #[serde(borrow, default)]
    provider: Field<'a>,
    #[serde(borrow, default)]
    ip: Field<'a>,
    #[serde(borrow, default)]
    user_agent: Field<'a>,
    #[serde(borrow, default)]
    session_id: Field<'a>,
}

#[derive(Deserialize)]
struct WireRegistration<'a> {
    #[serde(borrow, default)]
    action: Field<'a>,
    #[serde(borrow, default)]
    user_id: Field<'a>,
    #[serde(borrow, default)]
    application_id: Field<'a>,
    #[serde(borrow, default)]
    application_name: Field<'a>,
}

#[derive(Deserialize)]
struct WireToken<'a> {
    #[serde(borrow, default)]
    grant_type: Field<'a>,
    #[serde(borrow, default)]
    token_type: Field<'a>,
    #[serde(borrow, default)]
    client_id: Field<'a>,
    #[serde(borrow, default)]
    application_id: Field<'a>,
    #[serde(borrow, default)]
    user_id: Field<'a>,
}

#[derive(Deserialize)]
struct WireSession<'a> {
    #[serde(borrow, default)]
    action: Field<'a>,
    #[serde(borrow, default)]
    session_id: Field<'a>,
    #[serde(borrow, default)]
    user_id: Field<'a>,
    #[serde(borrow, default)]
    expires_at: Field<'a>,
    #[serde(borrow, default)]
    application_id: Field<'a>,
}

#[derive(Deserialize)]
struct WireAudit<'a> {
    #[serde(borrow, default)]
    action: Field<'a>,
    #[serde(borrow, default)]
    entity_type: Field<'a>,
    #[serde(borrow, default)]
    entity_id: Field<'a>,
    #[serde(borrow, default)]
    actor_id: Field<'a>,
    #[serde(borrow, default)]
    actor_email: Field<'a>,
    #[serde(borrow, default)]
    organization_id: Field<'a>,
    #[serde(borrow, default)]
    metadata: Field<'a>,
    #[serde(borrow, default)]
    ip_address: Field<'a>,
}

/// Parse and validate one raw message (a Kafka record value).
///
/// Never panics; every rejection is a [`ContractError`] whose
/// [`code`](ContractError::code) goes to the dead-letter table.
pub fn parse(bytes: &[u8]) -> Result<Event> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(ContractError::Oversized {
            size: bytes.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ContractError::MalformedJson(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;

    // A derived struct deserializer would also accept a JSON array
    // (positional fields), so insist on an object up front.
    if first_byte(text) != Some(b'{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => ContractError::MalformedJson(e.to_string()),
            Ok(_) => violation(
                "event",
                format!("must be a JSON object, got {}", json_kind(text)),
            ),
        });
    }

    let env: WireEnvelope<'_> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            // e.g. duplicate field `id`
            violation("event", message(&e))
        } else {
            ContractError::MalformedJson(e.to_string())
        }
    })?;

    // `type` first: a message of a type we do not know is `unknown_type`,
    // whatever else is wrong with it.
    let kind = string(required(env.kind, "type")?, "type")?;
    let parse_body: fn(&RawValue) -> Result<Body> = match kind.as_str() {
        "login" => login,
        "registration" => registration,
        "token" => token,
        "session" => session,
        "audit" => audit,
        _ => return Err(ContractError::UnknownType(truncate(kind, MAX_TYPE_ECHO))),
    };

    let id = uuid(required(env.id, "id")?, "id")?;
    let occurred_at = timestamp(required(env.occurred_at, "occurred_at")?, "occurred_at")?;

    let org: WireOrg<'_> = object(required(env.org, "org")?, "org")?;
    let org_id = uuid(required(org.id, "org.id")?, "org.id")?;
    let slug = string(required(org.slug, "org.slug")?, "org.slug")?;
    if slug.is_empty() {
        return Err(violation("org.slug", "must be non-empty"));
    }
    if slug.chars().count() > MAX_SLUG_CHARS {
        return Err(violation(
            "org.slug",
            format!("must be at most {MAX_SLUG_CHARS} characters"),
        ));
    }

    let body = parse_body(required(env.data, "data")?)?;

    Ok(Event {
        id,
        occurred_at,
        org: Org { id: org_id, slug },
        body,
    })
}

fn login(raw: &RawValue) -> Result<Body> {
    let w: WireLogin<'_> = object(raw, "data")?;
    let success = boolean(required(w.success, "data.success")?, "data.success")?;
    let failure_reason = opt(w.failure_reason, "data.failure_reason", string)?;
    let user_id = opt(w.user_id, "data.user_id", uuid)?;
    let login_id = non_empty(w.login_id, "data.login_id")?;
    let application_id = uuid(
        required(w.application_id, "data.application_id")?,
        "data.application_id",
    )?;
    let application_name = opt(w.application_name, "data.application_name", string)?;
    let provider = string(required(w.provider, "data.provider")?, "data.provider")?;
    let provider = provider.trim().to_lowercase();
    if provider.is_empty() {
        return Err(violation("data.provider", "must be non-empty"));
    }
    let ip = opt(w.ip, "data.ip", ip_addr)?;
    let user_agent = opt(w.user_agent, "data.user_agent", string)?;
    let session_id = opt(w.session_id, "data.session_id", string)?;

    if success {
        if user_id.is_none() {
            return Err(violation("data.user_id", "required when success is true"));
        }
    } else {
        match &failure_reason {
            None => {
                return Err(violation(
                    "data.failure_reason",
                    "required when success is false",
                ))
            }
            Some(r) if r.is_empty() => {
                return Err(violation(
                    "data.failure_reason",
                    "must be non-empty when success is false",
                ))
            }
            Some(_) => {}
        }
    }

    Ok(Body::Login(Login {
        success,
        failure_reason,
        user_id,
        login_id,
        application_id,
        application_name,
        provider,
        ip,
        user_agent,
        session_id,
    }))
}

fn registration(raw: &RawValue) -> Result<Body> {
    let w: WireRegistration<'_> = object(raw, "data")?;
    let action_s = string(required(w.action, "data.action")?, "data.action")?;
    let action = RegistrationAction::from_wire(&action_s).ok_or_else(|| {
        violation(
            "data.action",
            format!(
                "must be one of user_created, registered, unregistered, user_deleted, got {}",
                quoted(&action_s)
            ),
        )
    })?;
    let user_id = uuid(required(w.user_id, "data.user_id")?, "data.user_id")?;
    let application_id = opt(w.application_id, "data.application_id", uuid)?;
    let application_name = opt(w.application_name, "data.application_name", string)?;
    if matches!(
        action,
        RegistrationAction::Registered | RegistrationAction::Unregistered
    ) && application_id.is_none()
    {
        return Err(violation(
            "data.application_id",
            format!("required when action is {}", action.as_str()),
        ));
    }
    Ok(Body::Registration(Registration {
        action,
        user_id,
        application_id,
        application_name,
    }))
}

fn token(raw: &RawValue) -> Result<Body> {
    let w: WireToken<'_> = object(raw, "data")?;
    let grant_type = non_empty(w.grant_type, "data.grant_type")?;
    let token_type = string(
        required(w.token_type, "data.token_type")?,
        "data.token_type",
    )?;
    if !TOKEN_TYPES.contains(&token_type.as_str()) {
        return Err(violation(
            "data.token_type",
            format!(
                "must be one of {}, got {}",
                TOKEN_TYPES.join(", "),
                quoted(&token_type)
            ),
        ));
    }
    let client_id = non_empty(w.client_id, "data.client_id")?;
    let application_id = opt(w.application_id, "data.application_id", uuid)?;
    let user_id = opt(w.user_id, "data.user_id", uuid)?;
    Ok(Body::Token(Token {
        grant_type,
        token_type,
        client_id,
        application_id,
        user_id,
    }))
}

fn session(raw: &RawValue) -> Result<Body> {
    let w: WireSession<'_> = object(raw, "data")?;
    let action_s = string(required(w.action, "data.action")?, "data.action")?;
    let action = SessionAction::from_wire(&action_s).ok_or_else(|| {
        violation(
            "data.action",
            format!("must be one of created, revoked, got {}", quoted(&action_s)),
        )
    })?;
    let session_id = non_empty(w.session_id, "data.session_id")?;
    let user_id = uuid(required(w.user_id, "data.user_id")?, "data.user_id")?;
    let expires_at = opt(w.expires_at, "data.expires_at", timestamp)?;
    let application_id = opt(w.application_id, "data.application_id", uuid)?;
    if action == SessionAction::Created && expires_at.is_none() {
        return Err(violation(
            "data.expires_at",
            "required when action is created",
        ));
    }
    Ok(Body::Session(Session {
        action,
        session_id,
        user_id,
        expires_at,
        application_id,
    }))
}

fn audit(raw: &RawValue) -> Result<Body> {
    let w: WireAudit<'_> = object(raw, "data")?;
    let action = string(required(w.action, "data.action")?, "data.action")?;
    if !is_valid_action(&action) {
        return Err(violation(
            "data.action",
            format!(
                "must match ^[a-z0-9_]+(\\.[a-z0-9_]+)+$ (e.g. user.created), got {}",
                quoted(&action)
            ),
        ));
    }
    let entity_type = string(
        required(w.entity_type, "data.entity_type")?,
        "data.entity_type",
    )?;
    if !is_valid_entity_type(&entity_type) {
        return Err(violation(
            "data.entity_type",
            format!(
                "must be a lowercase word matching ^[a-z][a-z0-9_]*$ (e.g. user), got {}",
                quoted(&entity_type)
            ),
        ));
    }
    let entity_id = non_empty(w.entity_id, "data.entity_id")?;
    let actor_id = opt(w.actor_id, "data.actor_id", string)?;
    let actor_email = opt(w.actor_email, "data.actor_email", string)?;
    let organization_id = opt(w.organization_id, "data.organization_id", string)?;
    let metadata = match w.metadata {
        None => serde_json::Map::new(),
        Some(m) => object(m, "data.metadata")?,
    };
    let ip_address = opt(w.ip_address, "data.ip_address", ip_addr)?;
    Ok(Body::Audit(Audit {
        action,
        entity_type,
        entity_id,
        actor_id,
        actor_email,
        organization_id,
        metadata,
        ip_address,
    }))
}

// ---------------------------------------------------------------------------
// Field helpers. `path` is the dotted path used in violation messages.

fn violation(path: &str, why: impl std::fmt::Display) -> ContractError {
    ContractError::Violation(format!("{path}: {why}"))
}

fn required<'a>(field: Field<'a>, path: &str) -> Result<&'a RawValue> {
    field.ok_or_else(|| violation(path, "required"))
}

fn opt<T>(
    field: Field<'_>,
    path: &str,
    decode: impl FnOnce(&RawValue, &str) -> Result<T>,
) -> Result<Option<T>> {
    field.map(|raw| decode(raw, path)).transpose()
}

fn first_byte(s: &str) -> Option<u8> {
    s.bytes().find(|b| !b.is_ascii_whitespace())
}

fn json_kind(raw: &str) -> &'static str {
    match first_byte(raw) {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn expect_kind(raw: &RawValue, path: &str, want: &'static str) -> Result<()> {
    let got = json_kind(raw.get());
    if got == want {
        Ok(())
    } else {
        let want = if want == "object" {
            "JSON object"
        } else {
            want
        };
        Err(violation(path, format!("must be a {want}, got {got}")))
    }
}

/// serde_json's message without its " at line L column C" suffix (positions
/// inside a sub-slice would be misleading).
fn message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    if e.line() != 0 {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        if let Some(stripped) = s.strip_suffix(&suffix) {
            return stripped.to_owned();
        }
    }
    s
}

/// `UnknownType` carries at most this many characters of the bad `type`.
const MAX_TYPE_ECHO: usize = 128;

fn truncate(mut s: String, max_chars: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max_chars) {
        s.truncate(cut);
    }
    s
}

/// A value echoed in a message: debug-quoted and cut to 64 chars.
fn quoted(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue, path: &str) -> Result<T> {
    expect_kind(raw, path, "object")?;
    serde_json::from_str(raw.get()).map_err(|e| violation(path, message(&e)))
}

fn string(raw: &RawValue, path: &str) -> Result<String> {
    expect_kind(raw, path, "string")?;
    let s = raw.get();
    // Fast path: no escapes, so the content between the quotes is the value
    // (the envelope pass already validated the string).
    if s.len() >= 2 && !s.contains('\\') {
        return Ok(s[1..s.len() - 1].to_owned());
    }
    serde_json::from_str::<String>(s).map_err(|e| violation(path, message(&e)))
}

fn non_empty(field: Field<'_>, path: &str) -> Result<String> {
    let s = string(required(field, path)?, path)?;
    if s.is_empty() {
        return Err(violation(path, "must be non-empty"));
    }
    Ok(s)
}

fn boolean(raw: &RawValue, path: &str) -> Result<bool> {
    match raw.get() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(violation(
            path,
            format!("must be a boolean, got {}", json_kind(other)),
        )),
    }
}

fn uuid(raw: &RawValue, path: &str) -> Result<Uuid> {
    let s = string(raw, path)?;
    // Only the canonical 8-4-4-4-12 form (36 chars); the uuid crate would
    // also take simple/braced/urn forms, which the JSON Schema does not.
    if s.len() == 36 {
        if let Ok(u) = Uuid::try_parse(&s) {
            return Ok(u);
        }
    }
    Err(violation(
        path,
        format!(
            "must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), got {}",
            quoted(&s)
        ),
    ))
}

fn timestamp(raw: &RawValue, path: &str) -> Result<DateTime<Utc>> {
    let s = string(raw, path)?;
    let t = DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            violation(
                path,
                format!(
                    "must be an RFC 3339 timestamp with offset, e.g. 2026-03-08T01:30:00-07:00 ({e}), got {}",
                    quoted(&s)
                ),
            )
        })?;
    // The store's time types cannot hold everything RFC 3339 can say:
    // reject what they would wrap or clamp (docs/events.md, "Time range").
    if !(MIN_EVENT_TIME..MAX_EVENT_TIME).contains(&t.timestamp()) {
        return Err(ContractError::OutOfRange(format!(
            "{path}: must be from 1970-01-02T00:00:00Z up to (not including) 2100-01-01T00:00:00Z, got {}",
            quoted(&s)
        )));
    }
    Ok(t)
}

fn ip_addr(raw: &RawValue, path: &str) -> Result<String> {
    let s = string(raw, path)?;
    s.parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| {
        violation(
            path,
            format!("must be an IPv4 or IPv6 address, got {}", quoted(&s)),
        )
    })
}
