-- Global distinct active users per local day: finalized numbers from the
-- active_users_daily_now snapshot for the past days it covers
-- ([{snap_from}, {live_from})), live merges of the global states for the
-- other days (today, days older than the window) and for every day while
-- the zone has no snapshot yet.
SELECT interval, count
FROM
(
    SELECT toInt64(day) AS interval, users AS count
    FROM active_users_daily_now
    WHERE tz = {tz:String}
      AND day >= {from_day:Date}
      AND day < {to_day:Date}
      AND day >= {snap_from:Date}
      AND day < {live_from:Date}
    UNION ALL
    SELECT toInt64(day) AS interval, uniqCombined64Merge(17)(users) AS count
    FROM active_users_daily_global
    WHERE tz = {tz:String}
      AND day >= {from_day:Date}
      AND day < {to_day:Date}
      AND (day < {snap_from:Date} OR day >= {live_from:Date}
           OR (SELECT count() FROM active_users_daily_now WHERE tz = {tz:String}) = 0)
    GROUP BY day
)
ORDER BY interval
