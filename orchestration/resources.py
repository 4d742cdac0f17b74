"""Resources, chosen by environment.

``local`` (the default): a DuckDB file and, later, a SQLite online store under
``$MARQUEE_HOME``. Other environments swap backends through configuration only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from marquee.config import MarqueeHome
from marquee.ingestion.ingest import connect

# DuckDB allows one writer per file: a second process waits for the lock instead of failing.
LOCK_WAIT_SECONDS = 120.0


class WarehouseResource(dg.ConfigurableResource):
    """The Marquee state folder and its DuckDB warehouse."""

    home: str

    @property
    def marquee_home(self) -> MarqueeHome:
        return MarqueeHome.from_env(self.home)

    @contextmanager
    def connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection, closed on exit so dbt and other processes can write."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                con = connect(self.marquee_home, read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            yield con
        finally:
            con.close()

