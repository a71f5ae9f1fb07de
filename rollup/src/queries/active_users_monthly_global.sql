-- Distinct active users per local month (interval = months since 1970-01)
-- across every organization and application: finalized numbers from the
-- active_users_monthly_now snapshot (0016) for the past months it covers
-- ([snap_from, live_from)), live merges of the global states (0011) for
-- the other months (the current one, months older than the window) and
-- for every month while the zone has no snapshot yet.
SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval, count
FROM
(
    SELECT month, users AS count
    FROM active_users_monthly_now
    WHERE tz = {tz:String}
      AND month >= {from_day:Date}
      AND month < {to_day:Date}
      AND month >= {snap_from:Date}
      AND month < {live_from:Date}
    UNION ALL
    SELECT month, uniqCombined64Merge(17)(users) AS count
    FROM active_users_monthly_global
    WHERE tz = {tz:String}
      AND month >= {from_day:Date}
      AND month < {to_day:Date}
      AND (month < {snap_from:Date} OR month >= {live_from:Date}
           OR (SELECT count() FROM active_users_monthly_now WHERE tz = {tz:String}) = 0)
    GROUP BY month
)
ORDER BY interval
