-- Distinct active users per local day of the selected applications, merged
-- from their sketch states (every application: active_users_daily_global.sql).
SELECT toInt64(day) AS interval, uniqCombined64Merge(17)(users) AS count
FROM active_users_daily
WHERE tz = {tz:String}
  AND day >= {from_day:Date}
  AND day < {to_day:Date}
  AND has({apps:Array(UUID)}, application_id)
GROUP BY day
ORDER BY day
