"""The recommendations API (SPEC §6) as a client sees it: a real ``marquee serve`` process on
a free port, spoken to over HTTP.

Fast tests use an empty home (no warehouse, no features, no model): bad input, the
degraded answers, events written to the landing zone. The slow ones share one ml-100k home
built by the pipeline (import + ``marquee run``, with a champion) and one server on it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import pytest

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.processes import default_signals, free_port
from serving.events import EventsRejected, EventValidator, parse_body
from serving.ids import id_problem
from serving.settings import ServingSettings
from serving.state import ModelHolder, PopularityList

RELOAD_S = 0.3


# --------------------------------------------------------------------------- helpers


@dataclass
class Server:
    url: str
    home: MarqueeHome
    proc: subprocess.Popen
    log: Path
    client: httpx.Client

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.client.post(path, **kw)

    def wait_for(self, predicate, what: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        health: dict = {}
        while time.monotonic() < deadline:
            health = self.get("/health").json()
            if predicate(health):
                return health
            time.sleep(0.1)
        pytest.fail(f"{what} not seen within {timeout:.0f} s; last /health {health}\n{self.tail()}")


@contextlib.contextmanager
def serve(home: MarqueeHome, log: Path, **env_extra: str) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "MARQUEE_HOME": str(home.root),
        "MARQUEE_SERVE_RELOAD_INTERVAL_S": str(RELOAD_S),
        "MARQUEE_SERVE_RETRY_INTERVAL_S": "0.5",
        "MARQUEE_SERVE_MAX_BODY_BYTES": "20000",
        **env_extra,
    }
    marquee = Path(sys.executable).parent / "marquee"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(marquee), "serve", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=default_signals,
        )
    server = Server(f"http://127.0.0.1:{port}", home, proc, log, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30))
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"marquee serve exited with {proc.returncode}:\n{server.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if server.get("/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"marquee serve did not answer within 120 s:\n{server.tail()}")
            time.sleep(0.2)
        yield server
    finally:
        server.client.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _event(user: str = "1", title: str = "1", event_type: str = "play_start", **extra) -> dict:
    ts = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"event_id": f"api-test-{uuid.uuid4().hex}", "user_id": user, "title_id": title,
            "event_type": event_type, "event_ts": ts, **extra}


def _api_files(home: MarqueeHome) -> list[Path]:
    folder = home.landing_dir("events") / "api"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------- in-process units


def test_id_rules() -> None:
    for good in ("1", "u000123", "t-42", "user_7@example.com", "a.b:c+d_e"):
        assert id_problem(good) is None, good
    for bad in ("", "../etc/passwd", "..", ".hidden", "a/b", "a\\b", "1'; DROP TABLE users;--",
                "x y", "a%2Fb", "é", "a" * 129):
        assert id_problem(bad) is not None, bad


def test_settings_from_env() -> None:
    s = ServingSettings.from_env({"MARQUEE_SERVE_RELOAD_INTERVAL_S": "0.5", "MARQUEE_SERVE_MAX_K": "50"}, port=9000)
    assert (s.reload_interval_s, s.max_k, s.port, s.host) == (0.5, 50, 9000, "127.0.0.1")
    with pytest.raises(MarqueeUserError, match="MAX_BODY_BYTES"):
        ServingSettings.from_env({"MARQUEE_SERVE_MAX_BODY_BYTES": "lots"})


def test_event_validation_uses_the_ingestion_contract() -> None:
    validator = EventValidator(max_id_length=128)
    lines, typed = validator.validate([_event(event_type="rating", rating=4.5), _event(event_type="play_stop", watch_seconds=60)])
    assert len(lines) == 2 and all(json.loads(line)["event_id"] for line in lines)
    assert typed[0]["rating"] == 4.5 and isinstance(typed[0]["event_ts"], dt.datetime)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    bad = [
        _event(),  # valid, but in a rejected batch
        _event(event_type="binge"),
        {**_event(), "event_ts": future},
        {**_event(), "user_id": 7},
        _event(event_type="play_stop"),
        _event(event_type="rating", rating=9),
        {k: v for k, v in _event().items() if k != "title_id"},
        _event(user="../../etc"),
        "not an object",
    ]
    with pytest.raises(EventsRejected) as info:
        validator.validate(bad)
    reasons = {p["index"]: " ".join(p["reasons"]) for p in info.value.problems}
    assert 0 not in reasons
    assert "unknown event_type binge" in reasons[1]
    assert "future" in reasons[2]
    assert "user_id is not a string" in reasons[3]
    assert "watch_seconds is required" in reasons[4]
    assert "rating out of range" in reasons[5]
    assert "missing required field title_id" in reasons[6]
    assert "user_id may only contain" in reasons[7]
    assert "not a JSON object" in reasons[8]
    with pytest.raises(EventsRejected, match="malformed JSON"):
        parse_body(b'{"event_id": ', 10)
    with pytest.raises(EventsRejected) as too_many:
        parse_body(json.dumps([_event()] * 3).encode(), 2)
    assert too_many.value.status == 413


class _FakeModel:
    def __init__(self, version: str) -> None:
        self.version = version

    def recommend(self, user_id, history=None, online=None, k=10, exclude=()):
        raise AssertionError("not called")

    def popular(self, k, exclude=()):
        raise AssertionError("not called")

    def title_name(self, title_id):
        return None


def test_holder_swaps_on_promotion_and_keeps_the_last_good_model(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    pointer = home.models / "champion.json"
    broken = {"v": False}

    def loader() -> _FakeModel:
        version = json.loads(pointer.read_text())["version"]
        if broken["v"]:
            raise RuntimeError(f"{version}: ranker.json is corrupt")
        return _FakeModel(version)

    holder = ModelHolder(home, loader=loader, fallback_loader=lambda: PopularityList(("9",), (1.0,)),
                         retry_interval_s=0.0)
    holder.refresh()
    assert holder.current.model is None and "no champion" in holder.load_error
    assert holder.current.fallback.title_ids == ("9",)

    pointer.write_text(json.dumps({"version": "v1"}))
    assert holder.refresh() and holder.current.version == "v1"
    in_flight = holder.current
    tmp = pointer.with_name(".champion.tmp")
    tmp.write_text(json.dumps({"version": "v2"}))
    os.replace(tmp, pointer)
    assert holder.refresh() and holder.current.version == "v2"
    assert in_flight.model.version == "v1"  # a request's snapshot never changes under it

    broken["v"] = True
    tmp.write_text(json.dumps({"version": "v3"}))
    os.replace(tmp, pointer)
    assert not holder.refresh()
    assert holder.current.version == "v2" and "corrupt" in holder.load_error
    broken["v"] = False
    assert holder.refresh() and holder.current.version == "v3" and holder.load_error is None


# --------------------------------------------------------------------------- empty home server


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve_bare")
    home = MarqueeHome(tmp / "home").ensure()
    with serve(home, tmp / "serve.log") as server:
        yield server


def test_bare_home_answers_degraded_never_500(bare_server: Server) -> None:
    health = bare_server.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] is None and health["degraded"]
    resp = bare_server.get("/recommendations/1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["degraded"] is True and body["model_version"] is None and body["items"] == []
    assert body["user_id"] == "1"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/recommendations/1?k=0", "greater than or equal to 1"),
        ("/recommendations/1?k=101", "less than or equal to 100"),
        ("/recommendations/1?k=ten", "valid integer"),
        ("/recommendations/..%2F..%2Fetc%2Fpasswd", "user_id may only contain"),
        ("/recommendations/1%27%3B%20DROP%20TABLE%20users%3B--", "user_id may only contain"),
        ("/recommendations/" + "9" * 200, "longer than 128"),
    ],
)
def test_bad_recommendation_requests_are_422(bare_server: Server, path: str, fragment: str) -> None:
    resp = bare_server.get(path)
    assert resp.status_code == 422, resp.text
    assert fragment in resp.text


def test_bad_events_are_rejected_and_nothing_is_written(bare_server: Server) -> None:
    home = bare_server.home
    before = _api_files(home)
    cases = [
        (b'{"event_id": "e1", "user_id": ', 422, "malformed JSON"),
        (b"[]", 422, "empty list"),
        (json.dumps(_event(event_type="binge")).encode(), 422, "unknown event_type binge"),
        (json.dumps({**_event(), "user_id": 42}).encode(), 422, "user_id is not a string"),
        (json.dumps([_event(), {**_event(), "rating": "five"}]).encode(), 422, "rating"),
        (json.dumps(_event(user="1'; DROP TABLE raw.events;--")).encode(), 422, "user_id may only contain"),
        (json.dumps([_event() for _ in range(200)]).encode(), 413, "exceeds the limit"),
    ]
    for body, status, fragment in cases:
        resp = bare_server.post("/events", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == status, (body[:80], resp.text)
        assert fragment in resp.text, resp.text
    # A chunked body (no Content-Length) over the limit is cut off too.
    resp = bare_server.post("/events", content=iter([b"[" + b" " * 15000, b" " * 15000 + b"]"]))
    assert resp.status_code == 413
    rejected = bare_server.post("/events", json=[_event(), _event(event_type="binge")]).json()
    assert [p["index"] for p in rejected["rejected"]] == [1]
    assert _api_files(home) == before
    metrics = bare_server.get("/metrics").text
    assert 'marquee_events_total{outcome="rejected"}' in metrics


def test_accepted_events_land_once_even_when_the_online_store_is_down(bare_server: Server) -> None:
    home = bare_server.home
    before = set(_api_files(home))
    events = [_event(user="u1", title="t1"), _event(user="u1", title="t2", event_type="rating", rating=3.5)]
    resp = bare_server.post("/events", json=events)
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == 2 and resp.json()["online"] is False  # no online store here
    (new,) = set(_api_files(home)) - before
    assert [json.loads(line)["event_id"] for line in new.read_text().splitlines()] == [e["event_id"] for e in events]
    # A retry of the same batch is acknowledged but written once.
    again = bare_server.post("/events", json=events).json()
    assert (again["accepted"], again["duplicates"]) == (2, 2)
    assert set(_api_files(home)) - before == {new}
    metrics = bare_server.get("/metrics").text
    assert 'marquee_events_total{outcome="accepted"} 2.0' in metrics
    assert "marquee_http_request_duration_seconds_bucket" in metrics
    assert 'marquee_model_info{version="none"} 1.0' in metrics


# --------------------------------------------------------------------------- ml-100k with a champion


@pytest.fixture(scope="module")
def served_home(ml100k_home: MarqueeHome, tmp_path_factory: pytest.TempPathFactory) -> MarqueeHome:
    """A private copy of the shared ml-100k home: these tests post events and promote."""
    from marquee.features.config import write_feature_store_yaml

    root = tmp_path_factory.mktemp("serve_ml100k") / "home"
    shutil.copytree(ml100k_home.root, root, ignore=shutil.ignore_patterns("api", "dagster"))
    home = MarqueeHome(root).ensure()
    write_feature_store_yaml(home)  # Feast's config holds absolute paths
    return home


@pytest.fixture(scope="module")
def model_server(served_home: MarqueeHome, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(served_home, tmp_path_factory.mktemp("serve_model") / "serve.log") as server:
        server.wait_for(lambda h: h["model_version"] and not h["degraded"], "a model and the online store")
        yield server


def _seen(home: MarqueeHome, user_id: str) -> set[str]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        rows = con.execute("SELECT title_id FROM marts.fct_interactions WHERE user_id = ?", [user_id]).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def _champion(home: MarqueeHome) -> str:
    from models.registry import ModelRegistry

    return ModelRegistry(home.models).champion()


def _counter(server: Server, series: str) -> float:
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.slow
def test_known_user_gets_ranked_unseen_titles(model_server: Server) -> None:
    home = model_server.home
    resp = model_server.get("/recommendations/1", params={"k": 10})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user_id"] == "1" and body["degraded"] is False
    assert body["model_version"] == _champion(home)
    items = body["items"]
    assert [i["rank"] for i in items] == list(range(1, 11))
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(i["title"], str) and i["title"] for i in items)
    assert not {i["title_id"] for i in items} & _seen(home, "1")
    assert len(model_server.get("/recommendations/1", params={"k": 100}).json()["items"]) == 100
    # The same request again is answered from the memo, identically.
    hits = _counter(model_server, 'marquee_answer_cache_total{result="hit"}')
    assert model_server.get("/recommendations/1", params={"k": 10}).json() == body
    assert _counter(model_server, 'marquee_answer_cache_total{result="hit"}') == hits + 1


@pytest.mark.slow
def test_unknown_user_gets_a_cold_start_list(model_server: Server) -> None:
    body = model_server.get("/recommendations/brand-new-member-42", params={"k": 5}).json()
    assert body["degraded"] is False and len(body["items"]) == 5
    assert body["model_version"] == _champion(model_server.home)


@pytest.mark.slow
def test_an_event_changes_the_next_answer(model_server: Server) -> None:
    home = model_server.home
    before = model_server.get("/recommendations/2", params={"k": 10}).json()
    watched = before["items"][0]["title_id"]
    files_before = set(_api_files(home))
    events = [
        _event(user="2", title=watched, event_type="play_start"),
        _event(user="2", title=watched, event_type="play_stop", watch_seconds=5400),
    ]
    resp = model_server.post("/events", json=events)
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 2, "duplicates": 0, "online": True}
    (landed,) = set(_api_files(home)) - files_before
    assert {json.loads(line)["event_id"] for line in landed.read_text().splitlines()} == {e["event_id"] for e in events}
    after = model_server.get("/recommendations/2", params={"k": 10}).json()
    assert after["degraded"] is False
    ids_after = [i["title_id"] for i in after["items"]]
    assert watched not in ids_after
    assert ids_after != [i["title_id"] for i in before["items"]]


@pytest.mark.slow
def test_promotion_is_served_without_restart(model_server: Server) -> None:
    from models.registry import ModelRegistry

    home = model_server.home
    registry = ModelRegistry(home.models)
    original = registry.champion()
    # A second version: the same artifacts under another name (checksums still hold).
    clone = f"{original}-hot"
    shutil.copytree(registry.version_path(original), registry.version_path(clone))
    manifest_path = registry.version_path(clone) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "version": clone}))
    try:
        registry.promote(clone, {"reasons": ["test: hot reload"]})
        model_server.wait_for(lambda h: h["model_version"] == clone, f"model_version {clone}")
        assert model_server.get("/recommendations/1").json()["model_version"] == clone
        assert f'marquee_model_info{{version="{clone}"}} 1.0' in model_server.get("/metrics").text

        # A champion that cannot be loaded never replaces the working model.
        tmp = home.models / ".champion.test.tmp"
        tmp.write_text(json.dumps({"version": "no-such-version"}))
        os.replace(tmp, home.models / "champion.json")
        health = model_server.wait_for(lambda h: h["problems"], "the load error")
        assert health["model_version"] == clone and "no-such-version" in " ".join(health["problems"])
        body = model_server.get("/recommendations/1").json()
        assert body["model_version"] == clone and body["degraded"] is False
    finally:
        registry.promote(original, {"reasons": ["test: restore"]})
    model_server.wait_for(lambda h: h["model_version"] == original and not h["degraded"], "the original champion")


@pytest.mark.slow
def test_online_store_outage_degrades_and_recovers(model_server: Server) -> None:
    home = model_server.home
    online_db = home.feast / "online.db"
    away = online_db.with_name("online.db.away")
    os.replace(online_db, away)
    try:
        for user in ("1", "3", "brand-new-member-42"):
            resp = model_server.get(f"/recommendations/{user}", params={"k": 10})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["degraded"] is True and body["degraded_reason"] == "online_store"
            assert len(body["items"]) == 10 and body["model_version"] == _champion(home)
        health = model_server.get("/health").json()
        assert health["status"] == "ok" and health["degraded"] is True
        resp = model_server.post("/events", json=_event(user="3", title="1"))
        assert resp.status_code == 202 and resp.json()["online"] is False
        assert not online_db.exists()  # nothing recreated an empty store behind our back
    finally:
        os.replace(away, online_db)
    body = model_server.get("/recommendations/1", params={"k": 10}).json()
    assert body["degraded"] is False
    metrics = model_server.get("/metrics").text
    assert 'marquee_degraded_responses_total{reason="online_store"} 3.0' in metrics
    assert 'marquee_http_requests_total{endpoint="recommendations",method="GET",status="500"}' not in metrics


@pytest.mark.slow
def test_no_champion_serves_warehouse_popularity(served_home: MarqueeHome, tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    shutil.copy2(served_home.warehouse, home.warehouse)
    with serve(home, tmp_path / "serve.log") as server:
        body = server.get("/recommendations/1", params={"k": 5}).json()
        assert body["degraded"] is True and body["model_version"] is None
        assert body["source"] == "warehouse_popularity"
        assert len(body["items"]) == 5 and all(i["title"] for i in body["items"])


def test_answer_cache_expires_bounds_and_keys_on_the_online_row(monkeypatch) -> None:
    import serving.answers as answers

    now = [100.0]
    monkeypatch.setattr(answers.time, "monotonic", lambda: now[0])
    cache = answers.AnswerCache(ttl_s=5.0, max_entries=2)
    row = {"user_recent_history__recent_titles": ["1", "2"], "user_daily_features__plays_7d": 3}
    key = ("v1", "42", 10, answers.row_fingerprint(row))
    cache.put(key, "answer")
    assert cache.get(key) == "answer"
    changed = {**row, "user_recent_history__recent_titles": ["9", "1", "2"]}  # a live event
    assert answers.row_fingerprint(changed) != key[3]
    assert cache.get(("v2", "42", 10, key[3])) is None  # a promotion
    now[0] += 5.0
    assert cache.get(key) is None and len(cache) == 0  # expired
    for i in range(3):
        cache.put(i, i)
    assert len(cache) == 2 and cache.get(0) is None and cache.get(2) == 2
    assert answers.AnswerCache(ttl_s=0).get(key) is None


def test_a_refused_experiments_file_changes_nothing_that_is_served(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home").ensure()
    bad = tmp_path / "experiments.yaml"
    bad.write_text(
        "experiments:\n"
        "  - name: broken\n    start: 2026-01-01T00:00:00Z\n    stop: 2030-01-01T00:00:00Z\n"
        "    arms:\n"
        "      - {name: control, model: champion, traffic: 50}\n"
        "      - {name: treatment, model: no-such-version, traffic: 50}\n"
    )
    with serve(home, tmp_path / "serve.log", MARQUEE_EXPERIMENTS=str(bad)) as server:
        health = server.wait_for(lambda h: h["experiments"]["error"], "the refusal")
        assert "model version 'no-such-version' is not in the registry" in health["experiments"]["error"]
        assert health["experiments"]["loaded"] == []
        resp = server.get("/recommendations/1", params={"k": 3})
        assert resp.status_code == 200 and "experiment" not in resp.json()
        assert "experiments not applied" in server.log.read_text()
