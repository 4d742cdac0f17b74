"""Helpers to run the dbt project (dbt_project/) against a scratch warehouse.

Used by tests/test_dbt_project.py; `fill_synthetic_raw` also serves benchmarks (a large,
deterministic raw layer generated in SQL, no landing files involved).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from marquee.ingestion.schema import RAW_DDL

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_dbt(
    args: list[str],
    warehouse: Path,
    work_dir: Path,
    *,
    check: bool = True,
    timeout: float = 600,
) -> DbtResult:
    """Run `dbt ARGS` on the project with its state (target/, logs/) under `work_dir`."""
    env = {
        **os.environ,
        "MARQUEE_WAREHOUSE": str(warehouse),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    cmd = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    result = DbtResult(cmd, proc.returncode, proc.stdout, time.perf_counter() - start)
    if check and not result.ok:
        raise AssertionError(f"dbt {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}")
    return result


def create_raw(warehouse: Path) -> None:
    """Create an empty raw layer (marquee.ingestion.schema.RAW_DDL)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(RAW_DDL)


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Run one query on the warehouse and close the connection (dbt needs the file lock)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def execute(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(sql)


def fill_synthetic_raw(
    warehouse: Path,
    *,
    n_events: int,
    n_users: int = 100_000,
    n_titles: int = 10_000,
    n_days: int = 90,
    n_batches: int = 10,
    session_size: int = 10,
    first_batch: int = 1,
    start: str = "2026-01-01",
    event_offset: int = 0,
) -> None:
    """Append a deterministic synthetic raw layer, generated in SQL.

    Events: `n_events` rows over `n_days` days from `start`, split into `n_batches` batches
    numbered from `first_batch`; ~70% impressions; title popularity is skewed (power law).
    Titles and users catalogues (2% of titles, 5% of users missing) are written only when
    `event_offset` is 0.
    """
    per_batch = max(n_events // n_batches, 1)
    sql = f"""
    {RAW_DDL}
    INSERT INTO raw.events
    WITH base AS (
        SELECT
            i,
            CAST(hash(i, 11) % 1000000 AS BIGINT) / 1000000.0 AS r_type,
            CAST(hash(i, 12) % 1000000 AS BIGINT) / 1000000.0 AS r_title,
            CAST(hash(i // {session_size}, 13) % {n_users} AS BIGINT) AS u,
            CAST(hash(i // {session_size}, 14) % ({n_days} * 86400 - 7200) AS BIGINT)
                + (i % {session_size}) * 90 + CAST(hash(i, 18) % 60 AS BIGINT) AS sec,
            CAST(hash(i, 15) % 1000000 AS BIGINT) / 1000000.0 AS r_val,
            CAST(hash(i, 16) % 4 AS BIGINT) AS d,
            CAST(hash(i, 17) % 20 AS BIGINT) AS c
        FROM range({event_offset}, {event_offset + n_events}) AS t(i)
    )
    SELECT
        'e' || i,
        'u' || u,
        't' || CAST(floor({n_titles} * pow(r_title, 3)) AS BIGINT),
        CASE
            WHEN r_type < 0.70 THEN 'impression'
            WHEN r_type < 0.80 THEN 'play_start'
            WHEN r_type < 0.89 THEN 'play_stop'
            WHEN r_type < 0.92 THEN 'rating'
            WHEN r_type < 0.95 THEN 'thumbs_up'
            WHEN r_type < 0.96 THEN 'thumbs_down'
            ELSE 'add_to_list'
        END,
        TIMESTAMPTZ '{start} 00:00:00+00' + to_seconds(sec),
        CASE WHEN r_type >= 0.80 AND r_type < 0.89 THEN round(r_val * 7200) END,
        CASE WHEN r_type >= 0.89 AND r_type < 0.92 THEN 0.5 + floor(r_val * 10) / 2 END,
        ['tv', 'mobile', 'web', 'console'][d + 1],
        ['US', 'GB', 'FR', 'DE', 'BR', 'IN', 'JP', 'CA', 'ES', 'IT',
         'MX', 'NL', 'SE', 'PL', 'AU', 'KR', 'AR', 'BE', 'CH', 'NO'][c + 1],
        CASE WHEN r_type < 0.70 THEN 'row' || (d + 1) END,
        CASE WHEN r_type < 0.70 THEN CAST(c AS INTEGER) END,
        'synthetic-events.jsonl',
        i,
        {first_batch} + least((i - {event_offset}) // {per_batch}, {n_batches - 1}),
        TIMESTAMPTZ '{start} 00:00:00+00' + to_days({n_days})
    FROM base;
    """
    if event_offset == 0:
        sql += f"""
        INSERT INTO raw.titles
        SELECT
            't' || i, 'Title ' || i,
            CASE WHEN i % 5 = 0 THEN 'series' ELSE 'movie' END,
            [['Drama', 'Comedy', 'Action', 'Documentary', 'Horror'][i % 5 + 1],
             ['Romance', 'Thriller', 'Family'][i % 3 + 1]],
            1950 + i % 75, 20 + CAST(i % 160 AS INTEGER),
            ['G', 'PG', 'PG-13', 'R'][i % 4 + 1], ['en', 'fr', 'es'][i % 3 + 1],
            'synthetic-titles.jsonl', i, 0, TIMESTAMPTZ '{start} 00:00:00+00'
        FROM range({n_titles}) AS t(i)
        WHERE i % 50 <> 7;
        INSERT INTO raw.users
        SELECT
            'u' || i, DATE '{start}' - CAST(i % 1000 AS INTEGER),
            ['US', 'GB', 'FR', 'DE'][i % 4 + 1], ['basic', 'standard', 'premium'][i % 3 + 1],
            CAST(15 + i % 60 AS INTEGER), ['F', 'M'][i % 2 + 1], 'occupation ' || (i % 20),
            'synthetic-users.jsonl', i, 0, TIMESTAMPTZ '{start} 00:00:00+00'
        FROM range({n_users}) AS t(i)
        WHERE i % 20 <> 3;
        """
    with duckdb.connect(str(warehouse)) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(sql)
