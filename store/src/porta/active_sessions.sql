-- Active sessions and their distinct users as of the latest refresh of
-- sessions_now_rmv (not revoked, not expired, created by then); zeros
-- before the first refresh.
SELECT argMax(sessions, as_of) AS sessions, argMax(users, as_of) AS users
FROM sessions_now
