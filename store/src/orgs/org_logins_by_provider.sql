-- Successful logins of one organization per provider, from the hourly
-- rollup's organization × provider level (scope 3).
SELECT provider, sum(logins) AS count
FROM login_hourly
WHERE scope = 3
  AND org_id = {org_id:UUID}
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND hour >= toDateTime({from:Int64}, 'UTC')
  AND hour < toDateTime({to:Int64}, 'UTC')
GROUP BY provider
HAVING count > 0
ORDER BY count DESC, provider
