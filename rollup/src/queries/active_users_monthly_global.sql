-- Distinct active users per local month (interval = months since 1970-01)
-- across every organization and application: the finalized global states
-- (0018), at most one refresh (10 s) old.
SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval,
       users AS count
FROM active_users_monthly_now
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
ORDER BY month
