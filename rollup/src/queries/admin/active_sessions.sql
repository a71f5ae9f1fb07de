-- Sessions active at {now_ms}: latest state not revoked, not expired, and
-- created by then (version = creation ms × 2, see session_state_mv).
SELECT count() AS sessions, uniqExact(user_id) AS users
FROM session_state FINAL
WHERE NOT revoked
  AND expires_at > fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC')
  AND intDiv(version, 2) <= {now_ms:Int64}
