-- Successful logins of one organization per application (the hourly
-- rollup's organization × application level, scope 4), with the latest
-- seen application name ('' when none was ever sent).
SELECT c.application_id AS service_id, ifNull(n.name, '') AS service_name, c.count AS count
FROM
(
    SELECT application_id, sum(logins) AS count
    FROM login_hourly
    WHERE scope = 4
      AND org_id = {org_id:UUID}
      AND provider = ''
      AND hour >= toDateTime({from:Int64}, 'UTC')
      AND hour < toDateTime({to:Int64}, 'UTC')
    GROUP BY application_id
    HAVING count > 0
) AS c
LEFT JOIN
(
    SELECT application_id, argMax(application_name, last_seen) AS name
    FROM application_names
    WHERE org_id = {org_id:UUID}
    GROUP BY application_id
) AS n ON n.application_id = c.application_id
ORDER BY count DESC, toString(service_id)
SETTINGS join_use_nulls = 1
