-- Successful logins per local hour of the report timezone, from the
-- 15-minute rollup. An empty application means every application.
SELECT
    toUnixTimestamp(toStartOfHour(bucket, {tz:String})) AS start,
    sum(logins) AS count
FROM login_counts_15m
WHERE bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND success
  AND ({all_apps:Bool} OR application_id = {application_id:UUID})
GROUP BY start
ORDER BY start
