-- Successful logins of one user per local hour.
SELECT toUnixTimestamp(toStartOfHour(bucket, {tz:String})) AS start, sum(logins) AS count
FROM user_login_counts_15m
WHERE user_id = {user_id:UUID}
  AND bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND ({all_apps:Bool} OR application_id = {application_id:UUID})
GROUP BY start
ORDER BY start
