-- Distinct users active anywhere in a range of local days: one merge of
-- every daily state in the range.
SELECT uniqCombined64Merge(17)(users) AS count
FROM active_users_daily
WHERE tz = {tz:String}
  AND day >= {from_day:Date}
  AND day < {to_day:Date}
  -- all applications: the precomputed global states (both ids nil)
  AND if(empty({apps:Array(UUID)}),
         org_id = toUUID('00000000-0000-0000-0000-000000000000') AND application_id = toUUID('00000000-0000-0000-0000-000000000000'),
         has({apps:Array(UUID)}, application_id))
