-- Successful logins of one organization per UTC day (days since the epoch)
-- and application, from the hourly rollup's organization × application
-- level (scope 4). The API sums the days it asks for (per day, so that
-- days can be cached apart: api/src/cache.rs).
SELECT toInt64(intDiv(toUnixTimestamp(hour), 86400)) AS day,
       toString(application_id) AS label,
       sum(logins) AS count
FROM login_hourly
WHERE scope = 4
  AND org_id = {org_id:UUID}
  AND provider = ''
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY day, label
HAVING count > 0
