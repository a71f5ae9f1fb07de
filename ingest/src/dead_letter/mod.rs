//! Dead letters: a message that is not an event becomes a `dead_letters`
//! row (original bytes, reason, detail, source position), inserted with its
//! store group ([`table`]), and a copy on the DLQ topic with the reason in
//! its headers ([`topic`]). docs/delivery.md, step 9.

pub(crate) mod table;
pub(crate) mod topic;

use clickhouse::Row;
use serde::Serialize;

/// A `dead_letters` row; its fields are the table's columns.
#[derive(Row, Serialize, Clone, Debug, PartialEq, Eq)]
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

impl DeadLetterRow {
    pub(crate) fn new(
        (topic, partition): (&str, i32),
        offset: i64,
        reason: &'static str,
        detail: String,
        payload: Vec<u8>,
        key: Vec<u8>,
    ) -> DeadLetterRow {
        DeadLetterRow {
            topic: topic.to_string(),
            partition: partition as u32,
            offset: offset as u64,
            reason,
            detail,
            payload,
            key,
        }
    }

    /// Where the message was read: the table's key against recording a
    /// replayed message twice.
    pub(crate) fn position(&self) -> (&str, u32, u64) {
        (&self.topic, self.partition, self.offset)
    }

    /// The headers of its DLQ copy (docs/delivery.md, step 9).
    pub(crate) fn headers(&self) -> [(&'static str, String); 5] {
        [
            ("authpulse.reason", self.reason.to_string()),
            ("authpulse.detail", self.detail.clone()),
            ("authpulse.source.topic", self.topic.clone()),
            ("authpulse.source.partition", self.partition.to_string()),
            ("authpulse.source.offset", self.offset.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_the_reason_and_the_source() {
        let row = DeadLetterRow::new(
            ("auth-events", 3),
            4_294_967_296,
            "malformed_json",
            "expected value at line 1".into(),
            b"{".to_vec(),
            b"k".to_vec(),
        );
        assert_eq!(row.position(), ("auth-events", 3, 4_294_967_296));
        let headers = row.headers();
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("authpulse.reason"), Some("malformed_json"));
        assert_eq!(get("authpulse.detail"), Some("expected value at line 1"));
        assert_eq!(get("authpulse.source.topic"), Some("auth-events"));
        assert_eq!(get("authpulse.source.partition"), Some("3"));
        assert_eq!(get("authpulse.source.offset"), Some("4294967296"));
    }
}
