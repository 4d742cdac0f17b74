"""Does the ingestion accounting reconcile? Used by tests, asset checks and `marquee status`."""

from __future__ import annotations

import duckdb

RECONCILE_SQL = """
WITH per_file AS (
    SELECT l.batch_id, l.entity, l.source_file, l.rows_read, l.rows_accepted,
           l.rows_quarantined, l.rows_duplicate, l.file_error,
           (SELECT count(*) FROM raw.quarantine q
             WHERE q.batch_id = l.batch_id AND q.line_number IS NOT NULL) AS quarantine_rows,
           (SELECT count(*) FROM raw.duplicates d WHERE d.batch_id = l.batch_id) AS duplicate_rows,
           CASE l.entity
               WHEN 'events' THEN (SELECT count(*) FROM raw.events e WHERE e._batch_id = l.batch_id)
               WHEN 'titles' THEN (SELECT count(*) FROM raw.titles t WHERE t._batch_id = l.batch_id)
               ELSE (SELECT count(*) FROM raw.users u WHERE u._batch_id = l.batch_id)
           END AS accepted_rows
    FROM raw.ingestion_log l
)
SELECT * FROM per_file
WHERE rows_read <> rows_accepted + rows_quarantined + rows_duplicate
   OR quarantine_rows <> rows_quarantined
   OR duplicate_rows <> rows_duplicate
   OR accepted_rows <> rows_accepted
ORDER BY batch_id
"""


def unreconciled_files(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Files whose logged counts disagree with each other or with the rows actually stored."""
    cur = con.execute(RECONCILE_SQL)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
