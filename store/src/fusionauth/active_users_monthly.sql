-- Distinct active users per local month (interval = months since 1970-01)
-- of the selected applications, merged from their sketch states (every
-- application: active_users_monthly_global.sql).
SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval,
       uniqCombined64Merge(17)(users) AS count
FROM active_users_monthly
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
  AND has({apps:Array(UUID)}, application_id)
GROUP BY month
ORDER BY month
