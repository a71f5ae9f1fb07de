-- Distinct users of the selected applications active anywhere in a range of
-- local days: one merge of every daily state in the range (every
-- application: active_users_range_global.sql).
SELECT uniqCombined64Merge(17)(users) AS count
FROM active_users_daily
WHERE tz = {tz:String}
  AND day >= {from_day:Date}
  AND day < {to_day:Date}
  AND has({apps:Array(UUID)}, application_id)
