-- Logins (successful, failed) in the whole 15-minute buckets of the last
-- 24 hours and user / organization creations in those of the last 7 days,
-- before the current bucket {top}: the snapshot's buckets before its
-- watermark (0021), the 15-minute rollups' from the watermark on. Snapshot
-- and live parts split on event time at the watermark, so no event is
-- counted twice. The partial buckets at both ends of each window come from
-- raw rows (activity_edge_*.sql, activity_live.sql); together they count
-- exactly (now - 24 h, now] and (now - 7 d, now].
WITH
    toDateTime({top:Int64}, 'UTC') AS top,
    top - toIntervalHour(24) AS e1,
    top - toIntervalDay(7) AS e7,
    -- 1970 (all live) before the first refresh
    (SELECT max(watermark) FROM activity_buckets_now) AS wm
SELECT toUInt64(sum(logins)) AS logins, toUInt64(sum(failed)) AS failed,
       toUInt64(sum(new_users)) AS new_users, toUInt64(sum(new_orgs)) AS new_orgs
FROM
(
    -- snapshot: whole buckets strictly inside the window, before the watermark
    SELECT sumIf(logins, bucket > e1) AS logins, sumIf(failed, bucket > e1) AS failed,
           sumIf(new_users, bucket > e7) AS new_users, sumIf(new_orgs, bucket > e7) AS new_orgs
    FROM activity_buckets_now
    WHERE watermark = wm AND bucket < wm AND bucket < top
    UNION ALL
    -- live whole buckets from the watermark up to the current bucket
    SELECT sumIf(logins, success), sumIf(logins, NOT success), toUInt64(0), toUInt64(0)
    FROM login_counts_15m
    WHERE bucket >= greatest(wm, e1 + toIntervalMinute(15)) AND bucket < top
    UNION ALL
    SELECT toUInt64(0), toUInt64(0),
           sumIf(events, action = 'user.created'), sumIf(events, action = 'organization.created')
    FROM audit_counts_15m
    WHERE bucket >= greatest(wm, e7 + toIntervalMinute(15)) AND bucket < top
      AND action IN ('user.created', 'organization.created')
)
