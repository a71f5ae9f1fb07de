//! Kafka → ClickHouse consumer: batches per partition, stores each batch with
//! deterministic deduplication tokens, commits offsets only after ClickHouse
//! acknowledged it, and sends what it cannot accept to a dead-letter path.
//! See docs/delivery.md for the design and its failure analysis.
//!
//! An event's path, one module per step:
//! `source` (Kafka poll loop, rebalances, lag) → `classify` (decode,
//! route to a table or a dead letter) → `encode` (RowBinary rows; the
//! column lists in [`columns`]) → `batch` (per-partition batches, flush
//! policy) → `dedup` (re-send claims) → `sink` (write-ahead record,
//! inserts, store groups, retry) → commit (back in `source`). Beside it:
//! `dead_letter` (table rows and the DLQ topic), `replay` (re-forming a
//! group, `--replay-from`), [`metrics`], `config`.

mod batch;
mod classify;
mod config;
mod dead_letter;
mod dedup;
mod encode;
mod error;
pub mod metrics;
mod replay;
mod sink;
mod source;

pub use config::{Config, GroupProtocol, ReplayFrom};
pub use encode::columns;
pub use error::{Error, Result};
pub use source::run;
