//! Kafka → ClickHouse consumer: batches per partition, stores each batch with
//! deterministic deduplication tokens, commits offsets only after ClickHouse
//! acknowledged it, and sends what it cannot accept to a dead-letter path.
//! See docs/delivery.md for the design and its failure analysis.

mod config;
mod consumer;
mod error;
pub mod metrics;
mod rows;
mod sink;

pub use config::{Config, GroupProtocol, ReplayFrom};
pub use consumer::run;
pub use error::{Error, Result};
