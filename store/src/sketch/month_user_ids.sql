-- Distinct users with a successful login in one local month (raw logins:
-- run while the month is still within raw retention, e.g. at month close).
SELECT DISTINCT user_id
FROM login_events
WHERE occurred_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
  AND occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
  AND success
