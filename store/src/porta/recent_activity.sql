-- Logins (successful, failed) in exactly (now - 24 h, now] and user /
-- organization creations in exactly (now - 7 d, now]: the snapshot's whole
-- buckets before its watermark (0021), the 15-minute rollups' whole
-- buckets from the watermark on, and raw rows for the two partial edge
-- buckets of each window. Snapshot and live parts split on event time at
-- the watermark, so no event is counted twice.
WITH
    fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC') AS n,
    n - toIntervalHour(24) AS d1,
    n - toIntervalDay(7) AS d7,
    toStartOfFifteenMinutes(d1) AS e1,
    toStartOfFifteenMinutes(d7) AS e7,
    toStartOfFifteenMinutes(n) AS top,
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
    UNION ALL
    -- partial edge buckets from raw rows: (now - 24 h, end of its bucket) and [current bucket, now];
    -- occurred_at and success only, so login_events' projection by_time (sorted by event time) serves it
    SELECT countIf(success), countIf(NOT success), toUInt64(0), toUInt64(0)
    FROM login_events
    WHERE (occurred_at > d1 AND occurred_at < e1 + toIntervalMinute(15))
       OR (occurred_at >= top AND occurred_at <= n)
    UNION ALL
    -- audit_by_time: the audit log sorted by event time (audit_events is sorted by tenant first)
    SELECT toUInt64(0), toUInt64(0),
           countIf(action = 'user.created'), countIf(action = 'organization.created')
    FROM audit_by_time
    WHERE ((occurred_at > d7 AND occurred_at < e7 + toIntervalMinute(15))
       OR (occurred_at >= top AND occurred_at <= n))
      AND action IN ('user.created', 'organization.created')
)
