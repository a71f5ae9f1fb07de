-- The parts of the activity windows that move with the request's own now:
-- the current bucket [top, now] and the first, partial second of each
-- window, (now - 24 h, its second's end) and (now - 7 d, its second's end).
-- The rest of each window is whole seconds and buckets (activity_middle.sql,
-- activity_edge_*.sql).
WITH
    fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC') AS n,
    n - toIntervalHour(24) AS d1,
    n - toIntervalDay(7) AS d7,
    toStartOfFifteenMinutes(n) AS top,
    toStartOfSecond(d1) + toIntervalSecond(1) AS s1,
    toStartOfSecond(d7) + toIntervalSecond(1) AS s7
SELECT toUInt64(sum(logins)) AS logins, toUInt64(sum(failed)) AS failed,
       toUInt64(sum(new_users)) AS new_users, toUInt64(sum(new_orgs)) AS new_orgs
FROM
(
    SELECT countIf(success) AS logins, countIf(NOT success) AS failed,
           toUInt64(0) AS new_users, toUInt64(0) AS new_orgs
    FROM login_events
    WHERE (occurred_at > d1 AND occurred_at < s1)
       OR (occurred_at >= top AND occurred_at <= n)
    UNION ALL
    SELECT toUInt64(0), toUInt64(0),
           countIf(action = 'user.created'), countIf(action = 'organization.created')
    FROM audit_by_time
    WHERE ((occurred_at > d7 AND occurred_at < s7)
       OR (occurred_at >= top AND occurred_at <= n))
      AND action IN ('user.created', 'organization.created')
)
