"""Daily partitions of the daily-activity models: a backfill rebuilds exactly its days.

The data set is small (synthetic, 7 days); the run goes through the same definitions as
`marquee run` and the UI, in-process, with the run tags a single-run backfill has.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import dagster as dg
import pytest
from dbt_helpers import execute, query

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.pipeline import parse_partition_range, prepare_dagster_home, run_assets
from marquee.synthetic import GenerationConfig, generate
from orchestration.partitions import daily_partitions

END = dt.date(2026, 6, 30)
TABLE = "intermediate.int_user_daily_activity"


def _query(home: MarqueeHome, sql: str) -> list[tuple]:
    return query(home.warehouse, sql)


def _execute(home: MarqueeHome, sql: str) -> None:
    execute(home.warehouse, sql)


def _day_rows(home: MarqueeHome, day: dt.date) -> list[tuple]:
    return _query(
        home,
        f"select user_id, n_events, watch_seconds, n_titles from {TABLE} "
        f"where activity_date = date '{day}' order by user_id",
    )


def test_partition_definition_and_ranges() -> None:
    daily = daily_partitions({})
    assert daily.get_first_partition_key() == "1995-01-01"
    assert daily_partitions({"MARQUEE_PARTITIONS_START": "2026-01-01"}).get_first_partition_key() == "2026-01-01"
    with pytest.raises(ValueError, match="MARQUEE_PARTITIONS_START"):
        daily_partitions({"MARQUEE_PARTITIONS_START": "soon"})
    assert parse_partition_range("2026-06-01") == ("2026-06-01", "2026-06-01")
    assert parse_partition_range("2026-06-01:2026-06-03") == ("2026-06-01", "2026-06-03")
    for bad in ("June", "2026-06-03:2026-06-01", "2026-06-01:x"):
        with pytest.raises(MarqueeUserError):
            parse_partition_range(bad)


@pytest.mark.slow
def test_a_backfill_rebuilds_its_days_only_and_keeps_the_watermarks(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    generate(home, GenerationConfig(users=120, titles=80, days=7, end_date=END), progress=False)
    first = run_assets(home, select="group:ingestion or group:transform")
    assert first.success, (first.failed_steps, first.checks_failed)

    target, outside = END - dt.timedelta(days=3), END - dt.timedelta(days=1)
    expected = _day_rows(home, target)
    assert expected, "the synthetic data has activity on every day"
    watermarks = _query(home, f"select max(_events_watermark), max(_titles_watermark) from {TABLE}")

    # Lose the target day, tamper with a day outside the window.
    _execute(home, f"delete from {TABLE} where activity_date = date '{target}'")
    _execute(home, f"update {TABLE} set n_events = -1 where activity_date = date '{outside}'")
    # A new batch lands (events on the last day) but is not ingested by dbt yet.
    user = _query(home, "select min(user_id) from marts.dim_users")[0][0]
    title = _query(home, "select min(title_id) from marts.dim_titles")[0][0]
    late = [
        {"event_id": f"late-{i}", "user_id": user, "title_id": title, "event_type": "play_start",
         "event_ts": f"{END}T21:0{i}:00Z"}
        for i in range(3)
    ]
    (home.landing_dir("events") / "late.jsonl.gz").write_bytes(
        gzip.compress("".join(json.dumps(e) + "\n" for e in late).encode())
    )
    ingest = run_assets(home, select="group:ingestion or key:stg_events")
    assert ingest.success, (ingest.failed_steps, ingest.checks_failed)

    backfill = run_assets(home, partition=f"{target}")
    assert backfill.success, (backfill.failed_steps, backfill.checks_failed)
    assert set(backfill.materialized) == {"int_user_daily_activity", "int_title_daily_activity"}
    assert _day_rows(home, target) == expected
    assert {n for (_, n, _, _) in _day_rows(home, outside)} == {-1}  # outside the window
    assert _query(home, f"select max(_events_watermark), max(_titles_watermark) from {TABLE}") == watermarks

    prepare_dagster_home(home)
    with dg.DagsterInstance.get() as instance:
        done = instance.get_materialized_partitions(dg.AssetKey("int_user_daily_activity"))
    assert str(target) in done

    # The backfill did not mark the late batch as seen: the next unpartitioned run counts it.
    before = _query(home, f"select n_play_starts from {TABLE} where user_id = '{user}' and activity_date = date '{END}'")
    after_run = run_assets(home, select="group:transform")
    assert after_run.success, (after_run.failed_steps, after_run.checks_failed)
    after = _query(home, f"select n_play_starts from {TABLE} where user_id = '{user}' and activity_date = date '{END}'")
    assert after[0][0] == (before[0][0] if before else 0) + 3
    # ... and recomputed the tampered day only if one of its batches was new: it was not.
    assert {n for (_, n, _, _) in _day_rows(home, outside)} == {-1}


def test_partition_errors_are_user_errors(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    with pytest.raises(MarqueeUserError, match="daily-partitioned assets only"):
        run_assets(home, select="group:ingestion", partition="2026-06-01")
    with pytest.raises(MarqueeUserError, match="outside the partitions"):
        run_assets(home, partition="1990-01-01")
