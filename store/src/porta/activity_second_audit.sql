-- User and organization creations per millisecond of one second
-- [{second}, {second} + 1 s): the second holding now - 7 d, of which a
-- request counts the milliseconds after its own now - 7 d (the seconds
-- after it are activity_edge_audit.sql's).
SELECT toInt64(toUnixTimestamp64Milli(occurred_at)) AS ms,
       countIf(action = 'user.created') AS a,
       countIf(action = 'organization.created') AS b
FROM audit_by_time
WHERE occurred_at >= toDateTime({second:Int64}, 'UTC')
  AND occurred_at < toDateTime({second:Int64}, 'UTC') + toIntervalSecond(1)
  AND action IN ('user.created', 'organization.created')
GROUP BY ms
