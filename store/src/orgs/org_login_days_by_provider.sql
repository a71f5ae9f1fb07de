-- Successful logins of one organization per UTC day (days since the epoch)
-- and provider, from the hourly rollup's organization × provider level
-- (scope 3). The API sums the days it asks for.
SELECT toInt64(intDiv(toUnixTimestamp(hour), 86400)) AS day,
       provider AS label,
       sum(logins) AS count
FROM login_hourly
WHERE scope = 3
  AND org_id = {org_id:UUID}
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY day, label
HAVING count > 0
