-- ingest_claims, sorted by event id, copied into ingest_claims_by_time by
-- 0024 (a separate migration so that an interrupted 0024 re-runs against
-- its source). Nothing of this release reads or writes it. On a cluster
-- its Distributed `_all` table of earlier layouts goes too (a no-op on a
-- single node).
DROP TABLE IF EXISTS ingest_claims;

DROP TABLE IF EXISTS ingest_claims_all;
