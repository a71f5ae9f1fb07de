//! System configuration (`authpulse config get|set`): the audit retention
//! that the audit cleanup reads.

use clickhouse::Row;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::handle::Store;

/// The configuration key holding the audit retention in days.
pub const AUDIT_RETENTION_DAYS: &str = "audit_retention_days";
/// Retention used while `audit_retention_days` is unset.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;
/// Largest accepted retention (100 years).
pub const MAX_AUDIT_RETENTION_DAYS: u32 = 36_500;
/// Keys `config set` accepts.
pub const CONFIG_KEYS: [&str; 1] = [AUDIT_RETENTION_DAYS];

/// Checks a configuration key and value; returns the normalized value.
pub fn validate_config(key: &str, value: &str) -> Result<String> {
    match key {
        AUDIT_RETENTION_DAYS => {
            let days: u32 = value.trim().parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "{key} must be a whole number of days, got {value:?}"
                ))
            })?;
            if days == 0 || days > MAX_AUDIT_RETENTION_DAYS {
                return Err(Error::InvalidArgument(format!(
                    "{key} must be between 1 and {MAX_AUDIT_RETENTION_DAYS}, got {days}"
                )));
            }
            Ok(days.to_string())
        }
        _ => Err(Error::InvalidArgument(format!(
            "unknown configuration key {key:?} (known: {})",
            CONFIG_KEYS.join(", ")
        ))),
    }
}

#[derive(Row, Deserialize)]
struct ConfigValue {
    value: String,
    n: u64,
}

impl Store {
    /// The latest value of a configuration key.
    pub async fn config_get(&self, key: &str) -> Result<Option<String>> {
        let row: ConfigValue = self
            .client
            .query(include_str!("config_get.sql"))
            .param("key", key)
            .fetch_one()
            .await?;
        Ok((row.n > 0).then_some(row.value))
    }

    /// Stores a configuration value after [`validate_config`]; returns the
    /// normalized value.
    pub async fn config_set(&self, key: &str, value: &str) -> Result<String> {
        let value = validate_config(key, value)?;
        self.client
            .query(include_str!("config_set.sql"))
            .param("key", key)
            .param("value", &value)
            .execute()
            .await?;
        Ok(value)
    }

    /// `audit_retention_days`, or [`DEFAULT_AUDIT_RETENTION_DAYS`] when unset.
    pub async fn audit_retention_days(&self) -> Result<u32> {
        match self.config_get(AUDIT_RETENTION_DAYS).await? {
            None => Ok(DEFAULT_AUDIT_RETENTION_DAYS),
            Some(v) => validate_config(AUDIT_RETENTION_DAYS, &v)?
                .parse()
                .map_err(|_| {
                    Error::InvalidArgument(format!(
                        "stored {AUDIT_RETENTION_DAYS} {v:?} is invalid"
                    ))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_are_validated() {
        assert_eq!(validate_config(AUDIT_RETENTION_DAYS, " 30 ").unwrap(), "30");
        assert!(validate_config(AUDIT_RETENTION_DAYS, "0").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "-1").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "36501").is_err());
        assert!(validate_config(AUDIT_RETENTION_DAYS, "ten").is_err());
        assert!(validate_config("retention", "30").is_err());
    }
}
