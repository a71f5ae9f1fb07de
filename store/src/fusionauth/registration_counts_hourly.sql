-- Registrations per local hour from the hourly rollup: all applications
-- (scope 0) or one (scope 1). Used when the report timezone's offset is a
-- whole number of hours over the range, so local hours are UTC hours.
SELECT toUnixTimestamp(hour) AS start, sum(registrations) AS count
FROM registration_hourly
WHERE scope = {scope:UInt8}
  AND application_id = {application_id:UUID}
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY start
ORDER BY start
