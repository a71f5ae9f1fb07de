-- Successful logins of one login id (email / username) per local hour.
SELECT toUnixTimestamp(toStartOfHour(bucket, {tz:String})) AS start, sum(logins) AS count
FROM login_id_counts_15m
WHERE login_id = {login_id:String}
  AND bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND ({all_apps:Bool} OR application_id = {application_id:UUID})
GROUP BY start
ORDER BY start
