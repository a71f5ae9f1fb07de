-- Fresh answers from snapshots: every snapshot-backed figure is the
-- snapshot (final up to its watermark) plus a live delta since the
-- watermark, so a new event shows as soon as it is stored while a request
-- still reads a few rows (docs/rollups.md, "Snapshots and live deltas").
--
-- Recent activity (Porta stats): the snapshot keeps one row per 15-minute
-- bucket (not one sum over a window that moves with the request), for the
-- buckets before its watermark = the start of the bucket holding
-- (refresh time - 60 s). The boundary is on event time: a request adds the
-- buckets from the watermark on from the 15-minute rollups (one or two
-- buckets) and the two partial edge buckets of its exact window from raw
-- rows, so snapshot and delta never share an event. An event stored after
-- a refresh but stamped before that refresh's watermark (more than 60 s
-- late) shows at the next refresh (5 s). The row at bucket = watermark
-- carries the watermark while there is no activity at all.
CREATE TABLE IF NOT EXISTS activity_buckets_now
(
    as_of     DateTime64(3, 'UTC'),
    watermark DateTime('UTC'),
    bucket    DateTime('UTC'),
    logins    UInt64,
    failed    UInt64,
    new_users UInt64,
    new_orgs  UInt64
)
ENGINE = MergeTree
ORDER BY bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS activity_buckets_now_rmv
REFRESH EVERY 5 SECOND TO activity_buckets_now AS
WITH toStartOfFifteenMinutes(toDateTime(now64(3, 'UTC'), 'UTC') - 60) AS wm
SELECT now64(3, 'UTC') AS as_of, wm AS watermark, bucket,
       toUInt64(sum(ok)) AS logins, toUInt64(sum(failed_n)) AS failed,
       toUInt64(sum(users_n)) AS new_users, toUInt64(sum(orgs_n)) AS new_orgs
FROM
(
    SELECT bucket, sumIf(logins, success) AS ok, sumIf(logins, NOT success) AS failed_n,
           toUInt64(0) AS users_n, toUInt64(0) AS orgs_n
    FROM login_counts_15m
    WHERE bucket >= wm - toIntervalHour(24) - toIntervalMinute(15)
      AND bucket < wm
    GROUP BY bucket
    UNION ALL
    SELECT bucket, toUInt64(0), toUInt64(0),
           sumIf(events, action = 'user.created'), sumIf(events, action = 'organization.created')
    FROM audit_counts_15m
    WHERE bucket >= wm - toIntervalDay(7) - toIntervalMinute(15)
      AND bucket < wm
      AND action IN ('user.created', 'organization.created')
    GROUP BY bucket
    UNION ALL
    SELECT wm, toUInt64(0), toUInt64(0), toUInt64(0), toUInt64(0)
)
GROUP BY bucket
SETTINGS max_threads = 1;

-- Global MAU: the snapshot also keeps the merged state of the current and
-- the previous month (UTC months; empty states for older months), so a
-- request merges it with the live daily global states since the
-- snapshot's day: distinct-user states merge idempotently, so an overlap
-- between snapshot and delta cannot count a user twice and the boundary
-- only has to cover (the delta starts a day before the refresh, which also
-- covers late events up to a day old).
ALTER TABLE active_users_monthly_now
    ADD COLUMN IF NOT EXISTS state AggregateFunction(uniqCombined64(17), UUID);

ALTER TABLE active_users_monthly_now_rmv MODIFY QUERY
SELECT now64(3, 'UTC') AS as_of, tz, month, uniqCombined64Merge(17)(s) AS users,
       uniqCombined64MergeStateIf(17)(s, month >= addMonths(toStartOfMonth(today()), -1)) AS state
FROM (SELECT tz, month, users AS s FROM active_users_monthly_global)
GROUP BY tz, month
SETTINGS max_threads = 1;

-- Replaced by activity_buckets_now above (its window moved with each
-- refresh, so it could not be combined with a live delta).
DROP VIEW IF EXISTS activity_now_rmv;
