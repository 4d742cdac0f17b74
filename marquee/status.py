"""`marquee status`: champion, its metrics, last ingestion, last run."""

from __future__ import annotations

from marquee.config import MarqueeHome
from marquee.reporting import METRIC_COLUMNS, last_ingestion, metrics_lines


def print_status(home: MarqueeHome) -> int:
    print(f"MARQUEE_HOME: {home.root}")
    for line in champion_lines(home):
        print(line)
    if not home.warehouse.exists():
        print("warehouse: not created yet (run `marquee run`)")
    else:
        from marquee.ingestion.ingest import connect

        con = connect(home, read_only=True)
        try:
            last = last_ingestion(con)
        finally:
            con.close()
        print(
            "last ingestion: never" if last is None
            else f"last ingestion: {last[0]} UTC ({last[1]} files so far, {last[2]:,} rows accepted)"
        )
    print(f"last run: {_last_run(home)}")
    return 0


def champion_lines(home: MarqueeHome) -> list[str]:
    """The champion, when and why it was promoted, and its hold-out metrics."""
    from models.registry import ModelRegistry, RegistryError

    registry = ModelRegistry(home.models)
    try:
        record = registry.champion_record()
        if record is None:
            return ["champion: none (no model promoted yet; run `marquee run`)"]
        version = str(record["version"])
        models = (registry.manifest(version).get("evaluation") or {}).get("models", {})
    except RegistryError as exc:
        return [f"champion: unreadable ({exc})"]
    forced = " (forced)" if record.get("forced") else ""
    lines = [f"champion: {version}, promoted {record.get('promoted_at', '?')}{forced}; "
             f"{len(registry.versions())} versions in the registry"]
    lines += metrics_lines(models, METRIC_COLUMNS[:5])
    return lines


def _last_run(home: MarqueeHome) -> str:
    if not (home.dagster_home / "dagster.yaml").exists():
        return "none"
    from marquee.pipeline import prepare_dagster_home

    prepare_dagster_home(home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return "none"
        run = runs[0]
        stats = instance.get_run_stats(run.run_id)
        when = stats.end_time or stats.start_time
        from datetime import UTC, datetime

        stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else "?"
        return f"{run.run_id[:8]} {run.job_name} {run.status.value} at {stamp}"
