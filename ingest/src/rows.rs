//! Event → ClickHouse row encoding, one row type per raw table.

use authpulse_schemas::{Body, Event};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Serialize;
use uuid::Uuid;

#[derive(Row, Serialize)]
pub struct LoginRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    org_id: Uuid,
    org_slug: String,
    #[serde(with = "clickhouse::serde::uuid")]
    application_id: Uuid,
    application_name: String,
    #[serde(with = "clickhouse::serde::uuid")]
    user_id: Uuid,
    login_id: String,
    success: bool,
    failure_reason: String,
    provider: String,
    ip: String,
    user_agent: String,
    session_id: String,
}

#[derive(Row, Serialize)]
pub struct RegistrationRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    org_id: Uuid,
    org_slug: String,
    action: &'static str,
    #[serde(with = "clickhouse::serde::uuid")]
    user_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    application_id: Uuid,
    application_name: String,
}

#[derive(Row, Serialize)]
pub struct TokenRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    org_id: Uuid,
    org_slug: String,
    grant_type: String,
    token_type: String,
    client_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    application_id: Uuid,
    #[serde(with = "clickhouse::serde::uuid")]
    user_id: Uuid,
}

#[derive(Row, Serialize)]
pub struct SessionRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    org_id: Uuid,
    org_slug: String,
    action: &'static str,
    session_id: String,
    #[serde(with = "clickhouse::serde::uuid")]
    user_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    expires_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    application_id: Uuid,
}

#[derive(Row, Serialize)]
pub struct AuditRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
    #[serde(with = "clickhouse::serde::chrono::datetime64::millis")]
    occurred_at: DateTime<Utc>,
    #[serde(with = "clickhouse::serde::uuid")]
    org_id: Uuid,
    org_slug: String,
    action: String,
    entity_type: String,
    entity_id: String,
    actor_id: String,
    actor_email: String,
    organization_id: String,
    metadata: String,
    ip_address: String,
}

#[derive(Row, Serialize, Clone)]
pub struct DeadLetterRow {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    pub reason: &'static str,
    pub detail: String,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

#[derive(Row, Serialize)]
pub struct EventIdRow {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
}

/// The rows of one batch, grouped by destination table.
#[derive(Default)]
pub struct Rows {
    pub logins: Vec<LoginRow>,
    pub registrations: Vec<RegistrationRow>,
    pub tokens: Vec<TokenRow>,
    pub sessions: Vec<SessionRow>,
    pub audits: Vec<AuditRow>,
    pub dead_letters: Vec<DeadLetterRow>,
    pub event_ids: Vec<EventIdRow>,
}

impl Rows {
    pub fn push(&mut self, e: Event) {
        let (event_id, occurred_at, org_id, org_slug) = (e.id, e.occurred_at, e.org.id, e.org.slug);
        match e.body {
            Body::Login(l) => self.logins.push(LoginRow {
                event_id,
                occurred_at,
                org_id,
                org_slug,
                application_id: l.application_id,
                application_name: l.application_name.unwrap_or_default(),
                user_id: l.user_id.unwrap_or_default(),
                login_id: l.login_id,
                success: l.success,
                failure_reason: if l.success {
                    String::new()
                } else {
                    l.failure_reason.unwrap_or_default()
                },
                provider: l.provider,
                ip: l.ip.unwrap_or_default(),
                user_agent: l.user_agent.unwrap_or_default(),
                session_id: l.session_id.unwrap_or_default(),
            }),
            Body::Registration(r) => self.registrations.push(RegistrationRow {
                event_id,
                occurred_at,
                org_id,
                org_slug,
                action: r.action.as_str(),
                user_id: r.user_id,
                application_id: r.application_id.unwrap_or_default(),
                application_name: r.application_name.unwrap_or_default(),
            }),
            Body::Token(t) => self.tokens.push(TokenRow {
                event_id,
                occurred_at,
                org_id,
                org_slug,
                grant_type: t.grant_type,
                token_type: t.token_type,
                client_id: t.client_id,
                application_id: t.application_id.unwrap_or_default(),
                user_id: t.user_id.unwrap_or_default(),
            }),
            Body::Session(s) => self.sessions.push(SessionRow {
                event_id,
                occurred_at,
                org_id,
                org_slug,
                action: s.action.as_str(),
                session_id: s.session_id,
                user_id: s.user_id,
                expires_at: s.expires_at.unwrap_or(DateTime::UNIX_EPOCH),
                application_id: s.application_id.unwrap_or_default(),
            }),
            Body::Audit(a) => self.audits.push(AuditRow {
                event_id,
                occurred_at,
                org_id,
                org_slug,
                metadata: a.metadata_json(),
                action: a.action,
                entity_type: a.entity_type,
                entity_id: a.entity_id,
                actor_id: a.actor_id.unwrap_or_default(),
                actor_email: a.actor_email.unwrap_or_default(),
                organization_id: a.organization_id.unwrap_or_default(),
                ip_address: a.ip_address.unwrap_or_default(),
            }),
        }
    }

    /// Messages in the batch: accepted events and dead letters.
    pub fn messages(&self) -> usize {
        self.accepted() + self.dead_letters.len()
    }

    pub fn accepted(&self) -> usize {
        self.logins.len()
            + self.registrations.len()
            + self.tokens.len()
            + self.sessions.len()
            + self.audits.len()
    }
}
