//! What becomes of one message: an event's rows in its raw table, or a dead
//! letter with its reason (docs/delivery.md, step 9). The same for a
//! member's own stream and for a group member read again, so a replay
//! re-forms the same rows. Re-sends (an id already stored) are found at
//! store time, over every partition and consumer group (`crate::dedup`),
//! not here.

use std::time::Duration;

use authpulse_schemas::parse;
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::dead_letter::DeadLetterRow;
use crate::encode::Rows;
use crate::metrics::Metrics;

pub(crate) struct Classifier {
    clock: DateTime<Utc>,
    max_skew: Duration,
}

impl Classifier {
    /// Judges times against `clock` (the consumer's, refreshed by the poll
    /// loop) with the configured future-skew limit.
    pub(crate) fn at(config: &Config, clock: DateTime<Utc>) -> Classifier {
        Classifier {
            clock,
            max_skew: config.max_future_skew,
        }
    }

    /// Decodes the message at `(topic, partition), offset` into `rows`:
    /// its event's row, or a dead letter. Counted in `metrics` if given.
    pub(crate) fn classify(
        &self,
        rows: &mut Rows,
        (tp, offset): ((&str, i32), i64),
        payload: Vec<u8>,
        key: Vec<u8>,
        metrics: Option<&Metrics>,
    ) {
        let count = |f: &dyn Fn(&Metrics)| {
            if let Some(m) = metrics {
                f(m)
            }
        };
        match parse(&payload) {
            Ok(event) => {
                let ahead = event.occurred_at.signed_duration_since(self.clock);
                if ahead.to_std().is_ok_and(|a| a > self.max_skew) {
                    count(&|m| {
                        m.consumed("invalid");
                        m.dead_lettered("future_timestamp");
                    });
                    rows.dead_letters.push(DeadLetterRow::new(
                        tp,
                        offset,
                        "future_timestamp",
                        format!(
                            "occurred_at is {}s ahead of the consumer clock (limit {}s)",
                            ahead.num_seconds(),
                            self.max_skew.as_secs()
                        ),
                        payload,
                        key,
                    ));
                } else {
                    count(&|m| m.consumed(event.body.kind()));
                    rows.push(&event, tp.0, tp.1, offset);
                }
            }
            Err(e) => {
                count(&|m| {
                    m.consumed("invalid");
                    m.dead_lettered(e.code());
                });
                rows.dead_letters.push(DeadLetterRow::new(
                    tp,
                    offset,
                    e.code(),
                    e.to_string(),
                    payload,
                    key,
                ));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid login event at `at` (RFC 3339) with id `n`.
    pub(crate) fn login(n: u128, at: &str) -> Vec<u8> {
        format!(
            r#"{{"id":"{}","type":"login","occurred_at":"{at}","org":{{"id":"7f3e2a10-5b4c-4d8e-9f01-23456789abcd","slug":"acme"}},"data":{{"success":true,"user_id":"20000000-0000-4000-8000-000000000001","login_id":"u@example.com","application_id":"11111111-2222-4333-8444-555555555555","provider":"password"}}}}"#,
            uuid::Uuid::from_u128(0x1000_0000_0000_4000_8000_0000_0000_0000 | n),
        )
        .into_bytes()
    }

    fn classifier() -> Classifier {
        Classifier {
            clock: "2026-03-08T12:00:00Z".parse().unwrap(),
            max_skew: Duration::from_secs(24 * 3600),
        }
    }

    fn one(payload: Vec<u8>) -> Rows {
        let mut rows = Rows::default();
        classifier().classify(
            &mut rows,
            (("auth-events", 2), 41),
            payload,
            b"k".to_vec(),
            None,
        );
        rows
    }

    #[test]
    fn an_event_goes_to_its_raw_table_with_its_place_in_the_topic() {
        let rows = one(login(1, "2026-03-08T11:00:00Z"));
        assert_eq!((rows.accepted(), rows.messages()), (1, 1));
        assert_eq!(rows.logins.rows(), 1);
        assert_eq!(rows.event_ids.rows(), 1);
        let a = rows.accepted[0];
        assert_eq!((a.table, a.row, a.offset), (0, 0, 41));
        assert_eq!(a.at_ms, 1_772_967_600_000);
        assert!(rows.dead_letters.is_empty());
    }

    #[test]
    fn not_json_is_a_dead_letter_with_the_original_bytes() {
        let rows = one(b"{not json".to_vec());
        assert_eq!((rows.accepted(), rows.messages()), (0, 1));
        let d = &rows.dead_letters[0];
        assert_eq!(d.reason, "malformed_json");
        assert_eq!(d.payload, b"{not json");
        assert_eq!(d.key, b"k");
        assert_eq!(d.position(), ("auth-events", 2, 41));
    }

    #[test]
    fn future_skew_is_judged_against_the_consumer_clock() {
        // Exactly at the limit: accepted; a millisecond past: dead letter.
        let at_limit = one(login(1, "2026-03-09T12:00:00Z"));
        assert_eq!(at_limit.accepted(), 1);
        let past = one(login(1, "2026-03-09T12:00:00.001Z"));
        assert_eq!(past.accepted(), 0);
        assert_eq!(past.dead_letters[0].reason, "future_timestamp");
        assert!(
            past.dead_letters[0].detail.contains("(limit 86400s)"),
            "{}",
            past.dead_letters[0].detail
        );
        // The past is never skew.
        assert_eq!(one(login(1, "1990-01-01T00:00:00Z")).accepted(), 1);
    }

    #[test]
    fn times_clickhouse_cannot_hold_are_dead_letters() {
        for at in ["1970-01-01T23:59:59Z", "2100-01-01T00:00:00Z"] {
            let rows = one(login(1, at));
            assert_eq!(rows.accepted(), 0, "{at}");
            assert_eq!(
                rows.dead_letters[0].reason, "timestamp_out_of_range",
                "{at}"
            );
        }
        // Far ahead of the clock too, but out of range comes first.
        let classifier = Classifier {
            clock: "2099-12-31T00:00:00Z".parse().unwrap(),
            max_skew: Duration::from_secs(24 * 3600),
        };
        let mut rows = Rows::default();
        classifier.classify(
            &mut rows,
            (("t", 0), 0),
            login(1, "2099-12-31T23:59:59Z"),
            vec![],
            None,
        );
        assert_eq!(rows.accepted(), 1);
    }
}
