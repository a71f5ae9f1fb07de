//! RowBinary, the wire format of ingest's inserts, for the column types of
//! the tables it writes (`columns`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// RowBinary writer for the column types of the raw tables.
pub(crate) struct Enc<'a>(pub(crate) &'a mut Vec<u8>);

impl Enc<'_> {
    pub(crate) fn uuid(&mut self, u: Uuid) -> &mut Self {
        // Two little-endian UInt64: the high half, then the low half.
        let (hi, lo) = u.as_u64_pair();
        self.0.extend_from_slice(&hi.to_le_bytes());
        self.0.extend_from_slice(&lo.to_le_bytes());
        self
    }

    /// DateTime64(3): milliseconds since the epoch, Int64.
    pub(crate) fn millis(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.0
            .extend_from_slice(&t.timestamp_millis().to_le_bytes());
        self
    }

    /// String (and LowCardinality(String)): LEB128 length, then the bytes.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        let mut n = s.len() as u64;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(byte);
                break;
            }
            self.0.push(byte | 0x80);
        }
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    pub(crate) fn bool(&mut self, b: bool) -> &mut Self {
        self.0.push(u8::from(b));
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}
