-- Distinct users active anywhere in a range of local days, across every
-- organization and application: one merge of the global daily states
-- (0011).
SELECT uniqCombined64Merge(17)(users) AS count
FROM active_users_daily_global
WHERE tz = {tz:String}
  AND day >= {from_day:Date}
  AND day < {to_day:Date}
