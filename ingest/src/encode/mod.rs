//! Event → ClickHouse row encoding: each accepted event is written straight
//! into its raw table's RowBinary buffer (and its id into the id table's),
//! so an open batch holds about 300 bytes per login instead of a struct
//! with eight heap strings (~650 bytes), and a store sends the buffers as
//! they are. Dead letters (rare) stay typed rows: they also go to the DLQ
//! topic.

pub mod columns;
mod rowbinary;

use authpulse_schemas::{Body, Event};
use bytes::Bytes;
use chrono::DateTime;
use uuid::Uuid;

use crate::dead_letter::DeadLetterRow;
use rowbinary::Enc;

/// Buffers are grown in chunks of this size (a row never needs the whole
/// buffer contiguous: RowBinary rows are simply concatenated), so growing a
/// batch never copies it and a batch holds at most one part-filled chunk.
const CHUNK: usize = 64 << 10;

/// One table's rows of a batch, RowBinary-encoded.
#[derive(Default)]
pub struct Encoded {
    chunks: Vec<Vec<u8>>,
    rows: usize,
    /// Where each row starts: (chunk, byte offset). A row never spans
    /// chunks; it ends where the next one starts or at its chunk's end.
    starts: Vec<(u32, u32)>,
}

impl Encoded {
    pub fn rows(&self) -> usize {
        self.rows
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// The buffer to append one row to.
    pub(crate) fn row(&mut self) -> Enc<'_> {
        self.rows += 1;
        let need_new = self
            .chunks
            .last()
            .is_none_or(|c| c.len() + 4096 > c.capacity());
        if need_new {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let chunk = self.chunks.len() - 1;
        let start = self.chunks[chunk].len();
        self.starts.push((chunk as u32, start as u32));
        Enc(self.chunks.last_mut().expect("a chunk was pushed"))
    }

    /// These rows without the rows numbered in `drop` (re-sends found at
    /// store time), copied; the rows keep their order.
    pub fn without(&self, drop: &std::collections::HashSet<usize>) -> Encoded {
        let mut out = Encoded::default();
        for (i, &(chunk, start)) in self.starts.iter().enumerate() {
            if drop.contains(&i) {
                continue;
            }
            let bytes = &self.chunks[chunk as usize];
            let end = match self.starts.get(i + 1) {
                Some(&(next_chunk, next)) if next_chunk == chunk => next as usize,
                _ => bytes.len(),
            };
            out.row().0.extend_from_slice(&bytes[start as usize..end]);
        }
        out
    }

    /// The encoded rows, chunk by chunk, to send.
    pub fn chunks(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.chunks
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| Bytes::copy_from_slice(c))
    }
}

/// An accepted event of a batch: where its row is, for the re-send check at
/// store time (docs/delivery.md, "Producer re-sends").
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub id: Uuid,
    pub offset: i64,
    /// `occurred_at`, milliseconds (the claim's retention).
    pub at_ms: i64,
    /// Index into [`columns::RAW_TABLES`] and the row's number in that table's buffer.
    pub table: u8,
    pub row: u32,
}

/// The rows of one batch, by destination table.
#[derive(Default)]
pub struct Rows {
    /// Every accepted event, in offset order (the rows of `event_ids` too).
    pub accepted: Vec<Accepted>,
    pub logins: Encoded,
    pub registrations: Encoded,
    pub tokens: Encoded,
    pub sessions: Encoded,
    pub audits: Encoded,
    pub event_ids: Encoded,
    pub dead_letters: Vec<DeadLetterRow>,
}

