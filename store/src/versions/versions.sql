-- One fingerprint per table of the list: every active part's name, rows
-- and checksum of its files, XOR-combined. Any insert, merge, mutation,
-- lightweight delete or TTL drop changes the set of active parts, so it
-- changes the fingerprint. A snapshot refresh replaces its table with a new
-- one whose parts restart at the same names: the checksums tell whether its
-- content changed (a refresh that found nothing new keeps every answer over
-- the snapshot; the modification time would drop them all every refresh).
-- `mergetree` is 0 for a table whose data is elsewhere (a Distributed or a
-- View): its parts do not say when its answers change.
--
-- Parts are grouped by the earliest time they can hold (epoch seconds): the
-- minimum of the partition key's DateTime column, or a day before the
-- minimum of its Date column (a local date starts up to 14 h before its
-- UTC midnight); 0 when the partition key has no time. An interval whose
-- rows are filtered on that column depends only on the groups that start
-- before it ends, so an insert of current events leaves closed intervals'
-- answers standing (api/src/cache.rs, `BY_TIME`).
SELECT
    t.name AS table,
    endsWith(t.engine, 'MergeTree') AS mergetree,
    p.lower AS lower,
    p.fp AS fingerprint
FROM system.tables AS t
LEFT JOIN
(
    SELECT
        table,
        greatest(toInt64(toUnixTimestamp(min_time)),
                 toInt64(toUnixTimestamp(toDateTime(min_date, 'UTC'))) - 86400) AS lower,
        groupBitXor(cityHash64(name, rows, bytes_on_disk, hash_of_all_files)) AS fp
    FROM system.parts
    WHERE database = currentDatabase() AND active AND table IN {tables:Array(String)}
    GROUP BY table, lower
) AS p ON p.table = t.name
WHERE t.database = currentDatabase() AND t.name IN {tables:Array(String)}
-- The API gives up on a poll that hangs (a table lock, a full server):
-- ClickHouse then stops it too instead of holding a query slot.
SETTINGS cancel_http_readonly_queries_on_client_close = 1
