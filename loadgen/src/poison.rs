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

/// Every kind of hostile message the attack suite sends
/// (`deploy/local/attack/20-poison.sh`), with the reason code it must be
/// dead-lettered with.
pub const HOSTILE_KINDS: [(&str, &str); 14] = [
    ("truncated", MALFORMED_JSON),
    ("invalid_utf8", MALFORMED_JSON),
    ("nul_in_string", MALFORMED_JSON),
    ("nul_prefix", MALFORMED_JSON),
    ("empty", MALFORMED_JSON),
    ("nested_10000", CONTRACT_VIOLATION),
    ("wrong_types", CONTRACT_VIOLATION),
    ("duplicate_keys", CONTRACT_VIOLATION),
    ("pre_1970", OUT_OF_RANGE),
    ("year_1", OUT_OF_RANGE),
    ("year_2100", OUT_OF_RANGE),
    ("expires_pre_1970", OUT_OF_RANGE),
    ("unknown_type", UNKNOWN_TYPE),
    ("oversized", OVERSIZED),
];

pub(crate) const OUT_OF_RANGE: &str = "timestamp_out_of_range";

/// Hostile message of kind `HOSTILE_KINDS[kind]` derived from the valid
/// event `base`.
pub fn hostile(seed: u64, kind: usize, base: &Event) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let rng = &mut rng;
    let with = |field: &str, v: Value| {
        let mut m = value(base);
        m.insert(field.into(), v);
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    };
    match HOSTILE_KINDS[kind % HOSTILE_KINDS.len()].0 {
        "truncated" => {
            let mut b = to_json(base);
            b.truncate(1 + rng.index(b.len() - 1));
            b
        }
        "invalid_utf8" => {
            let mut b = to_json(base);
            let at = 1 + rng.index(b.len() - 1);
            b.insert(at, [0xFF, 0xC0, 0x80, 0xED][rng.index(4)]);
            b
        }
        "nul_in_string" => {
            let mut b = to_json(base);
            let at = find(&b, b"\"slug\":\"").map_or(2, |i| i + 8);
            b.insert(at, 0);
            b
        }
        "nul_prefix" => {
            let mut b = vec![0u8; 1 + rng.index(4)];
            b.extend(to_json(base));
            b
        }
        "empty" => Vec::new(),
        "nested_10000" => {
            // `data` nested 10 000 objects deep (in an unknown field the
            // nesting is skipped, and the event is valid).
            let mut m = value(base);
            m.remove("data");
            let mut b = serde_json::to_vec(&Value::Object(m)).unwrap_or_default();
            b.pop();
            b.extend_from_slice(b",\"data\":");
            b.extend("{\"a\":".repeat(10_000).bytes());
            b.extend_from_slice(b"1");
            b.extend("}".repeat(10_000).bytes());
            b.push(b'}');
            b
        }
        "wrong_types" => match rng.index(4) {
            0 => with("id", json!(42)),
            1 => with("org", json!("acme")),
            2 => with("occurred_at", json!(1_767_225_600)),
            _ => with("data", json!("login")),
        },
        "duplicate_keys" => {
            let mut b = to_json(base);
            let at = find(&b, b"\"data\":{").map_or(1, |i| i + 8);
            b.splice(at..at, b"\"k\":1,\"k\":2,".iter().copied());
            let mut env = format!("{{\"type\":\"{}\",", base.body.kind()).into_bytes();
            if rng.chance(0.5) {
                // The envelope's own key twice.
                env.extend_from_slice(&b[1..]);
                env
            } else {
                // Inside data: a field the parser reads, twice.
                let mut m = value(base);
                let d = data(&mut m);
                let (k, v) = d
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default();
                let mut out = serde_json::to_vec(&Value::Object(m)).unwrap_or_default();
                let at = find(&out, b"\"data\":{").map_or(1, |i| i + 8);
                let dup = format!("{}:{},", json!(k), v);
                out.splice(at..at, dup.bytes());
                out
            }
        }
        "pre_1970" => with(
            "occurred_at",
            json!(
                [
                    "1969-12-31T23:59:59.999Z",
                    "1969-07-20T20:17:40Z",
                    "1970-01-01T00:00:00Z"
                ][rng.index(3)]
            ),
        ),
        "year_1" => with(
            "occurred_at",
            json!(["0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z"][rng.index(2)]),
        ),
        "year_2100" => with(
            "occurred_at",
            json!(
                [
                    "2100-01-01T00:00:00Z",
                    "2106-02-07T06:28:16Z",
                    "9999-12-31T23:59:59Z"
                ][rng.index(3)]
            ),
        ),
        "expires_pre_1970" => {
            // A session created now that "expires" before 1970 (any other
            // type: the envelope time instead).
            let mut m = value(base);
            if let Body::Session(_) = base.body {
                data(&mut m).insert("expires_at".into(), json!("1969-12-31T23:00:00Z"));
            } else {
                m.insert("occurred_at".into(), json!("1960-05-01T00:00:00+02:00"));
            }
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        }
        "unknown_type" => unknown_type(rng, base),
        _ => oversized(rng, base),
    }
}
