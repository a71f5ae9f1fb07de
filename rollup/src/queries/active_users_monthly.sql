-- Distinct active users per local month (interval = months since 1970-01).
SELECT toInt64((toYear(month) - 1970) * 12 + toMonth(month) - 1) AS interval,
       uniqCombined64Merge(17)(users) AS count
FROM active_users_monthly
WHERE tz = {tz:String}
  AND month >= {from_day:Date}
  AND month < {to_day:Date}
  -- all applications: the precomputed global states (both ids nil)
  AND if(empty({apps:Array(UUID)}),
         org_id = toUUID('00000000-0000-0000-0000-000000000000') AND application_id = toUUID('00000000-0000-0000-0000-000000000000'),
         has({apps:Array(UUID)}, application_id))
GROUP BY month
ORDER BY month
