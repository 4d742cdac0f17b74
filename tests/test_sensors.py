"""Landing-zone sensor and run-failure alerts, evaluated with built contexts."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from marquee.config import MarqueeHome
from orchestration.jobs import build_jobs
from orchestration.resources import WarehouseResource
from orchestration.sensors import alert_sink, build_landing_sensor, write_alert


def _sensor() -> dg.SensorDefinition:
    job = next(j for j in build_jobs() if j.name == "transform_job")
    return build_landing_sensor(job)


def _tick(sensor: dg.SensorDefinition, home: MarqueeHome, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": WarehouseResource(home=str(home.root))})
    return sensor(context), context


def test_each_new_file_triggers_exactly_one_run(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    sensor = _sensor()

    result, _ = _tick(sensor, home, None)
    assert isinstance(result, dg.SkipReason)

    (home.landing_dir("events") / "a.jsonl").write_text("{}\n")
    (home.landing_dir("titles") / "t.csv").write_text("title_id\nt1\n")
    result, _ = _tick(sensor, home, None)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.tags["marquee/new_files"] == "2"
    cursor = result.cursor
    assert set(json.loads(cursor)) == {"events/a.jsonl", "titles/t.csv"}

    # Same files again: nothing to do.
    again, _ = _tick(sensor, home, cursor)
    assert isinstance(again, dg.SkipReason)

    # One more file: one run that names only it; a different run key.
    (home.landing_dir("events") / "b.jsonl").write_text("{}\n")
    third, _ = _tick(sensor, home, cursor)
    (req3,) = third.run_requests
    assert req3.tags["marquee/new_files"] == "1"
    assert req3.run_key != request.run_key

    # In-flight (hidden) files are not picked up.
    (home.landing_dir("events") / ".c.jsonl.tmp").write_text("{}\n")
    fourth, _ = _tick(sensor, home, third.cursor)
    assert isinstance(fourth, dg.SkipReason)


def test_alert_sink_appends_json_lines(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    write_alert(home, {"run_id": "r1", "error": "boom"})
    path = write_alert(home, {"run_id": "r2", "error": "bang"})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["run_id"] for r in rows] == ["r1", "r2"]


RECEIVED: list[dict] = []


def collecting_sink(home: MarqueeHome, alert: dict) -> None:
    RECEIVED.append(alert)


def test_alert_sink_is_pluggable() -> None:
    assert alert_sink({}) is write_alert
    sink = alert_sink({"MARQUEE_ALERT_SINK": "test_sensors:collecting_sink"})
    sink(None, {"run_id": "r3"})
    assert RECEIVED == [{"run_id": "r3"}]
    with pytest.raises(ValueError, match="package.module:function"):
        alert_sink({"MARQUEE_ALERT_SINK": "no-colon"})
