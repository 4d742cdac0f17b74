"""Run the Dagster definitions in-process: what `marquee run` and `marquee demo` do.

Runs are recorded in ``$MARQUEE_HOME/dagster`` so they show up in the UI afterwards.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError

DAGSTER_YAML = """\
# Written by marquee: local instance under $MARQUEE_HOME/dagster.
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # One DuckDB writer at a time.
    max_concurrent_runs: 1
"""


def prepare_dagster_home(home: MarqueeHome) -> None:
    home.dagster_home.mkdir(parents=True, exist_ok=True)
    config = home.dagster_home / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    os.environ["MARQUEE_HOME"] = str(home.root)


@dataclass
class RunSummary:
    run_id: str
    success: bool
    materialized: list[str]
    failed_steps: list[str]
    checks_failed: list[str]


def parse_partition_range(value: str) -> tuple[str, str]:
    """``DAY`` or ``FIRST:LAST`` (inclusive UTC days, YYYY-MM-DD) -> (first, last)."""
    import datetime as dt

    first, _, last = value.partition(":")
    last = last or first
    try:
        a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        raise MarqueeUserError(f"--partition expects DAY or FIRST:LAST as YYYY-MM-DD, got {value!r}") from None
    if a > b:
        raise MarqueeUserError(f"--partition {value!r}: the first day is after the last")
    return a.isoformat(), b.isoformat()


def _partition_tags(graph, keys, partition: str | None) -> dict[str, str]:
    """The run tags of a partition-range run over ``keys`` (all must be daily-partitioned)."""
    if partition is None:
        return {}
    from orchestration.partitions import partition_range_tags

    first, last = parse_partition_range(partition)
    unpartitioned = sorted(k.to_user_string() for k in keys if graph.get(k).partitions_def is None)
    if unpartitioned:
        raise MarqueeUserError(
            "--partition applies to the daily-partitioned assets only (--select 'tag:daily'); "
            f"not partitioned: {', '.join(unpartitioned[:5])}"
        )
    partitions = graph.get(next(iter(keys))).partitions_def
    known = partitions.get_partition_keys()
    for day in (first, last):
        if day not in known:
            raise MarqueeUserError(f"--partition day {day} is outside the partitions ({known[0]} .. {known[-1]})")
    return partition_range_tags(first, last)


def run_assets(
    home: MarqueeHome,
    select: str | None = None,
    log_level: str = "WARNING",
    quiet: bool = False,
    partition: str | None = None,
) -> RunSummary:
    """Materialize the selected assets (default: all; with ``partition``, the daily-partitioned
    ones) in-process from the shared definitions. ``partition``: ``DAY`` or ``FIRST:LAST``, run
    as one single-run backfill of those days.

    With ``quiet``, dbt's console output goes to ``$MARQUEE_HOME/reports/last_run.log``.
    """
    if quiet:
        home.reports.mkdir(parents=True, exist_ok=True)
        with (home.reports / "last_run.log").open("w") as log, contextlib.redirect_stdout(log):
            return run_assets(home, select, log_level, quiet=False, partition=partition)
    prepare_dagster_home(home)
    import dagster as dg

    from orchestration.definitions import build_definitions

    defs = build_definitions(home)
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.all()
    if partition is not None and not select:
        select = "tag:daily"
    if select:
        try:
            selection = dg.AssetSelection.from_string(select)
            keys = selection.resolve(graph)
        except Exception as exc:  # noqa: BLE001 - any parse/resolve error is a user error here
            raise MarqueeUserError(f"invalid --select {select!r}: {str(exc).splitlines()[0]}") from exc
        if not keys:
            raise MarqueeUserError(f"--select {select!r} matches no asset")
    keys = selection.resolve(graph)
    tags = _partition_tags(graph, keys, partition)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.get()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=sorted(keys),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        tags={"marquee/trigger": "cli", **tags},
    )
    materialized = sorted(
        {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key}
    )
    failed = [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]
    checks_failed = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if not data.passed:
                checks_failed.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    return RunSummary(result.run_id, result.success, materialized, failed, checks_failed)
