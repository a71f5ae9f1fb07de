//! Report-timezone arithmetic (FusionAuth semantics): a report interval is
//! the number of hours / days / months since the epoch, counted on the wall
//! clock of the report timezone.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// The unit of a report interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
    Month,
}

/// Parses an IANA timezone name ("America/Denver", "Asia/Kolkata", "UTC").
pub fn parse_tz(name: &str) -> Result<Tz> {
    name.parse::<Tz>()
        .map_err(|_| Error::InvalidArgument(format!("unknown timezone {name:?}")))
}

/// Converts epoch milliseconds to an instant, rejecting values out of range.
pub fn from_millis(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| Error::InvalidArgument(format!("timestamp {ms} is out of range")))
}

/// The first instant of the local interval that contains `t`.
pub fn truncate(tz: Tz, grain: Grain, t: DateTime<Utc>) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    match grain {
        // Offsets are whole minutes, so dropping the local minutes and seconds
        // lands on the local hour start even across DST switches.
        Grain::Hour => {
            let into_hour = i64::from(local.minute()) * 60 + i64::from(local.second());
            let t = t - Duration::seconds(into_hour);
            t - Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
        }
        Grain::Day => local_midnight(tz, local.date_naive()),
        Grain::Month => local_midnight(tz, local.date_naive().with_day(1).expect("day 1 exists")),
    }
}

/// The first instant of the interval after the one starting at `start`.
pub fn next(tz: Tz, grain: Grain, start: DateTime<Utc>) -> DateTime<Utc> {
    match grain {
        Grain::Hour => start + Duration::hours(1),
        Grain::Day => {
            let d = start.with_timezone(&tz).date_naive();
            local_midnight(tz, d.succ_opt().unwrap_or(d))
        }
        Grain::Month => {
            let d = start.with_timezone(&tz).date_naive();
            let (y, m) = if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            };
            local_midnight(tz, NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d))
        }
    }
}

/// The FusionAuth interval number of the local interval containing `t`.
pub fn interval(tz: Tz, grain: Grain, t: DateTime<Utc>) -> i64 {
    let local = t.with_timezone(&tz).naive_local();
    match grain {
        Grain::Hour => local.and_utc().timestamp().div_euclid(3600),
        Grain::Day => local.and_utc().timestamp().div_euclid(86_400),
        Grain::Month => (i64::from(local.year()) - 1970) * 12 + i64::from(local.month0()),
    }
}

/// The instant a local date begins. Where midnight falls in a DST gap the
/// day begins at the first local time that exists.
pub(crate) fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut naive: NaiveDateTime = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..16 {
        match tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(early, _) => return early.with_timezone(&Utc),
            LocalResult::None => naive += Duration::minutes(15),
        }
    }
    tz.from_utc_datetime(&naive).with_timezone(&Utc)
}

/// Whether every offset `tz` takes in `[from, to]` is a whole number of
/// hours, so that local hours, days and months begin on UTC hours and the
/// hourly rollups answer exactly. Offsets are sampled every 6 hours (no
/// zone keeps an offset for less), plus both ends.
pub(crate) fn whole_hour_offsets(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    use chrono::Offset as _;
    let whole = |t: DateTime<Utc>| {
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc()
            % 3600
            == 0
    };
    let mut t = from;
    while t < to {
        if !whole(t) {
            return false;
        }
        t += Duration::hours(6);
    }
    whole(to)
}

use chrono::Timelike as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hours_in_a_half_hour_zone_start_at_half_past_utc() {
        let tz = parse_tz("Asia/Kolkata").unwrap();
        let t = truncate(tz, Grain::Hour, utc("2026-01-01T10:10:00Z"));
        assert_eq!(t, utc("2026-01-01T09:30:00Z"));
        // 15:00 local on 2026-01-01 = hours since the local epoch
        assert_eq!(
            interval(tz, Grain::Hour, t),
            utc("2026-01-01T15:00:00Z").timestamp() / 3600
        );
    }

    #[test]
    fn denver_days_across_dst_switches() {
        let tz = parse_tz("America/Denver").unwrap();
        // 2026-03-08 is 23 hours long, 2026-11-01 is 25 hours long.
        let d = truncate(tz, Grain::Day, utc("2026-03-08T12:00:00Z"));
        assert_eq!(d, utc("2026-03-08T07:00:00Z"));
        assert_eq!(next(tz, Grain::Day, d), utc("2026-03-09T06:00:00Z"));
        let d = truncate(tz, Grain::Day, utc("2026-11-01T12:00:00Z"));
        assert_eq!(d, utc("2026-11-01T06:00:00Z"));
        assert_eq!(next(tz, Grain::Day, d), utc("2026-11-02T07:00:00Z"));
        assert_eq!(
            interval(tz, Grain::Day, d),
            utc("2026-11-01T00:00:00Z").timestamp() / 86400
        );
    }

    #[test]
    fn whole_hour_zones() {
        let (a, b) = (utc("2024-01-01T00:00:00Z"), utc("2025-01-01T00:00:00Z"));
        assert!(whole_hour_offsets(Tz::UTC, a, b));
        assert!(whole_hour_offsets(chrono_tz::America::Denver, a, b));
        assert!(!whole_hour_offsets(chrono_tz::Asia::Kolkata, a, b));
        assert!(!whole_hour_offsets(chrono_tz::Asia::Kathmandu, a, b));
        // Lord Howe moves by half an hour for DST: +10:30 in winter, +11 in summer.
        let lh = chrono_tz::Australia::Lord_Howe;
        assert!(!whole_hour_offsets(lh, a, b));
        assert!(whole_hour_offsets(
            lh,
            utc("2024-01-01T00:00:00Z"),
            utc("2024-02-01T00:00:00Z")
        ));
        // Before 1883 Denver kept local mean time (-6:59:56).
        assert!(!whole_hour_offsets(
            chrono_tz::America::Denver,
            utc("1880-01-01T00:00:00Z"),
            a
        ));
    }

    #[test]
    fn months_since_epoch() {
        let tz = parse_tz("UTC").unwrap();
        assert_eq!(interval(tz, Grain::Month, utc("1970-01-31T00:00:00Z")), 0);
        assert_eq!(interval(tz, Grain::Month, utc("2015-04-02T00:00:00Z")), 543);
        let m = truncate(tz, Grain::Month, utc("2026-12-15T00:00:00Z"));
        assert_eq!(next(tz, Grain::Month, m), utc("2027-01-01T00:00:00Z"));
    }

    #[test]
    fn fall_back_hour_repeats_the_same_interval() {
        let tz = parse_tz("America/Denver").unwrap();
        let a = utc("2026-11-01T07:30:00Z"); // 01:30 MDT
        let b = utc("2026-11-01T08:30:00Z"); // 01:30 MST
        assert_eq!(interval(tz, Grain::Hour, a), interval(tz, Grain::Hour, b));
        assert_ne!(truncate(tz, Grain::Hour, a), truncate(tz, Grain::Hour, b));
    }
}