impl Rows {
    /// Encodes an accepted event into its raw table, and its id and event
    /// time (with the message's place in the topic) into `ingest_event_ids`.
    pub fn push(&mut self, e: &Event, topic: &str, partition: i32, offset: i64) {
        let table: u8 = match &e.body {
            Body::Login(_) => 0,
            Body::Registration(_) => 1,
            Body::Token(_) => 2,
            Body::Session(_) => 3,
            Body::Audit(_) => 4,
        };
        self.accepted.push(Accepted {
            id: e.id,
            offset,
            at_ms: e.occurred_at.timestamp_millis(),
            table,
            row: self.table(table as usize).rows() as u32,
        });
        self.event_ids
            .row()
            .str(topic)
            .u32(partition as u32)
            .u64(offset as u64)
            .uuid(e.id)
            .millis(e.occurred_at);
        let (id, at, org, slug) = (e.id, e.occurred_at, e.org.id, e.org.slug.as_str());
        match &e.body {
            Body::Login(l) => {
                let reason = if l.success {
                    ""
                } else {
                    l.failure_reason.as_deref().unwrap_or_default()
                };
                self.logins
                    .row()
                    .uuid(id)
                    .millis(at)
                    .uuid(org)
                    .str(slug)
                    .uuid(l.application_id)
                    .str(l.application_name.as_deref().unwrap_or_default())
                    .uuid(l.user_id.unwrap_or_default())
                    .str(&l.login_id)
                    .bool(l.success)
                    .str(reason)
                    .str(&l.provider)
                    .str(l.ip.as_deref().unwrap_or_default())
                    .str(l.user_agent.as_deref().unwrap_or_default())
                    .str(l.session_id.as_deref().unwrap_or_default());
            }
            Body::Registration(r) => {
                self.registrations
                    .row()
                    .uuid(id)
                    .millis(at)
                    .uuid(org)
                    .str(slug)
                    .str(r.action.as_str())
                    .uuid(r.user_id)
                    .uuid(r.application_id.unwrap_or_default())
                    .str(r.application_name.as_deref().unwrap_or_default());
            }
            Body::Token(t) => {
                self.tokens
                    .row()
                    .uuid(id)
                    .millis(at)
                    .uuid(org)
                    .str(slug)
                    .str(&t.grant_type)
                    .str(&t.token_type)
                    .str(&t.client_id)
                    .uuid(t.application_id.unwrap_or_default())
                    .uuid(t.user_id.unwrap_or_default());
            }
            Body::Session(s) => {
                self.sessions
                    .row()
                    .uuid(id)
                    .millis(at)
                    .uuid(org)
                    .str(slug)
                    .str(s.action.as_str())
                    .str(&s.session_id)
                    .uuid(s.user_id)
                    .millis(s.expires_at.unwrap_or(DateTime::UNIX_EPOCH))
                    .uuid(s.application_id.unwrap_or_default());
            }
            Body::Audit(a) => {
                self.audits
                    .row()
                    .uuid(id)
                    .millis(at)
                    .uuid(org)
                    .str(slug)
                    .str(&a.action)
                    .str(&a.entity_type)
                    .str(&a.entity_id)
                    .str(a.actor_id.as_deref().unwrap_or_default())
                    .str(a.actor_email.as_deref().unwrap_or_default())
                    .str(a.organization_id.as_deref().unwrap_or_default())
                    .str(&a.metadata_json())
                    .str(a.ip_address.as_deref().unwrap_or_default());
            }
        }
    }

    /// Messages in the batch: accepted events and dead letters.
    pub fn messages(&self) -> usize {
        self.accepted() + self.dead_letters.len()
    }

    pub fn accepted(&self) -> usize {
        self.event_ids.rows()
    }

    /// The buffer of `columns::RAW_TABLES[i]`.
    pub fn table(&self, i: usize) -> &Encoded {
        match i {
            0 => &self.logins,
            1 => &self.registrations,
            2 => &self.tokens,
            3 => &self.sessions,
            _ => &self.audits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_carry_leb128_lengths() {
        let mut t = Encoded::default();
        t.row().str("ab").str(&"x".repeat(300));
        let bytes: Vec<u8> = t.chunks().flat_map(|b| b.to_vec()).collect();
        assert_eq!(&bytes[..3], &[2, b'a', b'b']);
        // 300 = 0b10_0101100: low 7 bits with the continuation bit, then 2.
        assert_eq!(&bytes[3..5], &[0xac, 0x02]);
        assert_eq!(bytes.len(), 3 + 2 + 300);
        assert_eq!(t.rows(), 1);
    }

    #[test]
    fn without_drops_exactly_the_named_rows() {
        let mut t = Encoded::default();
        for i in 0..1000u32 {
            t.row().u32(i).str(&"z".repeat(100 + (i as usize % 7)));
        }
        let drop: std::collections::HashSet<usize> = [0, 1, 500, 999].into();
        let kept = t.without(&drop);
        assert_eq!(kept.rows(), 996);
        let bytes: Vec<u8> = kept.chunks().flat_map(|b| b.to_vec()).collect();
        let mut at = 0;
        let mut seen = Vec::new();
        while at < bytes.len() {
            let i = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let len = 100 + (i as usize % 7);
            // length prefix of 100..106 is one LEB128 byte
            assert_eq!(bytes[at + 4] as usize, len);
            at += 5 + len;
            seen.push(i);
        }
        let want: Vec<u32> = (0..1000)
            .filter(|i| !drop.contains(&(*i as usize)))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn rows_span_chunks_without_copying_the_batch() {
        let mut t = Encoded::default();
        for _ in 0..1000 {
            t.row().str(&"y".repeat(200));
        }
        assert_eq!(t.rows(), 1000);
        assert_eq!(t.bytes(), 1000 * 202);
        assert!(t.chunks.len() >= 3, "{} chunks", t.chunks.len());
        assert!(t.chunks.iter().all(|c| c.capacity() == CHUNK));
    }
}
