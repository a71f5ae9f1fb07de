use std::fmt;

/// The one error type of the rollup crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ClickHouse could not be reached or answered with an error.
    #[error("clickhouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A migration statement failed; names the file and the statement.
    #[error("migration {file} statement {index} failed ({excerpt}): {source}")]
    Migration {
        file: &'static str,
        index: usize,
        excerpt: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// An applied migration's text changed afterwards.
    #[error(
        "migration {file} was changed after it was applied (recorded {recorded}, now {current})"
    )]
    MigrationChanged {
        file: &'static str,
        recorded: String,
        current: String,
    },
    /// A query argument that cannot be answered (bad range, timezone, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// Whether the failure is the store being unavailable (retryable,
    /// maps to 503) rather than a bad request or a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::ClickHouse(e) if is_network(e))
    }
}

fn is_network(e: &clickhouse::error::Error) -> bool {
    matches!(
        e,
        clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut
    )
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) struct Excerpt<'a>(pub &'a str);

impl fmt::Display for Excerpt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self
            .0
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("--"))
            .unwrap_or("");
        let cut: String = line.chars().take(80).collect();
        f.write_str(&cut)
    }
}
