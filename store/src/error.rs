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
    /// What this deployment's ClickHouse cannot do (names what is missing).
    #[error("not supported here: {0}")]
    Unsupported(String),
}

impl Error {
    /// Whether the failure is the store being unavailable (retryable,
    /// maps to 503) rather than a bad request or a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::ClickHouse(e) if is_network(e))
    }

    /// Whether ClickHouse refused or abandoned the query for lack of
    /// capacity (too many queries at once, memory, time limits): retryable,
    /// maps to 503 like an outage, never to 500.
    pub fn is_overloaded(&self) -> bool {
        match self {
            Error::ClickHouse(clickhouse::error::Error::BadResponse(text)) => {
                OVERLOAD_CODES.iter().any(|name| text.contains(name))
            }
            _ => false,
        }
    }
}

/// ClickHouse error names (they appear as `(NAME)` in the error text) that
/// mean "not now" rather than "wrong".
const OVERLOAD_CODES: &[&str] = &[
    "(TOO_MANY_SIMULTANEOUS_QUERIES)",
    "(MEMORY_LIMIT_EXCEEDED)",
    "(TIMEOUT_EXCEEDED)",
    "(TOO_SLOW)",
    "(SOCKET_TIMEOUT)",
    "(NO_FREE_CONNECTION)",
    "(TOO_MANY_PARTS)",
    "(QUERY_WAS_CANCELLED_BY_CLIENT)",
];

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

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(text: &str) -> Error {
        Error::ClickHouse(clickhouse::error::Error::BadResponse(text.into()))
    }

    #[test]
    fn overload_is_told_from_other_errors() {
        for text in [
            "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES) (version 26.9.1.1)",
            "Code: 241. DB::Exception: Memory limit (total) exceeded: would use 3.00 GiB. (MEMORY_LIMIT_EXCEEDED)",
            "Code: 159. DB::Exception: Timeout exceeded: elapsed 5.1 seconds. (TIMEOUT_EXCEEDED)",
        ] {
            assert!(bad(text).is_overloaded(), "{text}");
        }
        assert!(!bad("Code: 60. DB::Exception: Unknown table. (UNKNOWN_TABLE)").is_overloaded());
        assert!(!Error::InvalidArgument("x".into()).is_overloaded());
    }
}
