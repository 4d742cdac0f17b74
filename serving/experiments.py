"""Experiments in the API: which arm a request is in, that arm's model, and the exposure log.

`ExperimentRouter` reads the experiments file (off the request path, on the poller thread)
and loads the model of every arm that names a registry version; an arm named ``champion``
serves whatever the `ModelHolder` serves. A file that fails validation (missing version,
traffic not summing to 100, overlapping experiments) is refused with a logged error shown
on ``/health``; serving goes on with the last valid configuration (none at start).

`ExposureLog` writes every list served inside an experiment as ``impression`` events (one
per title, ``row = "exp:<experiment>:<arm>"``, ``position`` = rank - 1) to the landing zone,
so the pipeline ingests them like any other event. Lines are appended and fsynced to a
hidden file (``.exposures-*.jsonl``: in-flight files are ignored by ingestion) before the
response is sent, and the file is published (renamed) every ``rotate_s`` and at shutdown.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marquee.config import MarqueeHome
from marquee.experiments.assignment import assign
from marquee.experiments.config import (
    CHAMPION,
    Arm,
    Experiment,
    ExperimentConfigError,
    active_on,
    experiments_path,
    load_experiments,
)

log = logging.getLogger("marquee.serving")

SURFACE = "home"
ROW_PREFIX = "exp"


def exposure_row(experiment: str, arm: str) -> str:
    return f"{ROW_PREFIX}:{experiment}:{arm}"


def parse_exposure_row(row: str | None) -> tuple[str, str] | None:
    """(experiment, arm) of an impression's ``row``, None for other rows."""
    if not row or not row.startswith(ROW_PREFIX + ":"):
        return None
    parts = row.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 and parts[1] and parts[2] else None


@dataclass(frozen=True)
class Route:
    experiment: Experiment
    arm: Arm
    model: Any | None  # None: the champion


class ExperimentRouter:
    def __init__(self, home: MarqueeHome, path: Path | None = None) -> None:
        self.home = home
        self.path = path or experiments_path()
        self.experiments: tuple[Experiment, ...] = ()
        self.error: str | None = None
        self._models: dict[str, Any] = {}
        self._signature: tuple[int, int] | None = None
        self._loaded_once = False

    def _file_signature(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> None:
        """Re-read the file when it changed; load the arms' models (poller thread)."""
        signature = self._file_signature()
        if self._loaded_once and signature == self._signature:
            return
        self._signature, self._loaded_once = signature, True
        from models.registry import ModelRegistry, RegistryError

        registry = ModelRegistry(self.home.models)
        try:
            experiments = load_experiments(self.path, model_exists=lambda v: not registry.problems(v))
            models = {
                arm.model: self._models.get(arm.model) or registry.load(arm.model)
                for e in experiments
                for arm in e.arms
                if arm.model != CHAMPION
            }
        except (ExperimentConfigError, RegistryError) as exc:
            self.error = str(exc)
            log.error("experiments not applied, serving without changes: %s", exc)
            return
        self.experiments, self._models, self.error = experiments, models, None
        if experiments:
            log.info("experiments loaded: %s", ", ".join(e.name for e in experiments))

    def route(self, user_id: str, now: dt.datetime | None = None) -> Route | None:
        experiment = active_on(self.experiments, SURFACE, now or dt.datetime.now(dt.UTC))
        if experiment is None:
            return None
        arm = assign(experiment, user_id)
        model = None if arm.model == CHAMPION else self._models.get(arm.model)
        return Route(experiment, arm, model)


class ExposureLog:
    def __init__(self, home: MarqueeHome, rotate_s: float = 60.0) -> None:
        self.folder = home.landing_dir("events") / "api" / "exposures"
        self.rotate_s = rotate_s
        self._lock = threading.Lock()
        self._fh = None
        self._path: Path | None = None
        self._opened_at = 0.0
        self.logged = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        self._path = self.folder / f".exposures-{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:8]}.jsonl"
        self._fh = open(self._path, "ab")  # noqa: SIM115 - kept open across requests
        self._opened_at = time.monotonic()

    def _publish(self) -> None:
        if self._fh is None or self._path is None:
            return
        self._fh.close()
        if self._path.stat().st_size:
            os.replace(self._path, self._path.with_name(self._path.name[1:]))
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            self._path.unlink(missing_ok=True)
        self._fh, self._path = None, None

    def log(self, user_id: str, route: Route, title_ids: Sequence[str], at: dt.datetime | None = None) -> None:
        """The served list as impressions, durable when this returns."""
        if not title_ids:
            return
        ts = (at or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        row = exposure_row(route.experiment.name, route.arm.name)
        lines = [
            json.dumps(
                {"event_id": f"exp-{uuid.uuid4().hex}", "user_id": user_id, "title_id": t,
                 "event_type": "impression", "event_ts": ts, "row": row, "position": i},
                separators=(",", ":"),
            )
            for i, t in enumerate(title_ids)
        ]
        data = ("\n".join(lines) + "\n").encode()
        with self._lock:
            if self._fh is None:
                self._open()
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.logged += len(lines)
            if time.monotonic() - self._opened_at >= self.rotate_s:
                self._publish()

    def rotate(self) -> None:
        """Publish the current file when it is old enough (poller thread)."""
        with self._lock:
            if self._fh is not None and time.monotonic() - self._opened_at >= self.rotate_s:
                self._publish()

    def close(self) -> None:
        with self._lock:
            self._publish()
