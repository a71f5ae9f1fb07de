-- Successful logins per local hour from the hourly rollup: all applications
-- (scope 0) or one (scope 1). Used when the report timezone's offset is a
-- whole number of hours over the range, so local hours are UTC hours.
SELECT toUnixTimestamp(hour) AS start, sum(logins) AS count
FROM login_hourly
WHERE scope = {scope:UInt8}
  AND org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = {application_id:UUID}
  AND provider = ''
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY start
ORDER BY start
