"""`marquee status`: champion, its metrics, last ingestion, last run."""

from __future__ import annotations

import json

from marquee.config import MarqueeHome
from marquee.reporting import last_ingestion


def print_status(home: MarqueeHome) -> int:
    print(f"MARQUEE_HOME: {home.root}")
    champion = home.models / "champion.json"
    if champion.exists():
        info = json.loads(champion.read_text())
        print(f"champion: {info.get('version')}  metrics: {json.dumps(info.get('metrics', {}))}")
    else:
        print("champion: none (no model promoted yet)")
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
