//! Reading messages again. Two kinds:
//!
//! - [`member`]: a store group written ahead before a crash is re-formed
//!   whole; its members this consumer does not own are read again from the
//!   topic (docs/delivery.md, step 5).
//! - [`operator`]: `authpulse ingest --replay-from <offset|time>` re-reads
//!   every partition under a consumer group of its own and stops once it
//!   has caught up with the end the topics had at start (docs/delivery.md,
//!   "Replay").
//!
//! What is stored again is decided as for any message: by the dedup tokens,
//! the claims (`crate::dedup`) and the dead-letter positions.

pub(crate) mod member;
pub(crate) mod operator;
