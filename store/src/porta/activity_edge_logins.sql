-- Logins (successful, failed) per second of one 15-minute bucket
-- [{from}, {from} + 15 min): the oldest bucket of the 24-hour window, of
-- which a request counts the seconds after its own now - 24 h. occurred_at
-- and success only, so login_events' projection by_time (sorted by event
-- time) serves it.
SELECT toInt64(toUnixTimestamp(occurred_at)) AS second,
       countIf(success) AS a,
       countIf(NOT success) AS b
FROM login_events
WHERE occurred_at >= toDateTime({from:Int64}, 'UTC')
  AND occurred_at < toDateTime({from:Int64}, 'UTC') + toIntervalMinute(15)
GROUP BY second
