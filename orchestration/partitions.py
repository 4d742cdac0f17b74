"""Daily partitions (data time, UTC) of the event-level assets, and the dbt vars of a window.

The daily-activity models (`int_user_daily_activity`, `int_title_daily_activity`, dbt tag
``daily``) are keyed by the UTC day of their events, so each day is a partition. Two ways to
materialize them:

- **Unpartitioned runs** (`marquee run`, the landing sensor's `transform_job`): dbt's own
  incremental logic recomputes exactly the days touched by batches it has not seen yet
  (watermarks in the models). New files may hold events of any day, so this is the normal way.
- **Partition runs and backfills** (the UI's "Materialize" / "Backfill" on those assets,
  ``marquee run --partition``): one run per range (``BackfillPolicy.single_run``) runs
  ``dbt build --vars '{"min_date": start, "max_date": end}'``; the models then delete and
  recompute the days in ``[start, end)`` only, from everything in staging, and leave their
  watermarks as they were (a backfill never makes later batches look seen).

The marts built on them (`fct_*_daily_features`) are full rebuilds: the next transform run
(or selecting them) refreshes them after a backfill.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

# Before MovieLens' first rating (1995-01-09): every supported data set has its days in range.
DEFAULT_START = "1995-01-01"
START_ENV = "MARQUEE_PARTITIONS_START"


def daily_partitions(env: Mapping[str, str] | None = None) -> dg.DailyPartitionsDefinition:
    """UTC days from ``$MARQUEE_PARTITIONS_START`` (default 1995-01-01) to today."""
    start = (env if env is not None else os.environ).get(START_ENV, DEFAULT_START)
    try:
        dt.date.fromisoformat(start)
    except ValueError as exc:
        raise ValueError(f"{START_ENV} must be a date YYYY-MM-DD, got {start!r}") from exc
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC", end_offset=1)


def window_vars(context: dg.AssetExecutionContext) -> dict[str, Any] | None:
    """``{"min_date", "max_date"}`` (end exclusive) of a partition run, None otherwise."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return {"min_date": window.start.date().isoformat(), "max_date": window.end.date().isoformat()}


def partition_range_tags(start: str, end: str) -> dict[str, str]:
    """Run tags that make an in-process run a run of the partitions ``start`` .. ``end``
    (inclusive), as a single-run backfill of them would be."""
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }
