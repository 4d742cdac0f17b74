"""`dagster dev` as a user runs it: assets over GraphQL, a launched run, and the landing sensor.

Starts the webserver + daemon + code server on a free port against a fresh ``MARQUEE_HOME``
(tests/dagster_dev_helpers.py), then talks to it only through ``/graphql``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from dagster_dev_helpers import (
    SENSOR,
    TRIGGER_TAG,
    Dagster,
    count,
    launch_job,
    runs_with_tag,
    schedule_states,
    sensor_state,
    sensor_ticks,
    start_dagster_dev,
    start_sensor,
    stop_sensor,
    wait_for_run,
)

from marquee.config import MarqueeHome
from marquee.synthetic import GenerationConfig, generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dagster, MarqueeHome]]:
    with start_dagster_dev(tmp_path_factory.mktemp("dagster_dev")) as running:
        yield running


def test_dagster_dev_assets_run_and_sensor(dagster_dev: tuple[Dagster, MarqueeHome]) -> None:
    server, home = dagster_dev
    # Hold the landing sensor while ingest_job runs on its own (it is RUNNING by default and
    # would otherwise pick up the same files and compete for the one DuckDB writer).
    assert sensor_state(server)["sensorState"]["status"] == "RUNNING"
    stop_sensor(server)

    # 1. Every asset is listed.
    nodes = server.gql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    names = {n["assetKey"]["path"][-1] for n in nodes}
    assert {"raw_events", "fct_interactions", "feast_registry"} <= names, sorted(keys)

    # 2. Landing files, then a run of ingest_job launched through GraphQL.
    generate(home, GenerationConfig(users=120, titles=80, days=7), progress=False)
    run_id = launch_job(server, "ingest_job", {TRIGGER_TAG: "test_dagster_dev"})
    assert wait_for_run(server, run_id, timeout=180) == "SUCCESS", server.tail()
    ingested = count(home, "SELECT count(*) FROM raw.events")
    assert ingested > 300
    assert count(home, "SELECT count(*) FROM raw.ingestion_log") == sum(
        1 for entity in ("events", "titles", "users") for _ in home.landing_dir(entity).iterdir()
    )

    # 3. A new landing file; the sensor (run by the daemon) launches transform_job for it.
    before = {r["runId"] for r in runs_with_tag(server, TRIGGER_TAG, SENSOR)}
    extra = [
        {
            "event_id": f"ev-dagster-dev-{i}",
            "user_id": "u000001",
            "title_id": f"t{i + 1:05d}",
            "event_type": "impression",
            "event_ts": f"2026-06-30T12:00:0{i}Z",
            "device": "tv",
            "country": "US",
            "row": "Trending Now",
            "position": i,
        }
        for i in range(3)
    ]
    staged = home.landing_dir("events") / ".events-dagster-dev.jsonl.tmp"
    staged.write_text("".join(json.dumps(e) + "\n" for e in extra))
    staged.rename(home.landing_dir("events") / "events-dagster-dev.jsonl")
    start_sensor(server)

    deadline = time.monotonic() + 150
    new_runs: list[dict] = []
    while time.monotonic() < deadline and not new_runs:
        new_runs = [
            r for r in runs_with_tag(server, TRIGGER_TAG, SENSOR) if r["runId"] not in before
        ]
        if not new_runs:
            time.sleep(3)
    assert new_runs, f"landing_zone_sensor launched no run within 150 s:\n{server.tail()}"
    (run,) = new_runs
    assert run["jobName"] == "transform_job"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert int(tags["marquee/new_files"]) >= 1
    assert wait_for_run(server, run["runId"], timeout=240) == "SUCCESS", server.tail()

    assert (
        count(home, "SELECT count(*) FROM raw.events WHERE event_id LIKE 'ev-dagster-dev-%'") == 3
    )
    assert count(home, "SELECT count(*) FROM raw.events") == ingested + 3
    assert count(home, "SELECT count(*) FROM marts.fct_interactions") > 0

    # 4. The schedules, freshness and automation sensors are on by default and tick cleanly.
    assert set(schedule_states(server).values()) == {"RUNNING"}
    for name in ("freshness_checks_sensor", "default_automation_condition_sensor"):
        assert sensor_state(server, name)["sensorState"]["status"] == "RUNNING"
        ticks = sensor_ticks(server, name)
        assert ticks, f"{name} never ticked:\n{server.tail()}"
        assert all(t["status"] != "FAILURE" for t in ticks), ticks
