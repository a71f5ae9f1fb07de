-- Distinct active users per local month (interval = months since 1970-01)
-- across every organization and application: one global state per month
-- (0011).
SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval,
       uniqCombined64Merge(17)(users) AS count
FROM active_users_monthly_global
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
GROUP BY month
ORDER BY month
