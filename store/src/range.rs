//! Time ranges the queries share: report ranges in a report timezone and
//! their intervals (FusionAuth, Janssen, sketches), whole UTC days (org
//! analytics, audit cleanup) and 15-minute windows (Porta stats).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use clickhouse::query::Query;
use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::zone::{self, Grain};

/// One report interval and its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Row)]
pub struct IntervalCount {
    pub interval: i64,
    pub count: u64,
}

/// A report range: the local intervals from the one containing `start`
/// through the one containing `end`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub tz: Tz,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Range {
    /// Builds the range from epoch-millisecond bounds, truncated to `grain`
    /// in the report timezone.
    pub fn new(tz: Tz, grain: Grain, start_ms: i64, end_ms: i64) -> Result<Range> {
        if end_ms < start_ms {
            return Err(Error::InvalidArgument("end is before start".into()));
        }
        let from = zone::truncate(tz, grain, zone::from_millis(start_ms)?);
        let last = zone::truncate(tz, grain, zone::from_millis(end_ms)?);
        Ok(Range {
            tz,
            from,
            to: zone::next(tz, grain, last),
        })
    }

    /// Builds the range covering whole local months `first..=last`
    /// (`(year, month)` pairs).
    pub fn months(tz: Tz, first: (i32, u32), last: (i32, u32)) -> Result<Range> {
        let date = |(y, m): (i32, u32)| {
            NaiveDate::from_ymd_opt(y, m, 1)
                .ok_or_else(|| Error::InvalidArgument(format!("no month {y}-{m}")))
        };
        let (a, b) = (date(first)?, date(last)?);
        if b < a {
            return Err(Error::InvalidArgument(
                "end month is before start month".into(),
            ));
        }
        let from = zone::local_midnight(tz, a);
        Ok(Range {
            tz,
            from,
            to: zone::next(tz, Grain::Month, zone::local_midnight(tz, b)),
        })
    }

    /// Whether the report timezone's local hours are UTC hours over the
    /// whole range, so the hourly rollups answer exactly.
    pub(crate) fn hour_aligned(&self) -> bool {
        zone::whole_hour_offsets(self.tz, self.from, self.to)
    }

    /// Binds `{tz}` and the range's instants `{from}`, `{to}` (epoch
    /// seconds, `to` excluded): the parameters of the rollup count queries.
    pub(crate) fn bind_instants(&self, q: Query) -> Query {
        q.param("tz", self.tz.name())
            .param("from", self.from.timestamp())
            .param("to", self.to.timestamp())
    }

    /// Binds `{tz}` and the range's local days `{from_day}`, `{to_day}`
    /// (`to_day` excluded): the parameters of the sketch-state queries.
    pub(crate) fn bind_days(&self, q: Query) -> Query {
        let (from_day, to_day) = (
            self.from.with_timezone(&self.tz).date_naive(),
            self.to.with_timezone(&self.tz).date_naive(),
        );
        q.param("tz", self.tz.name())
            .param("from_day", from_day.to_string())
            .param("to_day", to_day.to_string())
    }
}

/// A row of a per-local-interval count query: the interval's start (epoch
/// seconds) and its count.
#[derive(Row, Deserialize)]
pub(crate) struct StartCount {
    pub start: u32,
    pub count: u64,
}

/// Maps local interval starts to interval numbers, merging starts that share
/// a number (the repeated hour when DST ends), in interval order.
pub(crate) fn to_intervals(tz: Tz, grain: Grain, rows: Vec<StartCount>) -> Vec<IntervalCount> {
    let mut merged: BTreeMap<i64, u64> = BTreeMap::new();
    for r in rows {
        let start = DateTime::from_timestamp(i64::from(r.start), 0).unwrap_or_default();
        *merged.entry(zone::interval(tz, grain, start)).or_default() += r.count;
    }
    merged
        .into_iter()
        .map(|(interval, count)| IntervalCount { interval, count })
        .collect()
}

/// Midnight UTC starting `date`.
pub(crate) fn utc_midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// UTC days `from..=to` as `[from 00:00, to + 1 day 00:00)` in UTC seconds.
pub(crate) fn day_bounds(from: NaiveDate, to: NaiveDate) -> Result<(i64, i64)> {
    if to < from {
        return Err(Error::InvalidArgument(
            "end_date is before start_date".into(),
        ));
    }
    Ok((
        utc_midnight(from).timestamp(),
        utc_midnight(to + Duration::days(1)).timestamp(),
    ))
}

/// Start of the 15-minute bucket holding `t`.
pub fn bucket_start(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    Utc.timestamp_opt(s - s.rem_euclid(900), 0)
        .single()
        .unwrap_or(t)
}

/// The first 15-minute bucket counted as "within `window` before `now`":
/// the one holding `now - window`. Buckets from it through the one holding
/// `now` are counted.
pub fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    bucket_start(now - window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn windows() {
        let now = Utc.with_ymd_and_hms(2026, 3, 8, 10, 7, 30).unwrap();
        assert_eq!(
            bucket_start(now),
            Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap()
        );
        assert_eq!(
            window_start(now, Duration::hours(24)),
            Utc.with_ymd_and_hms(2026, 3, 7, 10, 0, 0).unwrap()
        );
    }

    #[test]
    fn utc_days() {
        assert!(day_bounds(date(2026, 1, 2), date(2026, 1, 1)).is_err());
        // One day is 86 400 s from its midnight; the end day is included.
        let jan1 = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        assert_eq!(
            day_bounds(date(2026, 1, 1), date(2026, 1, 1)).unwrap(),
            (jan1, jan1 + 86_400)
        );
        assert_eq!(
            day_bounds(date(2026, 1, 1), date(2026, 1, 31)).unwrap(),
            (jan1, jan1 + 31 * 86_400)
        );
    }

    #[test]
    fn repeated_dst_hour_is_one_interval() {
        let tz = chrono_tz::America::Denver;
        // 01:00 MDT and 01:00 MST on 2026-11-01, then 02:00 MST.
        let rows = [(7, 3), (8, 4), (9, 5)]
            .map(|(h, count)| StartCount {
                start: Utc
                    .with_ymd_and_hms(2026, 11, 1, h, 0, 0)
                    .unwrap()
                    .timestamp() as u32,
                count,
            })
            .into();
        let got = to_intervals(tz, Grain::Hour, rows);
        let one_am = Utc
            .with_ymd_and_hms(2026, 11, 1, 1, 0, 0)
            .unwrap()
            .timestamp()
            / 3600;
        assert_eq!(
            got,
            [
                IntervalCount {
                    interval: one_am,
                    count: 7
                },
                IntervalCount {
                    interval: one_am + 1,
                    count: 5
                }
            ]
        );
    }
}
