-- Global daily active users of recent days, finalized in the background.
--
-- A daily distinct-user state (uniqCombined64(17), HyperLogLog with 2^17
-- registers once a day has more than a few thousand users) costs about
-- 0.2 ms to read and finalize, so a 90-day global DAU report spends ~20 ms
-- of CPU on states alone, whatever the layout. This view finalizes the
-- global states of the last 100 days of every report timezone every 10
-- seconds (~20 ms of work per zone per refresh); the DAU report reads those
-- numbers for past days and merges live states only for today (in the
-- report timezone) and for days older than the snapshot window. A late
-- event for a past day shows after the next refresh.
CREATE TABLE IF NOT EXISTS active_users_daily_now
(
    as_of DateTime64(3, 'UTC'),
    tz    LowCardinality(String),
    day   Date,
    users UInt64
)
ENGINE = MergeTree
ORDER BY (tz, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_daily_now_rmv
REFRESH EVERY 10 SECOND TO active_users_daily_now AS
SELECT now64(3, 'UTC') AS as_of, tz, day, uniqCombined64Merge(17)(users) AS users
FROM active_users_daily
WHERE org_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND application_id = toUUID('00000000-0000-0000-0000-000000000000')
  AND day >= today() - 100
GROUP BY tz, day;
