"""Read-only summaries of the warehouse for the CLI (`demo`, `status`)."""

from __future__ import annotations

import duckdb

LAYERS = ("raw", "staging", "intermediate", "marts")


def layer_counts(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(layer, table, rows) for every table of every layer, in pipeline order."""
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN "
        "('raw', 'staging', 'intermediate', 'marts') AND NOT temporary"
    ).fetchall()
    order = {layer: i for i, layer in enumerate(LAYERS)}
    rows = []
    for schema, table in sorted(tables, key=lambda t: (order[t[0]], t[1])):
        (n,) = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
        rows.append((schema, table, int(n)))
    return rows


def quarantine_summary(con: duckdb.DuckDBPyConnection) -> tuple[int, list[tuple[str, int]]]:
    (total,) = con.execute("SELECT count(*) FROM raw.quarantine").fetchone()
    top = con.execute(
        "SELECT reason, count(*) AS n FROM raw.quarantine GROUP BY reason ORDER BY n DESC LIMIT 5"
    ).fetchall()
    return int(total), [(r, int(n)) for r, n in top]


def last_ingestion(con: duckdb.DuckDBPyConnection) -> tuple[str, int, int] | None:
    row = con.execute(
        "SELECT max(finished_at)::VARCHAR, count(*), sum(rows_accepted) FROM raw.ingestion_log"
    ).fetchone()
    return None if row[0] is None else (row[0], int(row[1]), int(row[2] or 0))
