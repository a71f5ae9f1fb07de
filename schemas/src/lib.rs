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
