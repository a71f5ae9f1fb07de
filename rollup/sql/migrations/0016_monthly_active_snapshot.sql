-- Global monthly active users of past months, finalized in the background
-- like the daily numbers of 0009. A global month is one state per part of
-- active_users_monthly_global (0011) until merges combine them; merging
-- and finalizing those HyperLogLog states cost the MAU and Janssen reports
-- ~1 ms per month and part (p50 5.7 ms at 1 M events, 8.9 ms at 100 M).
-- This view finalizes the months of the last ~13 months of every report
-- timezone every 10 seconds; the reports read those numbers for past
-- months and merge live states only for the current month (in the report
-- timezone) and for months older than the window. A late event for a past
-- month shows after the next refresh.
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
WHERE month >= toStartOfMonth(today() - 400)
GROUP BY tz, month
SETTINGS max_threads = 1;
