//! # authpulse-loadgen
//!
//! A deterministic, streaming, multi-tenant generator of realistic
//! identity/auth traffic in the authpulse event contract (`docs/events.md`),
//! salted with late (out-of-order) events, exact re-sends and poison
//! messages, plus an [`Oracle`] that computes the exact expected results of
//! the report APIs from the generated stream.
//!
//! ```
//! use authpulse_loadgen::{generate, Oracle, Profile};
//! let profile = Profile { events: 2_000, users_per_org: 50, ..Profile::default() };
//! let mut oracle = Oracle::new();
//! for m in generate(&profile) {
//!     // producer.send(&m.key, &m.payload) ...
//!     oracle.observe(&m);
//! }
//! assert!(oracle.valid_events() > 1_800);
//! ```
//!
//! The generator and oracle have no Kafka code; the optional `kafka`
//! feature adds [`kafka::Sender`], the one fast producer that the binary's
//! `loadgen`/`demo`, the tests and the benchmark share.

mod gen;
mod ids;
#[cfg(feature = "kafka")]
pub mod kafka;
mod oracle;
mod poison;
mod rng;

use authpulse_schemas::Event;
use chrono::{DateTime, Duration, TimeZone, Utc};

pub use gen::{generate, Generator};
pub use ids::{app_ids, client_id, login_id, org_ids, org_slug, user_id, MAX_APPS_PER_ORG};
pub use oracle::{AppTotals, AuditEntry, Oracle, Totals};
pub use poison::{hostile, HOSTILE_KINDS};

/// Shape of the generated traffic. Everything is a pure function of this.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub seed: u64,
    /// Total messages, including duplicates and poison.
    pub events: u64,
    /// Tenants (at least 1).
    pub orgs: u32,
    /// Applications per org (1..=[`MAX_APPS_PER_ORG`]).
    pub apps_per_org: u32,
    /// Users per org (at least 1); user index = Zipf activity rank.
    pub users_per_org: u32,
    /// Start of the event-time span.
    pub start: DateTime<Utc>,
    /// Length of the event-time span; event times follow a diurnal/weekly
    /// curve and increase with the message index (except late events).
    pub span: Duration,
    /// Zipf exponent of user activity within an org.
    pub zipf_s: f64,
    /// Fraction of events whose occurred_at is 2 hours to 7 days earlier
    /// than their neighbours'.
    pub late_fraction: f64,
    /// Fraction of messages that are byte-identical re-sends of a recent
    /// (within ~50 messages) first send.
    pub duplicate_fraction: f64,
    /// Fraction of messages that `authpulse_schemas::parse` rejects.
    pub poison_fraction: f64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            seed: 42,
            events: 1_000_000,
            orgs: 5,
            apps_per_org: 4,
            users_per_org: 2_000,
            start: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            span: Duration::days(90),
            zipf_s: 1.1,
            late_fraction: 0.02,
            duplicate_fraction: 0.01,
            poison_fraction: 0.005,
        }
    }
}

/// One Kafka record to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Event id string for events and duplicates (a re-send lands in the
    /// same partition); `poison-<n>` for poison.
    pub key: String,
    /// The record value.
    pub payload: Vec<u8>,
    pub kind: MessageKind,
}

/// What a message is, i.e. what the ingester is expected to do with it.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // first sends are the common case
pub enum MessageKind {
    /// First send of a valid event (`payload == to_json(event)`).
    Event(Event),
    /// Exact re-send (same key and bytes) of the earlier event with this id;
    /// must be deduplicated.
    Duplicate(uuid::Uuid),
    /// Invalid message; `parse` fails with this reason code
    /// (`malformed_json`, `contract_violation`, `unknown_type`, `oversized`).
    Poison(&'static str),
}

impl Message {
    /// First send of `event`: key = id, payload = `to_json(event)`.
    pub fn event(event: Event) -> Message {
        Message {
            key: event.id.to_string(),
            payload: authpulse_schemas::to_json(&event),
            kind: MessageKind::Event(event),
        }
    }

    /// The event, for first sends.
    pub fn as_event(&self) -> Option<&Event> {
        match &self.kind {
            MessageKind::Event(e) => Some(e),
            _ => None,
        }
    }
}
