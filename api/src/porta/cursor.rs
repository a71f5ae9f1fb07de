//! History cursors: base64url (no padding) of the compact JSON
//! `{"c":"<createdAt, RFC 3339 with milliseconds, Z>","i":"<entry id>"}` —
//! the last entry of the previous page (Porta's format). Decoding is
//! strict: anything that is not exactly the canonical encoding of such a
//! pair is rejected (400), never ignored.

use authpulse_store::HistoryCursor;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::orgs::iso_millis;

/// Longest accepted cursor text.
const MAX_LEN: usize = 256;
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    c: String,
    i: String,
}

pub fn encode(c: HistoryCursor) -> String {
    let json = serde_json::to_vec(&Wire {
        c: iso_millis(c.created_at_ms),
        i: c.id.to_string(),
    })
    .unwrap_or_default();
    b64_encode(&json)
}

/// `None` when the text is not a cursor this service issued.
pub fn decode(text: &str) -> Option<HistoryCursor> {
    if text.is_empty() || text.len() > MAX_LEN {
        return None;
    }
    let bytes = b64_decode(text)?;
    let wire: Wire = serde_json::from_slice(&bytes).ok()?;
    let at = DateTime::parse_from_rfc3339(&wire.c).ok()?;
    let id = Uuid::parse_str(&wire.i).ok()?;
    let cursor = HistoryCursor {
        created_at_ms: at.timestamp_millis(),
        id,
    };
    // Only the canonical form is accepted (no padding, whitespace, other
    // spellings of the same time or id).
    (encode(cursor) == text).then_some(cursor)
}

fn b64_encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let chars = chunk.len() + 1;
        for k in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut vals = Vec::with_capacity(text.len());
    for b in text.bytes() {
        vals.push(ALPHABET.iter().position(|&a| a == b)? as u32);
    }
    if vals.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let mut n = 0u32;
        for (k, v) in chunk.iter().enumerate() {
            n |= v << (18 - 6 * k);
        }
        for k in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * k)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let c = HistoryCursor {
            created_at_ms: 1_768_473_000_123,
            id: Uuid::from_u128(0x98fe_463a),
        };
        let text = encode(c);
        assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
        assert_eq!(decode(&text), Some(c));
        for len in 0..5 {
            let data: Vec<u8> = (0..len).map(|i| i as u8 * 77).collect();
            assert_eq!(b64_decode(&b64_encode(&data)).unwrap(), data);
        }
        assert_eq!(b64_encode(b"{\"c\""), "eyJjIg");
        let mut flipped = text.clone().into_bytes();
        flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(decode(std::str::from_utf8(&flipped).unwrap()), None);
        for bad in [
            "",
            "garbage!",
            "eyJjIjoiMjAyNi0wMS0xNVQxMDozMDowMFoiLCJpIjoiOThmZTQ2M2EtLi4uIn0",
            &format!("{text}="),
            &text[1..],
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        // A well-formed but non-canonical spelling is refused too.
        let loose = b64_encode(
            br#"{"c":"2026-01-15T10:30:00Z","i":"00000000-0000-0000-0000-000098fe463a"}"#,
        );
        assert_eq!(decode(&loose), None);
    }
}
