"""Summaries of the warehouse for the CLI (`demo`, `status`), and how reports are written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


def write_report_json(path: Path, payload: Any) -> Path:
    """A JSON report written atomically (temp file, fsync, rename): readers see the old file
    or the new one. numpy values become Python ones, NaN and infinities null."""
    from models.retrieval.artifacts import _jsonable

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        fh.write(json.dumps(_jsonable(payload), indent=2, allow_nan=False))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


METRIC_COLUMNS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage", "novelty")


def metrics_lines(models: dict[str, dict[str, Any]], columns=METRIC_COLUMNS, indent: str = "   ") -> list[str]:
    """Models x metrics as aligned text lines (a header, then one line per model)."""
    lines = [indent + f"{'model':<20}" + "".join(f"{c:>14}" for c in columns)]
    for name, m in models.items():
        values = (m.get(c) if isinstance(m.get(c), int | float) else float("nan") for c in columns)
        lines.append(indent + f"{name:<20}" + "".join(f"{float(v):>14.4f}" for v in values))
    return lines
