-- Logins (successful, failed) in the 15-minute buckets [{from}, {to}] and
-- user / organization creations in [{from7}, {to}] (audit rollup). One scan
-- of each rollup; the two branches of the UNION run in parallel.
SELECT toUInt64(sum(ok)) AS logins, toUInt64(sum(failed_n)) AS failed,
       toUInt64(sum(users_n)) AS new_users, toUInt64(sum(orgs_n)) AS new_orgs
FROM
(
    SELECT sumIf(logins, success) AS ok, sumIf(logins, NOT success) AS failed_n,
           toUInt64(0) AS users_n, toUInt64(0) AS orgs_n
    FROM login_counts_15m
    WHERE bucket >= toDateTime({from:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')
    UNION ALL
    SELECT toUInt64(0), toUInt64(0),
           sumIf(events, action = 'user.created'), sumIf(events, action = 'organization.created')
    FROM audit_counts_15m
    WHERE bucket >= toDateTime({from7:Int64}, 'UTC') AND bucket <= toDateTime({to:Int64}, 'UTC')
)
