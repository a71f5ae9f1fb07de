-- Logins (successful, failed) per millisecond of one second
-- [{second}, {second} + 1 s): the second holding now - 24 h, of which a
-- request counts the milliseconds after its own now - 24 h (the seconds
-- after it are activity_edge_logins.sql's).
SELECT toInt64(toUnixTimestamp64Milli(occurred_at)) AS ms,
       countIf(success) AS a,
       countIf(NOT success) AS b
FROM login_events
WHERE occurred_at >= toDateTime({second:Int64}, 'UTC')
  AND occurred_at < toDateTime({second:Int64}, 'UTC') + toIntervalSecond(1)
GROUP BY ms
