-- Successful logins of one organization per UTC day, from the 15-minute
-- rollup; days without logins are absent.
SELECT toString(toDate(bucket, 'UTC')) AS date, sum(logins) AS count
FROM login_counts_15m
WHERE bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND org_id = {org_id:UUID}
  AND success
GROUP BY date
HAVING count > 0
ORDER BY date
