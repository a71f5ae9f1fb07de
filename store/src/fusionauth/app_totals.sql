-- Per application: all-time successful logins, all-time registrations, and
-- current registrations (registered, not since unregistered, user not
-- deleted; the snapshot registrations_now_rmv refreshes every few seconds).
-- Reads only small tables.
WITH
    current AS (
        SELECT application_id, sum(registrations) AS registrations
        FROM registrations_now
        GROUP BY application_id
    ),
    logins AS (SELECT application_id, sum(logins) AS logins FROM login_totals GROUP BY application_id),
    total AS (
        SELECT application_id, sum(events) AS total_registrations
        FROM registration_totals
        WHERE action = 'registered'
        GROUP BY application_id
    ),
    apps AS (
        SELECT application_id FROM logins
        UNION DISTINCT SELECT application_id FROM total
    )
SELECT
    apps.application_id AS application_id,
    toUInt64(logins.logins) AS logins,
    toInt64(current.registrations) AS registrations,
    toUInt64(total.total_registrations) AS total_registrations
FROM apps
LEFT JOIN logins ON logins.application_id = apps.application_id
LEFT JOIN current ON current.application_id = apps.application_id
LEFT JOIN total ON total.application_id = apps.application_id
WHERE apps.application_id != toUUID('00000000-0000-0000-0000-000000000000')
ORDER BY application_id
SETTINGS join_use_nulls = 0
