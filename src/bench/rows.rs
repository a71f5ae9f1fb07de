//! Events as JSONEachRow rows of the raw tables (the same columns the
//! consumer writes), buffered per table.

use authpulse_schemas::{Body, Event};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

pub const TABLES: [&str; 5] = [
    "login_events",
    "registration_events",
    "token_events",
    "session_events",
    "audit_events",
];

fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn uuid(u: Option<Uuid>) -> String {
    u.unwrap_or_default().to_string()
}

/// Appends `e` as one JSON line to `out`; returns its table index.
pub fn write_row(out: &mut Vec<u8>, e: &Event) -> usize {
    let (id, at, org, slug) = (
        e.id.to_string(),
        ts(&e.occurred_at),
        e.org.id.to_string(),
        &e.org.slug,
    );
    let (table, v) = match &e.body {
        Body::Login(l) => (
            0,
            json!({
                "event_id": id, "occurred_at": at, "org_id": org, "org_slug": slug,
                "application_id": l.application_id.to_string(),
                "application_name": l.application_name.as_deref().unwrap_or(""),
                "user_id": uuid(l.user_id),
                "login_id": l.login_id,
                "success": l.success,
                "failure_reason": if l.success { "" } else { l.failure_reason.as_deref().unwrap_or("") },
                "provider": l.provider,
                "ip": l.ip.as_deref().unwrap_or(""),
                "user_agent": l.user_agent.as_deref().unwrap_or(""),
                "session_id": l.session_id.as_deref().unwrap_or(""),
            }),
        ),
        Body::Registration(r) => (
            1,
            json!({
                "event_id": id, "occurred_at": at, "org_id": org, "org_slug": slug,
                "action": r.action.as_str(),
                "user_id": r.user_id.to_string(),
                "application_id": uuid(r.application_id),
                "application_name": r.application_name.as_deref().unwrap_or(""),
            }),
        ),
        Body::Token(t) => (
            2,
            json!({
                "event_id": id, "occurred_at": at, "org_id": org, "org_slug": slug,
                "grant_type": t.grant_type, "token_type": t.token_type, "client_id": t.client_id,
                "application_id": uuid(t.application_id),
                "user_id": uuid(t.user_id),
            }),
        ),
        Body::Session(s) => (
            3,
            json!({
                "event_id": id, "occurred_at": at, "org_id": org, "org_slug": slug,
                "action": s.action.as_str(),
                "session_id": s.session_id,
                "user_id": s.user_id.to_string(),
                "expires_at": ts(&s.expires_at.unwrap_or(DateTime::UNIX_EPOCH)),
                "application_id": uuid(s.application_id),
            }),
        ),
        Body::Audit(a) => (
            4,
            json!({
                "event_id": id, "occurred_at": at, "org_id": org, "org_slug": slug,
                "action": a.action, "entity_type": a.entity_type, "entity_id": a.entity_id,
                "actor_id": a.actor_id.as_deref().unwrap_or(""),
                "actor_email": a.actor_email.as_deref().unwrap_or(""),
                "organization_id": a.organization_id.as_deref().unwrap_or(""),
                "metadata": a.metadata_json(),
                "ip_address": a.ip_address.as_deref().unwrap_or(""),
            }),
        ),
    };
    serde_json::to_writer(&mut *out, &v).expect("JSON to memory");
    out.push(b'\n');
    table
}

/// Rows buffered per raw table.
#[derive(Default)]
pub struct TableBuffers {
    pub bufs: [Vec<u8>; 5],
    pub rows: [u64; 5],
}

impl TableBuffers {
    pub fn push(&mut self, e: &Event) -> usize {
        let t = match &e.body {
            Body::Login(_) => 0,
            Body::Registration(_) => 1,
            Body::Token(_) => 2,
            Body::Session(_) => 3,
            Body::Audit(_) => 4,
        };
        write_row(&mut self.bufs[t], e);
        self.rows[t] += 1;
        t
    }

    /// Takes the buffers holding at least `min_bytes` (all non-empty ones
    /// for 0).
    pub fn take(&mut self, min_bytes: usize) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (t, b) in self.bufs.iter_mut().enumerate() {
            if !b.is_empty() && b.len() >= min_bytes {
                out.push((t, std::mem::take(b)));
            }
        }
        out
    }
}
