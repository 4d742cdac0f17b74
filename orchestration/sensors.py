"""Sensors: new landing files trigger ingestion; failed runs raise an alert."""

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from marquee.config import ENTITIES, MarqueeHome
from marquee.ingestion.ingest import landing_files
from orchestration.resources import WarehouseResource


def landing_snapshot(home: MarqueeHome) -> dict[str, str]:
    """Identity of every landing file: relative path → "size:mtime_ns" (cheap, no hashing)."""
    snapshot: dict[str, str] = {}
    for entity in ENTITIES:
        for path in landing_files(home, entity):
            stat = path.stat()
            snapshot[str(path.relative_to(home.landing))] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return snapshot


def new_files(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(p for p, ident in current.items() if previous.get(p) != ident)


def build_landing_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_zone_sensor",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Watches $MARQUEE_HOME/landing. New or changed files since the last tick trigger one "
            "run of ingestion and everything downstream of it; the cursor remembers every file seen."
        ),
    )
    def landing_zone_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        previous = json.loads(context.cursor) if context.cursor else {}
        current = landing_snapshot(warehouse.marquee_home)
        fresh = new_files(previous, current)
        if not fresh:
            return dg.SkipReason(f"no new files among {len(current)} in the landing zone")
        run_key = hashlib.sha256(json.dumps([(p, current[p]) for p in fresh]).encode()).hexdigest()[:16]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    tags={"marquee/trigger": "landing_zone_sensor", "marquee/new_files": str(len(fresh))},
                )
            ],
            cursor=json.dumps(current, sort_keys=True),
        )

    return landing_zone_sensor


def write_alert(home: MarqueeHome, alert: dict) -> Path:
    """Default alert sink: one JSON object per line in reports/alerts.jsonl."""
    path = home.reports / "alerts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(json.dumps(alert, sort_keys=True) + "\n")
    return path


SINK_ENV = "MARQUEE_ALERT_SINK"


def alert_sink(env: dict[str, str] | None = None) -> Callable[[MarqueeHome, dict], object]:
    """The alert sink: ``$MARQUEE_ALERT_SINK`` names one as ``package.module:function``
    (called with the home and the alert: Slack, PagerDuty, e-mail...); unset, `write_alert`."""
    spec = (env if env is not None else os.environ).get(SINK_ENV, "").strip()
    if not spec:
        return write_alert
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"{SINK_ENV} must look like package.module:function, got {spec!r}")
    return getattr(importlib.import_module(module), name)


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records every failed run as an alert: $MARQUEE_HOME/reports/alerts.jsonl by default, "
        "or the sink named by $MARQUEE_ALERT_SINK (package.module:function)."
    ),
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
    home = MarqueeHome.from_env()
    alert_sink()(
        home,
        {
            "at": datetime.now(UTC).isoformat(),
            "run_id": context.dagster_run.run_id,
            "job": context.dagster_run.job_name,
            "error": context.failure_event.message,
        },
    )
