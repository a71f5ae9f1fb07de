-- Monthly active users per local month "YYYYMM" across every organization
-- and application: the global states, one per month (0011).
SELECT formatDateTime(month, '%Y%m') AS ym, uniqCombined64Merge(17)(users) AS count
FROM active_users_monthly_global
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
GROUP BY ym
ORDER BY ym
