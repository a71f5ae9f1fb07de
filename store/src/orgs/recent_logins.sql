-- The newest successful logins of one organization in [{from}, {to})
-- (epoch seconds). The hourly rollup first finds the latest UTC hour from
-- which on the organization has at least {limit} successful logins in that
-- range; the raw scan is then bounded to org_id and occurred_at from that
-- hour (or {from}) to {to}, which prunes partitions and, through the
-- (org_id, application_id, occurred_at) key, granules of every application.
WITH
    (
        SELECT ifNull(max(h), toDateTime(0, 'UTC'))
        FROM
        (
            SELECT h,
                   sum(n) OVER (ORDER BY h DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
            FROM
            (
                SELECT hour AS h, sum(logins) AS n
                FROM login_hourly
                WHERE scope = 2
                  AND org_id = {org_id:UUID}
                  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
                  AND provider = ''
                  AND hour >= toDateTime({from:Int64}, 'UTC')
                  AND hour < toDateTime({to:Int64}, 'UTC')
                GROUP BY h
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
  AND occurred_at >= greatest(since, toDateTime({from:Int64}, 'UTC'))
  AND occurred_at < toDateTime({to:Int64}, 'UTC')
ORDER BY occurred_at DESC, toString(event_id) DESC
LIMIT {limit:UInt32}
