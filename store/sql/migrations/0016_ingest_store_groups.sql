-- The consumer stores a store group (one batch per partition it owns) with
-- one insert per table instead of one per partition batch: 4× fewer parts
-- and insert pipelines at 4 partitions (docs/benchmarks-analysis.md). The
-- write-ahead record of each member batch names the whole group, so
-- whoever resumes any of its partitions can re-form the group exactly
-- (docs/delivery.md). Empty for records written before this migration:
-- a one-batch group.
ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS members String DEFAULT '';
