-- Logins (successful, failed) in the last 24 hours and user / organization
-- creations in the last 7 days, in 15-minute buckets, as of the latest
-- refresh of the activity snapshot (0015).
SELECT argMax(logins, as_of) AS logins, argMax(failed, as_of) AS failed,
       argMax(new_users, as_of) AS new_users, argMax(new_orgs, as_of) AS new_orgs
FROM activity_now
