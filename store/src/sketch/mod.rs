//! Portable, mergeable distinct-user sketches.
//!
//! Inside one ClickHouse cluster the `uniqCombined64` states of the rollup
//! tables are the right tool. Across deployments that share no cluster
//! (regions, tenants' own installs) a sketch must be a file: this module
//! builds a HyperLogLog (the `hyperloglog` crate at its largest size, 2^14
//! one-byte registers — Janssen uses 2^15 — with fixed hash keys so every
//! deployment's sketch merges with every other's) from a month's distinct
//! users and unions such files.

use clickhouse::Row;
use hyperloglog::HyperLogLog;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::handle::Store;
use crate::range::Range;

/// Error-rate parameter that gives p = 14 (16 384 registers, the crate's
/// largest supported size) in the crate's sizing rule; standard error
/// 1.04 / sqrt(2^14) ≈ 0.81 %.
const ERROR_RATE: f64 = 0.001;
/// Hash keys shared by every authpulse deployment (changing them makes old
/// sketches unmergeable; `FORMAT` would change with them).
const SEED: u128 = 0x6175_7468_7075_6c73_652d_686c_6c2d_7631;
const FORMAT: &str = "authpulse-hll-v1";

/// A month's distinct-user sketch as exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortableSketch {
    pub format: String,
    /// Local month `yyyyMM` of `tz`.
    pub month: String,
    pub tz: String,
    /// What the sketch covers (e.g. a deployment or region name).
    pub scope: String,
    hll: HyperLogLog,
}

impl PortableSketch {
    fn empty(month: String, tz: String, scope: String) -> PortableSketch {
        PortableSketch {
            format: FORMAT.into(),
            month,
            tz,
            scope,
            hll: HyperLogLog::new_deterministic(ERROR_RATE, SEED),
        }
    }

    /// Estimated distinct users.
    pub fn estimate(&self) -> f64 {
        self.hll.len()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a sketch serializes")
    }

    /// Parses and checks a sketch file: same format, same parameters.
    pub fn from_json(text: &str) -> Result<PortableSketch> {
        let s: PortableSketch = serde_json::from_str(text)
            .map_err(|e| Error::InvalidArgument(format!("not a sketch file: {e}")))?;
        let reference = PortableSketch::empty(String::new(), String::new(), String::new());
        if s.format != FORMAT || !s.hll_compatible(&reference) {
            return Err(Error::InvalidArgument(format!(
                "sketch format {:?} is not {FORMAT}",
                s.format
            )));
        }
        Ok(s)
    }

    fn hll_compatible(&self, other: &PortableSketch) -> bool {
        // The crate asserts (panics) on mismatched sketches: compare through
        // serde first so a foreign file is an error, not a crash.
        let a = serde_json::to_value(&self.hll).unwrap_or_default();
        let b = serde_json::to_value(&other.hll).unwrap_or_default();
        a.get("p") == b.get("p")
            && a.get("m") == b.get("m")
            && a.get("sip") == b.get("sip")
            && a.get("M").and_then(|m| m.as_array()).map(Vec::len)
                == b.get("M").and_then(|m| m.as_array()).map(Vec::len)
    }
}

/// Union of sketches of the same month and timezone.
pub fn union(sketches: &[PortableSketch]) -> Result<PortableSketch> {
    let first = sketches
        .first()
        .ok_or_else(|| Error::InvalidArgument("no sketches to union".into()))?;
    let mut out = PortableSketch::empty(first.month.clone(), first.tz.clone(), "union".into());
    for s in sketches {
        if s.month != first.month || s.tz != first.tz {
            return Err(Error::InvalidArgument(format!(
                "cannot union {} {} with {} {}",
                s.month, s.tz, first.month, first.tz
            )));
        }
        if !s.hll_compatible(&out) {
            return Err(Error::InvalidArgument("sketch parameters differ".into()));
        }
        out.hll.merge(&s.hll);
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct UserId {
    #[serde(with = "clickhouse::serde::uuid")]
    user_id: Uuid,
}

#[derive(Row, Serialize)]
struct Stored<'a> {
    month: &'a str,
    tz: &'a str,
    scope: &'a str,
    sketch: String,
    users: f64,
}

impl Store {
    /// Builds the portable sketch of one local month (`range` from
    /// [`Range::months`]) from the raw logins, and keeps a copy in
    /// `portable_sketches`.
    pub async fn export_month_sketch(&self, range: Range, scope: &str) -> Result<PortableSketch> {
        let local = range.from.with_timezone(&range.tz);
        let month = local.format("%Y%m").to_string();
        let mut sketch =
            PortableSketch::empty(month, range.tz.name().to_string(), scope.to_string());
        let mut cursor = self
            .client
            .query(include_str!("month_user_ids.sql"))
            .param("from", range.from.timestamp_millis())
            .param("to", range.to.timestamp_millis())
            .fetch::<UserId>()?;
        while let Some(row) = cursor.next().await? {
            sketch.hll.insert(&row.user_id.as_u128());
        }
        let mut insert = self.client.insert::<Stored>("portable_sketches").await?;
        insert
            .write(&Stored {
                month: &sketch.month,
                tz: &sketch.tz,
                scope,
                sketch: sketch.to_json(),
                users: sketch.estimate(),
            })
            .await?;
        insert.end().await?;
        Ok(sketch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch_of(ids: std::ops::Range<u128>) -> PortableSketch {
        let mut s = PortableSketch::empty("202601".into(), "UTC".into(), "t".into());
        for i in ids {
            s.hll.insert(&i);
        }
        s
    }

    #[test]
    fn union_of_overlapping_deployments_estimates_the_distinct_union() {
        let a = sketch_of(0..60_000);
        let b = sketch_of(40_000..100_000);
        let b = PortableSketch::from_json(&b.to_json()).unwrap();
        let u = union(&[a, b]).unwrap();
        let err = (u.estimate() - 100_000.0).abs() / 100_000.0;
        assert!(err < 0.02, "estimate {} ", u.estimate());
    }

    #[test]
    fn foreign_or_mismatched_sketches_are_errors_not_panics() {
        assert!(PortableSketch::from_json("{}").is_err());
        assert!(PortableSketch::from_json("garbage").is_err());
        let mut other = sketch_of(0..10);
        other.hll = HyperLogLog::new_deterministic(0.01, 7);
        assert!(PortableSketch::from_json(&other.to_json()).is_err());
        assert!(union(&[sketch_of(0..10), other]).is_err());
        let mut later = sketch_of(0..10);
        later.month = "202602".into();
        assert!(union(&[sketch_of(0..10), later]).is_err());
    }
}
