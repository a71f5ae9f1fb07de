//! Typed, validated event model.
//!
//! Values of these types are normally produced by [`crate::parse`], which
//! applies every contract rule. Serializing an [`Event`] (with `serde_json` or
//! [`crate::to_json`]) emits exactly the wire format of the contract, and
//! deserializing an [`Event`] through serde runs the same validation as
//! [`crate::parse`]. The payload structs (`Login`, `Token`, ...) derive plain
//! serde impls with the contract's field names; only `Event` validates.

use chrono::{DateTime, Utc};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The organization (tenant) an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Org {
    pub id: Uuid,
    /// Non-empty, at most 128 characters.
    pub slug: String,
}

/// One validated event: the envelope plus its type-specific body.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Producer-assigned id; the dedup key.
    pub id: Uuid,
    /// When it happened, normalized to UTC.
    pub occurred_at: DateTime<Utc>,
    pub org: Org,
    pub body: Body,
}

/// Type-specific payload. On the wire the variant is the envelope's `type`
/// and its fields live under `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum Body {
    Login(Login),
    Registration(Registration),
    Token(Token),
    Session(Session),
    Audit(Audit),
}

impl Body {
    /// The wire `type` of this body: `"login"`, `"registration"`, `"token"`,
    /// `"session"` or `"audit"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Login(_) => "login",
            Body::Registration(_) => "registration",
            Body::Token(_) => "token",
            Body::Session(_) => "session",
            Body::Audit(_) => "audit",
        }
    }
}

/// A login attempt (successful or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    pub success: bool,
    /// Present and non-empty whenever `success` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Always present when `success` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// Email or username as typed.
    pub login_id: String,
    pub application_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// Identity provider, trimmed and lowercased (`github`, `password`, ...).
    pub provider: String,
    /// Canonical textual form of a valid IPv4/IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// What happened to a user / registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationAction {
    UserCreated,
    Registered,
    Unregistered,
    UserDeleted,
}

impl RegistrationAction {
    pub const ALL: [RegistrationAction; 4] = [
        RegistrationAction::UserCreated,
        RegistrationAction::Registered,
        RegistrationAction::Unregistered,
        RegistrationAction::UserDeleted,
    ];

    /// Wire spelling: `user_created`, `registered`, `unregistered`, `user_deleted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RegistrationAction::UserCreated => "user_created",
            RegistrationAction::Registered => "registered",
            RegistrationAction::Unregistered => "unregistered",
            RegistrationAction::UserDeleted => "user_deleted",
        }
    }

    pub(crate) fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// User lifecycle / application registration change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub action: RegistrationAction,
    pub user_id: Uuid,
    /// Always present for `registered` / `unregistered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
}

/// A token issued by the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// OAuth grant type; open set (see [`crate::TOKEN_TYPES`] for `token_type`).
    pub grant_type: String,
    /// One of [`crate::TOKEN_TYPES`].
    pub token_type: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
}

/// Session lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionAction {
    Created,
    Revoked,
}

impl SessionAction {
    /// Wire spelling: `created` or `revoked`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionAction::Created => "created",
            SessionAction::Revoked => "revoked",
        }
    }

    pub(crate) fn from_wire(s: &str) -> Option<Self> {
        match s {
            "created" => Some(SessionAction::Created),
            "revoked" => Some(SessionAction::Revoked),
            _ => None,
        }
    }
}

/// A session was created or revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub action: SessionAction,
    pub session_id: String,
    pub user_id: Uuid,
    /// Always present for `created`; normalized to UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
}

/// A Porta audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Dotted action, `^[a-z0-9_]+(\.[a-z0-9_]+)+$`, e.g. `user.auto_locked`.
    pub action: String,
    /// Lowercase word: `organization`, `user`, `application`, `client`, `role`, ...
    pub entity_type: String,
    pub entity_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// Free-form JSON object; `{}` when absent.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Canonical textual form of a valid IPv4/IPv6 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

impl Audit {
    /// `metadata` serialized compactly (e.g. `{"reason":"too_many_attempts"}`),
    /// the form stored in ClickHouse.
    pub fn metadata_json(&self) -> String {
        // Serializing a Map<String, Value> cannot fail.
        serde_json::to_string(&self.metadata).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The status the audited entity is in after this action, if the action
    /// is a lifecycle action. See [`crate::entity_status`].
    pub fn entity_status(&self) -> Option<&'static str> {
        crate::entity_status(&self.action)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Event", 5)?;
        s.serialize_field("id", &self.id)?;
        s.serialize_field("type", self.body.kind())?;
        s.serialize_field("occurred_at", &self.occurred_at)?;
        s.serialize_field("org", &self.org)?;
        match &self.body {
            Body::Login(d) => s.serialize_field("data", d)?,
            Body::Registration(d) => s.serialize_field("data", d)?,
            Body::Token(d) => s.serialize_field("data", d)?,
            Body::Session(d) => s.serialize_field("data", d)?,
            Body::Audit(d) => s.serialize_field("data", d)?,
        }
        s.end()
    }
}

/// Deserializing an `Event` through serde applies the full contract (it goes
/// through [`crate::parse`]); errors carry the [`crate::ContractError`] text.
/// Prefer calling [`crate::parse`] directly: it is faster and keeps the
/// machine-readable reason code.
impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let bytes = serde_json::to_vec(&value).map_err(serde::de::Error::custom)?;
        crate::parse(&bytes).map_err(serde::de::Error::custom)
    }
}
