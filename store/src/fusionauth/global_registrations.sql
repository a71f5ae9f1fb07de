-- Users added (all time) and users deleted, for globalRegistrations and
-- totalGlobalRegistrations.
SELECT
    sumIf(events, action = 'user_created') AS created,
    sumIf(events, action = 'user_deleted') AS deleted
FROM registration_totals
