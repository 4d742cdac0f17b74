"""What the checks read from the DuckDB warehouse (pandas frames and aggregate numbers).

All functions take an open connection and return plain data; callers open it briefly and
close it before running GX (DuckDB has one writer per file).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

RAW_SCHEMA = "raw"
MARTS_SCHEMA = "marts"
MARTS = ("fct_interactions", "dim_titles", "dim_users")


def mart(name: str) -> str:
    return f"{MARTS_SCHEMA}.{name}"


@dataclass
class IngestionWindow:
    """The files of an entity's latest ingestion and their row accounting."""

    entity: str
    batch_ids: list[int] = field(default_factory=list)
    files: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    files_rejected: int = 0
    started_at: str | None = None
    top_reasons: list[tuple[str, int]] = field(default_factory=list)

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def latest_ingestion(
    con: duckdb.DuckDBPyConnection, entity: str, since: dt.datetime | None = None
) -> IngestionWindow:
    """Files of ``entity`` ingested at or after ``since`` (the start of the run that last
    materialized the entity); without ``since``, or when nothing was ingested since, the files
    of the entity's most recent ingestion chunk (same ``started_at``)."""
    window = IngestionWindow(entity)
    rows = []
    if since is not None:
        rows = con.execute(
            "SELECT batch_id FROM raw.ingestion_log WHERE entity = ? AND started_at >= ?",
            [entity, since],
        ).fetchall()
    if not rows:
        rows = con.execute(
            "SELECT batch_id FROM raw.ingestion_log WHERE entity = ? AND started_at = "
            "(SELECT max(started_at) FROM raw.ingestion_log WHERE entity = ?)",
            [entity, entity],
        ).fetchall()
    window.batch_ids = sorted(int(b) for (b,) in rows)
    if not window.batch_ids:
        return window
    placeholders = ", ".join("?" * len(window.batch_ids))
    (
        window.files, window.rows_read, window.rows_accepted, window.rows_quarantined,
        window.rows_duplicate, window.files_rejected, started,
    ) = con.execute(
        "SELECT count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_accepted), 0), "
        "coalesce(sum(rows_quarantined), 0), coalesce(sum(rows_duplicate), 0), "
        "count(*) FILTER (file_error IS NOT NULL), min(started_at)::VARCHAR "
        f"FROM raw.ingestion_log WHERE batch_id IN ({placeholders})",
        window.batch_ids,
    ).fetchone()
    window.started_at = started
    window.top_reasons = [
        (str(r), int(n))
        for r, n in con.execute(
            "SELECT reason, count(*) AS n FROM raw.quarantine "
            f"WHERE batch_id IN ({placeholders}) GROUP BY reason ORDER BY n DESC, reason LIMIT 5",
            window.batch_ids,
        ).fetchall()
    ]
    return window


def describe(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """(column_name, column_type) of ``table``."""
    return con.execute(
        f"SELECT column_name, column_type FROM (DESCRIBE {table})"
    ).df()


def sample_frame(
    con: duckdb.DuckDBPyConnection, relation: str, max_rows: int, params: list | None = None
) -> tuple[pd.DataFrame, int | None]:
    """All rows of ``relation`` (a table or ``(SELECT ...)``), or a reservoir sample of
    ``max_rows`` when larger; returns (frame, total rows if sampled else None)."""
    (total,) = con.execute(f"SELECT count(*) FROM {relation} AS r", params or []).fetchone()
    if total <= max_rows:
        return con.execute(f"SELECT * FROM {relation} AS r", params or []).df(), None
    df = con.execute(
        f"SELECT * FROM {relation} AS r USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (42)",
        params or [],
    ).df()
    return df, int(total)


def raw_events_of_batches(
    con: duckdb.DuckDBPyConnection, batch_ids: list[int], max_rows: int
) -> tuple[pd.DataFrame, int | None]:
    if not batch_ids:
        return con.execute("SELECT * FROM raw.events LIMIT 0").df(), None
    ids = ", ".join(str(int(b)) for b in batch_ids)
    return sample_frame(con, f"(SELECT * FROM raw.events WHERE _batch_id IN ({ids}))", max_rows)


@dataclass
class Coverage:
    rows: int
    rows_missing_title: int
    rows_missing_user: int
    missing_titles: list[str]
    missing_users: list[str]

    @property
    def missing_title_share(self) -> float:
        return self.rows_missing_title / self.rows if self.rows else 0.0

    @property
    def missing_user_share(self) -> float:
        return self.rows_missing_user / self.rows if self.rows else 0.0


def referential_coverage(con: duckdb.DuckDBPyConnection) -> Coverage:
    """fct_interactions rows whose title / user is missing from the catalogue (in_catalogue is
    false in the dimension, or absent from it altogether)."""
    rows, no_title, no_user = con.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE t.in_catalogue IS DISTINCT FROM true),
               count(*) FILTER (WHERE u.in_catalogue IS DISTINCT FROM true)
        FROM {mart('fct_interactions')} f
        LEFT JOIN {mart('dim_titles')} t USING (title_id)
        LEFT JOIN {mart('dim_users')} u USING (user_id)
        """
    ).fetchone()

    def top(dim: str, key: str) -> list[str]:
        return [
            f"{k} ({n:,} rows)"
            for k, n in con.execute(
                f"SELECT f.{key}, count(*) AS n FROM {mart('fct_interactions')} f "
                f"LEFT JOIN {mart(dim)} d USING ({key}) WHERE d.in_catalogue IS DISTINCT FROM true "
                f"GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5"
            ).fetchall()
        ]

    return Coverage(
        int(rows), int(no_title), int(no_user),
        top("dim_titles", "title_id") if no_title else [],
        top("dim_users", "user_id") if no_user else [],
    )


def row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {m: int(con.execute(f"SELECT count(*) FROM {mart(m)}").fetchone()[0]) for m in MARTS}
