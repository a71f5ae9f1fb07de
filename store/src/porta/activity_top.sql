-- The current 15-minute bucket [{top}, {top} + 15 min) whole: logins
-- (successful, failed), user / organization creations, and the time of
-- its latest such event (epoch ms; 0 when it has none). A request at now
-- counts [top, now]: this whole bucket while its latest event is not after
-- now (an event stamped after the request is one from a producer whose
-- clock runs ahead), otherwise [top, now] itself (activity_live.sql).
WITH
    toDateTime({top:Int64}, 'UTC') AS top,
    top + toIntervalMinute(15) AS next
SELECT toUInt64(sum(logins)) AS logins, toUInt64(sum(failed)) AS failed,
       toUInt64(sum(new_users)) AS new_users, toUInt64(sum(new_orgs)) AS new_orgs,
       toInt64(max(last)) AS last_ms
FROM
(
    SELECT countIf(success) AS logins, countIf(NOT success) AS failed,
           toUInt64(0) AS new_users, toUInt64(0) AS new_orgs,
           toUnixTimestamp64Milli(max(occurred_at)) AS last
    FROM login_events
    WHERE occurred_at >= top AND occurred_at < next
    UNION ALL
    SELECT toUInt64(0), toUInt64(0),
           countIf(action = 'user.created'), countIf(action = 'organization.created'),
           toUnixTimestamp64Milli(max(occurred_at))
    FROM audit_by_time
    WHERE occurred_at >= top AND occurred_at < next
      AND action IN ('user.created', 'organization.created')
)
