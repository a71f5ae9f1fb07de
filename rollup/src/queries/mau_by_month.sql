-- Monthly active users per local month "YYYYMM" across every organization
-- and application: the precomputed global states, one per month.
SELECT formatDateTime(month, '%Y%m') AS ym, uniqCombined64Merge(17)(users) AS count
FROM active_users_monthly
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
  AND org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
GROUP BY ym
ORDER BY ym
