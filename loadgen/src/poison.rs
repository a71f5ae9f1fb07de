//! Invalid messages, each with the reason code `authpulse_schemas::parse`
//! must reject it with.

use authpulse_schemas::{to_json, Body, Event, MAX_EVENT_BYTES};
use serde_json::{json, Value};

use crate::rng::Rng;

pub(crate) const MALFORMED_JSON: &str = "malformed_json";
pub(crate) const CONTRACT_VIOLATION: &str = "contract_violation";
pub(crate) const UNKNOWN_TYPE: &str = "unknown_type";
pub(crate) const OVERSIZED: &str = "oversized";

const UNKNOWN_TYPES: [&str; 7] = [
    "signup",
    "logout",
    "password_reset",
    "mfa_challenge",
    "LOGIN",
    "Token",
    "login ",
];

/// A poison message derived from the valid event `base`.
pub(crate) fn make(rng: &mut Rng, base: &Event) -> (Vec<u8>, &'static str) {
    match rng.weighted(&[35, 45, 15, 5]) {
        0 => (malformed(rng, base), MALFORMED_JSON),
        1 => (violation(rng, base), CONTRACT_VIOLATION),
        2 => (unknown_type(rng, base), UNKNOWN_TYPE),
        _ => (oversized(rng, base), OVERSIZED),
    }
}

fn malformed(rng: &mut Rng, base: &Event) -> Vec<u8> {
    let mut bytes = to_json(base);
    match rng.index(7) {
        // Truncated (a producer crash mid-write): never a complete object.
        0 => {
            let cut = 1 + rng.index(bytes.len() - 1);
            bytes.truncate(cut);
        }
        // Trailing data after the object.
        1 => bytes.extend_from_slice(b"}"),
        2 => bytes.extend_from_slice(b"\n{\"id\":1}"),
        // Not UTF-8.
        3 => {
            let at = 1 + rng.index(bytes.len() - 1);
            bytes.insert(at, 0xFF);
        }
        // Not JSON at all.
        4 => {
            bytes = b"<html><body>502 Bad Gateway</body></html>".to_vec();
        }
        // A raw control character inside a string.
        5 => {
            let at = find(&bytes, b"\"org\":{\"id\":\"").map_or(2, |i| i + 13);
            bytes.insert(at, 0x01);
        }
        // An invalid escape inside a string.
        _ => {
            let at = find(&bytes, b"\"slug\":\"").map_or(2, |i| i + 8);
            bytes.splice(at..at, b"\\q".iter().copied());
        }
    }
    bytes
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn value(base: &Event) -> serde_json::Map<String, Value> {
    match serde_json::to_value(base) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

fn data(m: &mut serde_json::Map<String, Value>) -> &mut serde_json::Map<String, Value> {
    match m.get_mut("data") {
        Some(Value::Object(d)) => d,
        _ => unreachable!("events always serialize an object under data"),
    }
}

fn violation(rng: &mut Rng, base: &Event) -> Vec<u8> {
    let mut m = value(base);
    // Type-specific violations first (half of them), then envelope ones.
    if rng.chance(0.5) {
        let d = data(&mut m);
        match &base.body {
            Body::Login(_) => match rng.index(4) {
                0 => {
                    d.insert("success".into(), json!("true"));
                }
                1 => {
                    d.insert("success".into(), json!(false));
                    d.remove("failure_reason");
                }
                2 => {
                    d.remove("user_id");
                }
                _ => {
                    d.insert("ip".into(), json!("10.0.0.1:80"));
                }
            },
            Body::Registration(_) => match rng.index(2) {
                0 => {
                    d.remove("application_id");
                }
                _ => {
                    d.insert("action".into(), json!("created"));
                }
            },
            Body::Token(_) => match rng.index(2) {
                0 => {
                    d.insert("token_type".into(), json!("bearer"));
                }
                _ => {
                    d.insert("client_id".into(), json!(""));
                }
            },
            Body::Session(_) => match rng.index(2) {
                0 => {
                    d.remove("expires_at");
                }
                _ => {
                    d.insert("user_id".into(), Value::Null);
                }
            },
            Body::Audit(_) => match rng.index(3) {
                0 => {
                    d.insert("action".into(), json!("User.Created"));
                }
                1 => {
                    d.insert("metadata".into(), json!("{\"reason\":\"x\"}"));
                }
                _ => {
                    d.remove("entity_id");
                }
            },
        }
        return serde_json::to_vec(&Value::Object(m)).unwrap_or_default();
    }
    match rng.index(11) {
        0 => {
            m.remove("id");
        }
        1 => {
            let simple = base.id.simple().to_string();
            m.insert("id".into(), json!(simple));
        }
        2 => {
            let naive = base.occurred_at.format("%Y-%m-%dT%H:%M:%S").to_string();
            m.insert("occurred_at".into(), json!(naive));
        }
        3 => {
            m.insert("occurred_at".into(), Value::Null);
        }
        4 => {
            m.insert(
                "org".into(),
                json!({ "id": base.org.id.to_string(), "slug": "" }),
            );
        }
        5 => {
            m.remove("org");
        }
        6 => {
            m.insert("data".into(), json!([]));
        }
        7 => {
            m.remove("type");
        }
        8 => {
            m.insert("type".into(), json!(42));
        }
        9 => {
            // Not an object.
            return serde_json::to_vec(&Value::Array(vec![Value::Object(m)])).unwrap_or_default();
        }
        _ => {
            // Duplicated envelope field.
            let mut bytes = to_json(base);
            let dup = format!("{{\"id\":\"{}\",", base.id);
            bytes.splice(0..1, dup.bytes());
            return bytes;
        }
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

fn unknown_type(rng: &mut Rng, base: &Event) -> Vec<u8> {
    let mut m = value(base);
    m.insert(
        "type".into(),
        json!(UNKNOWN_TYPES[rng.index(UNKNOWN_TYPES.len())]),
    );
    if rng.chance(0.3) {
        // Whatever else is wrong, the type wins.
        m.remove("id");
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

fn oversized(rng: &mut Rng, base: &Event) -> Vec<u8> {
    // An otherwise valid event with a huge extra field.
    let mut m = value(base);
    let pad = MAX_EVENT_BYTES + 1 + rng.index(16 * 1024);
    m.insert("debug_dump".into(), json!("x".repeat(pad)));
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}
