-- Global monthly active users, finalized in the background.
--
-- Once a month has more than a few thousand users its global state
-- (uniqCombined64(17)) is a dense HyperLogLog of ~98 KB, and finalizing it
-- costs about 1 ms: at 100 M events a 4-month MAU report spent ~4 ms of its
-- ~9 ms on that, and p50 grew 1.7x from 1 M events (where the states were
-- still small). This view finalizes every month of every report timezone
-- every 10 seconds (one row per month; ~1 ms of work per month), and the
-- global MAU report (and Janssen's MAU) reads those numbers: a few rows
-- whatever the data size. The numbers are at most one refresh old,
-- including the current month's. (Merging a live state for the current
-- month with the snapshot for the others was measured slower at every
-- size: docs/benchmarks-analysis.md, round 3.)
CREATE TABLE IF NOT EXISTS active_users_monthly_now
(
    as_of DateTime64(3, 'UTC'),
    tz    LowCardinality(String),
    month Date,
    users UInt64
)
ENGINE = MergeTree
ORDER BY (tz, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS active_users_monthly_now_rmv
REFRESH EVERY 10 SECOND TO active_users_monthly_now AS
SELECT now64(3, 'UTC') AS as_of, tz, month, uniqCombined64Merge(17)(users) AS users
FROM active_users_monthly_global
GROUP BY tz, month
SETTINGS max_threads = 1;
