-- Successful logins of one organization per UTC day, from the hourly
-- rollup's organization level (scope 2); days without logins are absent.
SELECT toString(toDate(hour, 'UTC')) AS date, sum(logins) AS count
FROM login_hourly
WHERE scope = 2
  AND org_id = {org_id:UUID}
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND provider = ''
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY date
HAVING count > 0
ORDER BY date
