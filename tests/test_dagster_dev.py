"""`dagster dev` as a user runs it: assets over GraphQL, a launched run, and the landing sensor.

Starts the webserver + daemon + code server on a free port against a fresh ``MARQUEE_HOME``,
then talks to it only through ``/graphql``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.pipeline import DAGSTER_YAML
from marquee.synthetic import GenerationConfig, generate

pytestmark = pytest.mark.slow

LOCATION = "marquee"
SENSOR = "landing_zone_sensor"
TRIGGER_TAG = "marquee/trigger"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Dagster:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log
        self.client = httpx.Client(base_url=url, timeout=30)

    def gql(self, query: str, variables: dict | None = None) -> dict:
        resp = self.client.post("/graphql", json={"query": query, "variables": variables or {}})
        resp.raise_for_status()
        body = resp.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dagster, MarqueeHome]]:
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home = MarqueeHome(tmp / "home").ensure()
    # What marquee.pipeline.prepare_dagster_home writes, without touching this process's env.
    (home.dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = {
        **os.environ,
        "MARQUEE_HOME": str(home.root),
        "DAGSTER_HOME": str(home.dagster_home),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    log_path = tmp / "dagster-dev.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    server = Dagster(f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_up(server, proc)
        yield server, home
    finally:
        server.client.close()
        _stop(proc)


def _wait_until_up(server: Dagster, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{server.tail()}")
        try:
            data = server.gql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
            )
            entries = {e["name"]: e for e in data["workspaceOrError"]["locationEntries"]}
            entry = entries.get(LOCATION)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                assert loaded["__typename"] == "RepositoryLocation", loaded
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not load {LOCATION!r} within {timeout:.0f} s:\n{server.tail()}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _repository_name(server: Dagster) -> str:
    data = server.gql(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
    )
    names = [n["name"] for n in data["repositoriesOrError"]["nodes"] if n["location"]["name"] == LOCATION]
    assert len(names) == 1, data
    return names[0]


def _sensor_selector(server: Dagster) -> dict:
    return {"repositoryLocationName": LOCATION, "repositoryName": _repository_name(server), "sensorName": SENSOR}


def _run_status(server: Dagster, run_id: str) -> str:
    data = server.gql(
        "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }", {"id": run_id}
    )
    assert data["runOrError"]["__typename"] == "Run", data
    return data["runOrError"]["status"]


def _wait_for_run(server: Dagster, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = _run_status(server, run_id)
        if status in TERMINAL:
            return status
        time.sleep(2)
    pytest.fail(f"run {run_id} still {status} after {timeout:.0f} s:\n{server.tail()}")


def _runs_with_tag(server: Dagster, key: str, value: str) -> list[dict]:
    data = server.gql(
        "query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { __typename "
        "... on Runs { results { runId jobName status tags { key value } } } } }",
        {"tags": [{"key": key, "value": value}]},
    )
    assert data["runsOrError"]["__typename"] == "Runs", data
    return data["runsOrError"]["results"]


def _count(home: MarqueeHome, sql: str) -> int:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_dagster_dev_assets_run_and_sensor(dagster_dev: tuple[Dagster, MarqueeHome]) -> None:
    server, home = dagster_dev
    repository = _repository_name(server)
    sensor = _sensor_selector(server)

    # Hold the landing sensor while ingest_job runs on its own (it is RUNNING by default and
    # would otherwise pick up the same files and compete for the one DuckDB writer).
    data = server.gql(
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename "
        "... on Sensor { id sensorState { status } } } }",
        {"s": sensor},
    )
    assert data["sensorOrError"]["__typename"] == "Sensor", data
    assert data["sensorOrError"]["sensorState"]["status"] == "RUNNING"
    stopped = server.gql(
        "mutation($id: String!) { stopSensor(id: $id) { __typename "
        "... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }",
        {"id": data["sensorOrError"]["id"]},
    )
    assert stopped["stopSensor"]["instigationState"]["status"] == "STOPPED", stopped

    # 1. Every asset is listed.
    nodes = server.gql("{ assetNodes { assetKey { path } } }")["assetNodes"]
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    names = {n["assetKey"]["path"][-1] for n in nodes}
    assert {"raw_events", "fct_interactions", "feast_registry"} <= names, sorted(keys)

    # 2. Landing files, then a run of ingest_job launched through GraphQL.
    generate(home, GenerationConfig(users=120, titles=80, days=7), progress=False)
    launched = server.gql(
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
        "... on LaunchRunSuccess { run { runId } } ... on PythonError { message stack } "
        "... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }",
        {
            "p": {
                "selector": {"repositoryLocationName": LOCATION, "repositoryName": repository, "jobName": "ingest_job"},
                "runConfigData": {},
                "executionMetadata": {"tags": [{"key": TRIGGER_TAG, "value": "test_dagster_dev"}]},
            }
        },
    )
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchRun"]["run"]["runId"]
    assert _wait_for_run(server, run_id, timeout=180) == "SUCCESS", server.tail()
    ingested = _count(home, "SELECT count(*) FROM raw.events")
    assert ingested > 300
    assert _count(home, "SELECT count(*) FROM raw.ingestion_log") == sum(
        1 for entity in ("events", "titles", "users") for _ in home.landing_dir(entity).iterdir()
    )

    # 3. A new landing file; the sensor (run by the daemon) launches transform_job for it.
    before = {r["runId"] for r in _runs_with_tag(server, TRIGGER_TAG, SENSOR)}
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
    started = server.gql(
        "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
        "... on Sensor { sensorState { status } } ... on PythonError { message } } }",
        {"s": sensor},
    )
    assert started["startSensor"]["__typename"] == "Sensor", started
    assert started["startSensor"]["sensorState"]["status"] == "RUNNING", started

    deadline = time.monotonic() + 150
    new_runs: list[dict] = []
    while time.monotonic() < deadline and not new_runs:
        new_runs = [r for r in _runs_with_tag(server, TRIGGER_TAG, SENSOR) if r["runId"] not in before]
        if not new_runs:
            time.sleep(3)
    assert new_runs, f"landing_zone_sensor launched no run within 150 s:\n{server.tail()}"
    (run,) = new_runs
    assert run["jobName"] == "transform_job"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert int(tags["marquee/new_files"]) >= 1
    assert _wait_for_run(server, run["runId"], timeout=240) == "SUCCESS", server.tail()

    assert _count(home, "SELECT count(*) FROM raw.events WHERE event_id LIKE 'ev-dagster-dev-%'") == 3
    assert _count(home, "SELECT count(*) FROM raw.events") == ingested + 3
    assert _count(home, "SELECT count(*) FROM marts.fct_interactions") > 0
