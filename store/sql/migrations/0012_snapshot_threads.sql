-- The snapshot views (0007, 0009, 0011) refresh every 5–10 seconds by
-- reading every entity, session and registration state. At 100 M events a
-- refresh takes 100–400 ms, and with ClickHouse's default of one thread
-- per core it took both cores of a 2-core server for that long, which
-- showed as p99 spikes on every report (p99 up to 40 ms with p50 under
-- 20 ms; with refreshes stopped, p99 stayed within a few ms of p50). One
-- thread per refresh leaves the other cores to the reports; a refresh
-- takes somewhat longer, well within its period.
ALTER TABLE entity_status_now_rmv MODIFY QUERY
SELECT entity_type, status, count() AS entities
FROM entity_state FINAL
GROUP BY entity_type, status
SETTINGS max_threads = 1;

ALTER TABLE sessions_now_rmv MODIFY QUERY
SELECT now64(3, 'UTC') AS as_of, count() AS sessions, uniqExact(user_id) AS users
FROM session_state FINAL
WHERE NOT revoked
  AND expires_at > now64(3, 'UTC')
  AND intDiv(version, 2) <= toUInt64(toUnixTimestamp64Milli(now64(3, 'UTC')))
SETTINGS max_threads = 1;

ALTER TABLE registrations_now_rmv MODIFY QUERY
SELECT application_id, count() AS registrations
FROM registration_state FINAL
WHERE registered
  AND (org_id, user_id) NOT IN (SELECT org_id, user_id FROM user_state FINAL WHERE deleted)
GROUP BY application_id
SETTINGS max_threads = 1;

ALTER TABLE active_users_daily_now_rmv MODIFY QUERY
SELECT now64(3, 'UTC') AS as_of, tz, day, uniqCombined64Merge(17)(users) AS users
FROM active_users_daily_global
WHERE day >= today() - 100
GROUP BY tz, day
SETTINGS max_threads = 1;
