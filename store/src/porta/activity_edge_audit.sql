-- User and organization creations per second of one 15-minute bucket
-- [{from}, {from} + 15 min): the oldest bucket of the 7-day window. From
-- audit_by_time, the audit log sorted by event time.
SELECT toInt64(toUnixTimestamp(occurred_at)) AS second,
       countIf(action = 'user.created') AS a,
       countIf(action = 'organization.created') AS b
FROM audit_by_time
WHERE occurred_at >= toDateTime({from:Int64}, 'UTC')
  AND occurred_at < toDateTime({from:Int64}, 'UTC') + toIntervalMinute(15)
  AND action IN ('user.created', 'organization.created')
GROUP BY second
