-- Logins (successful, failed) in the 15-minute buckets [{from}, {to}] and
-- user / organization creations in [{from7}, {to}] (audit rollup).
SELECT
    toUInt64(ifNull((SELECT sumIf(logins, success) FROM login_counts_15m
     WHERE bucket >= toDateTime({from:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')), 0)) AS logins,
    toUInt64(ifNull((SELECT sumIf(logins, NOT success) FROM login_counts_15m
     WHERE bucket >= toDateTime({from:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')), 0)) AS failed,
    toUInt64(ifNull((SELECT sumIf(events, action = 'user.created') FROM audit_counts_15m
     WHERE bucket >= toDateTime({from7:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')), 0)) AS new_users,
    toUInt64(ifNull((SELECT sumIf(events, action = 'organization.created') FROM audit_counts_15m
     WHERE bucket >= toDateTime({from7:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')), 0)) AS new_orgs
