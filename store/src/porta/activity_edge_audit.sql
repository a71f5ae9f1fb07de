-- User and organization creations per {unit} ms of [{from_ms}, {to_ms}):
-- per second over the oldest 15-minute bucket of the 7-day window, or per
-- millisecond over the second holding its start. From audit_by_time, the
-- audit log sorted by event time.
SELECT intDiv(toUnixTimestamp64Milli(occurred_at), {unit:Int64}) AS at,
       countIf(action = 'user.created') AS a,
       countIf(action = 'organization.created') AS b
FROM audit_by_time
WHERE occurred_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
  AND action IN ('user.created', 'organization.created')
GROUP BY at
