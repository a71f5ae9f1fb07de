//! # authpulse-schemas
//!
//! The producer contract for authpulse events (identity / auth analytics,
//! Kafka -> ClickHouse): a CloudEvents-like envelope
//! (`id`, `type`, `occurred_at`, `org`, `data`) with a type-specific `data`
//! payload. The human-readable contract is `docs/events.md`; JSON Schemas
//! (draft 2020-12) are in `schemas/json/`, one per event type.
//!
//! ```
//! let raw = br#"{"id":"0b9d6c2e-8f1a-4c1e-9a57-3f2d1e0c4b5a","type":"token",
//!   "occurred_at":"2026-03-08T01:30:00-07:00",
//!   "org":{"id":"7f3e2a10-5b4c-4d8e-9f01-23456789abcd","slug":"acme"},
//!   "data":{"grant_type":"refresh_token","token_type":"access_token","client_id":"web"}}"#;
//! let event = authpulse_schemas::parse(raw).unwrap();
//! assert_eq!(event.body.kind(), "token");
//! assert_eq!(event.occurred_at.to_rfc3339(), "2026-03-08T08:30:00+00:00");
//! // and back to the exact wire format
//! assert_eq!(authpulse_schemas::parse(&authpulse_schemas::to_json(&event)).unwrap(), event);
//!
//! let err = authpulse_schemas::parse(b"{\"type\":\"nope\"}").unwrap_err();
//! assert_eq!(err.code(), "unknown_type");
//! ```

mod audit;
mod error;
mod model;
mod parse;

pub use audit::entity_status;
pub use error::ContractError;
pub use model::{
    Audit, Body, Event, Login, Org, Registration, RegistrationAction, Session, SessionAction, Token,
};
pub use parse::parse;

/// Largest accepted raw message, in bytes; larger ones are rejected as
/// [`ContractError::Oversized`] before any parsing.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Earliest accepted `occurred_at` / `expires_at` (inclusive):
/// 1970-01-02T00:00:00Z. ClickHouse's `Date` and `DateTime` (the rollups'
/// buckets, TTLs) start at 1970-01-01 and wrap or clamp before it; a day
/// later every report timezone's local date (offsets −12 h … +14 h) is on or
/// after 1970-01-01 too.
pub const MIN_EVENT_TIME: i64 = 86_400;

/// First rejected `occurred_at` / `expires_at`: 2100-01-01T00:00:00Z. With
/// raw retention of at most [`MAX_RAW_RETENTION_DAYS`] the TTL
/// (`toDateTime(occurred_at) + retention`) stays below `DateTime`'s end
/// (2106-02-07) instead of wrapping to the past.
pub const MAX_EVENT_TIME: i64 = 4_102_444_800;

/// Longest raw retention (days) that keeps the TTL of every accepted time
/// inside `DateTime`'s range (see [`MAX_EVENT_TIME`]).
pub const MAX_RAW_RETENTION_DAYS: u32 = 2190;

/// Every valid envelope `type`, in the order of the [`Body`] variants.
pub const EVENT_TYPES: [&str; 5] = ["login", "registration", "token", "session", "audit"];

/// Every valid `data.token_type` of a `token` event.
pub const TOKEN_TYPES: [&str; 4] = ["access_token", "id_token", "refresh_token", "uma_token"];

/// Serialize an event in exactly the contract's wire format (compact JSON;
/// optional fields that are `None` are omitted, `occurred_at` is UTC with a
/// `Z` suffix). `parse(&to_json(&e))` returns `e` for any event `parse`
/// produced.
pub fn to_json(event: &Event) -> Vec<u8> {
    // Serialization cannot fail: every map key is a string and no impl
    // returns a custom error.
    serde_json::to_vec(event).unwrap_or_default()
}
