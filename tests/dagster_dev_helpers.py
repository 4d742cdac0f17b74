"""Start `dagster dev` on a free port against a fresh ``MARQUEE_HOME`` and talk GraphQL to it.

Shared by the end-to-end tests (tests/test_dagster_dev.py, tests/test_ui_browser.py). The server
is started in a new session with default signal handlers and stopped with SIGTERM to its
process group: webserver, daemon, code server and run workers all exit (STACK-NOTES).
"""

from __future__ import annotations

import contextlib
import os
import signal
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
from marquee.processes import default_signals, free_port

LOCATION = "marquee"
SENSOR = "landing_zone_sensor"
TRIGGER_TAG = "marquee/trigger"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


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


@contextlib.contextmanager
def start_dagster_dev(tmp: Path) -> Iterator[tuple[Dagster, MarqueeHome]]:
    """`dagster dev` (webserver + daemon) on a free port, its state in ``tmp/home``."""
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
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    cmd = [
        str(dagster),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
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
            preexec_fn=default_signals,
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


def repository_name(server: Dagster) -> str:
    data = server.gql(
        "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
    )
    names = [
        n["name"] for n in data["repositoriesOrError"]["nodes"] if n["location"]["name"] == LOCATION
    ]
    assert len(names) == 1, data
    return names[0]


def sensor_selector(server: Dagster, sensor: str = SENSOR) -> dict:
    return {
        "repositoryLocationName": LOCATION,
        "repositoryName": repository_name(server),
        "sensorName": sensor,
    }


def sensor_state(server: Dagster, sensor: str = SENSOR) -> dict:
    data = server.gql(
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename "
        "... on Sensor { id sensorState { status } } } }",
        {"s": sensor_selector(server, sensor)},
    )
    assert data["sensorOrError"]["__typename"] == "Sensor", data
    return data["sensorOrError"]


def sensor_ticks(server: Dagster, sensor: str, limit: int = 20) -> list[dict]:
    data = server.gql(
        "query($s: SensorSelector!, $n: Int) { sensorOrError(sensorSelector: $s) { __typename "
        "... on Sensor { sensorState { ticks(limit: $n) { status skipReason error { message } } } } } }",
        {"s": sensor_selector(server, sensor), "n": limit},
    )
    assert data["sensorOrError"]["__typename"] == "Sensor", data
    return data["sensorOrError"]["sensorState"]["ticks"]


def schedule_states(server: Dagster) -> dict[str, str]:
    data = server.gql(
        "query($r: RepositorySelector!) { schedulesOrError(repositorySelector: $r) { __typename "
        "... on Schedules { results { name scheduleState { status } } } } }",
        {"r": {"repositoryLocationName": LOCATION, "repositoryName": repository_name(server)}},
    )
    assert data["schedulesOrError"]["__typename"] == "Schedules", data
    return {s["name"]: s["scheduleState"]["status"] for s in data["schedulesOrError"]["results"]}


def stop_sensor(server: Dagster, sensor: str = SENSOR) -> None:
    state = sensor_state(server, sensor)
    stopped = server.gql(
        "mutation($id: String!) { stopSensor(id: $id) { __typename "
        "... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }",
        {"id": state["id"]},
    )
    assert stopped["stopSensor"]["instigationState"]["status"] == "STOPPED", stopped


def start_sensor(server: Dagster, sensor: str = SENSOR) -> None:
    started = server.gql(
        "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
        "... on Sensor { sensorState { status } } ... on PythonError { message } } }",
        {"s": sensor_selector(server, sensor)},
    )
    assert started["startSensor"]["__typename"] == "Sensor", started
    assert started["startSensor"]["sensorState"]["status"] == "RUNNING", started


def launch_job(server: Dagster, job: str, tags: dict[str, str]) -> str:
    """Launch a run of ``job`` through GraphQL (queued by the daemon); return its run id."""
    launched = server.gql(
        "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
        "... on LaunchRunSuccess { run { runId } } ... on PythonError { message stack } "
        "... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": repository_name(server),
                    "jobName": job,
                },
                "runConfigData": {},
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        },
    )
    assert launched["launchRun"]["__typename"] == "LaunchRunSuccess", launched
    return launched["launchRun"]["run"]["runId"]


def run_status(server: Dagster, run_id: str) -> str:
    data = server.gql(
        "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }",
        {"id": run_id},
    )
    assert data["runOrError"]["__typename"] == "Run", data
    return data["runOrError"]["status"]


def wait_for_run(server: Dagster, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = run_status(server, run_id)
        if status in TERMINAL:
            return status
        time.sleep(2)
    pytest.fail(f"run {run_id} still {status} after {timeout:.0f} s:\n{server.tail()}")


def runs_with_tag(server: Dagster, key: str, value: str) -> list[dict]:
    data = server.gql(
        "query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { __typename "
        "... on Runs { results { runId jobName status tags { key value } } } } }",
        {"tags": [{"key": key, "value": value}]},
    )
    assert data["runsOrError"]["__typename"] == "Runs", data
    return data["runsOrError"]["results"]


def count(home: MarqueeHome, sql: str) -> int:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()
