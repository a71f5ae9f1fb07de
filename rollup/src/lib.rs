//! ClickHouse schema (versioned .sql migrations) and the typed query layer
//! that the API calls. Reports are answered from rollups only.

mod error;
mod migrate;
mod reports;
mod zone;

pub use error::{Error, Result};
pub use migrate::{migrate, Report as MigrateReport};
pub use reports::{total, IntervalCount, Range, Store};
pub use zone::{interval, next, parse_tz, truncate, Grain};

/// Builds a ClickHouse HTTP client for `url` (no database selected).
pub fn client(url: &str) -> clickhouse::Client {
    clickhouse::Client::default().with_url(url)
}
