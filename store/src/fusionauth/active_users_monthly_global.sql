-- Distinct active users per local month (interval = months since 1970-01)
-- across every organization and application. Months before the current
-- local month: the finalized numbers of the snapshot (0018). The current
-- month: the snapshot's merged state (0021) merged with the live daily
-- global states from the day before the snapshot's refresh on, so a new
-- login counts as soon as it is stored (states merge idempotently: the
-- overlap cannot count a user twice). Before the first refresh the current
-- month merges its daily states only.
WITH
    (SELECT max(as_of) FROM active_users_monthly_now WHERE tz = {tz:String}) AS snap_at,
    -- max(snapshot day - 1, month start), without Date underflow when
    -- there is no snapshot yet (snap_at = 1970-01-01)
    greatest(toDate(toTimeZone(snap_at, {tz:String})), {cur_month:Date} + 1) - 1 AS live_from
SELECT interval, count
FROM
(
    SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval,
           users AS count
    FROM active_users_monthly_now
    WHERE tz = {tz:String}
      AND month >= {from_day:Date}
      AND month < {to_day:Date}
      AND month != {cur_month:Date}
    UNION ALL
    SELECT toInt64((toYear({cur_month:Date}) - 1970) * 12 + toMonth({cur_month:Date}) - 1) AS interval,
           uniqCombined64Merge(17)(s) AS count
    FROM
    (
        SELECT state AS s
        FROM active_users_monthly_now
        WHERE tz = {tz:String} AND month = {cur_month:Date}
        UNION ALL
        SELECT users AS s
        FROM active_users_daily_global
        WHERE tz = {tz:String}
          AND day >= live_from
          AND day < addMonths({cur_month:Date}, 1)
    )
    WHERE {cur_month:Date} >= {from_day:Date} AND {cur_month:Date} < {to_day:Date}
    HAVING count > 0
)
ORDER BY interval
