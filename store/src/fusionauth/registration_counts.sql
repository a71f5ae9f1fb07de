-- Registrations (users registered to an application) per local hour.
SELECT toUnixTimestamp(toStartOfHour(bucket, {tz:String})) AS start, sum(events) AS count
FROM registration_counts_15m
WHERE bucket >= toDateTime({from:Int64}, 'UTC')
  AND bucket < toDateTime({to:Int64}, 'UTC')
  AND action = 'registered'
  AND ({all_apps:Bool} OR application_id = {application_id:UUID})
GROUP BY start
ORDER BY start
