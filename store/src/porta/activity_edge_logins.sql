-- Logins (successful, failed) per {unit} ms of [{from_ms}, {to_ms}): per
-- second over the oldest 15-minute bucket of the 24-hour window, or per
-- millisecond over the second holding its start; a request counts the units
-- after its own now - 24 h. occurred_at and success only, so login_events'
-- projection by_time (sorted by event time) serves it.
SELECT intDiv(toUnixTimestamp64Milli(occurred_at), {unit:Int64}) AS at,
       countIf(success) AS a,
       countIf(NOT success) AS b
FROM login_events
WHERE occurred_at >= fromUnixTimestamp64Milli({from_ms:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({to_ms:Int64}, 'UTC')
GROUP BY at
