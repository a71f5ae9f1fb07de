-- Successful logins of one organization per provider.
SELECT provider, sum(logins) AS count
FROM login_counts_15m
WHERE bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND org_id = {org_id:UUID}
  AND success
GROUP BY provider
HAVING count > 0
ORDER BY count DESC, provider
