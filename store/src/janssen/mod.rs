//! Queries behind Janssen statistics (`/jans-auth/restv1/internal/stat`,
//! api/src/janssen.rs): MAU and tokens per local month.

use std::collections::BTreeMap;

use clickhouse::Row;
use serde::Deserialize;

use crate::error::Result;
use crate::handle::Store;
use crate::range::Range;
use crate::zone::Grain;

/// Janssen per-month statistics: month "YYYYMM" → value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthStats {
    pub mau: BTreeMap<String, u64>,
    /// month → grant type → token type → count
    pub tokens: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
}

#[derive(Row, Deserialize)]
struct TokenCount {
    month: String,
    grant_type: String,
    token_type: String,
    count: u64,
}

impl Store {
    /// Janssen statistics for the local months of `range`: MAU from merged
    /// sketch states, tokens per grant type and token type.
    pub async fn month_stats(&self, range: Range) -> Result<MonthStats> {
        // The MAU report's query: finalized past months, live current month.
        let mau = self.active_users(range, Grain::Month, &[]);
        let tokens = range
            .bind_instants(self.client.query(if range.hour_aligned() {
                include_str!("tokens_by_month_hourly.sql")
            } else {
                include_str!("tokens_by_month.sql")
            }))
            .fetch_all::<TokenCount>();
        let (mau, tokens) = tokio::try_join!(mau, async { Ok(tokens.await?) })?;
        let mut stats = MonthStats {
            mau: mau
                .into_iter()
                .map(|m| (year_month(m.interval), m.count))
                .collect(),
            ..Default::default()
        };
        for t in tokens {
            *stats
                .tokens
                .entry(t.month)
                .or_default()
                .entry(t.grant_type)
                .or_default()
                .entry(t.token_type)
                .or_default() += t.count;
        }
        Ok(stats)
    }
}

/// "YYYYMM" of a month interval (months since 1970-01).
fn year_month(interval: i64) -> String {
    format!(
        "{:04}{:02}",
        1970 + interval.div_euclid(12),
        interval.rem_euclid(12) + 1
    )
}
