-- The newest successful logins of one organization. The rollup first finds
-- the latest 15-minute bucket from which on the organization has at least
-- {limit} successful logins; the raw scan is then bounded to org_id and
-- occurred_at >= that bucket, which prunes partitions and, through the
-- (org_id, application_id, occurred_at) key, granules of every application.
WITH
    (
        SELECT ifNull(max(bucket), toDateTime(0, 'UTC'))
        FROM
        (
            SELECT bucket,
                   sum(n) OVER (ORDER BY bucket DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
            FROM
            (
                SELECT bucket, sum(logins) AS n
                FROM login_counts_15m
                WHERE org_id = {org_id:UUID} AND success
                GROUP BY bucket
            )
        )
        WHERE running >= {limit:UInt32}
    ) AS since
SELECT event_id AS id,
       user_id,
       application_id AS service_id,
       provider,
       toUnixTimestamp64Milli(occurred_at) AS created_at_ms
FROM login_events
WHERE org_id = {org_id:UUID}
  AND success
  AND occurred_at >= since
ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt32}
