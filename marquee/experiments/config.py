"""The experiments file: which arms, which models, how much traffic, for how long.

``experiments/experiments.yaml`` in the repo (versioned with the code; another file with
``MARQUEE_EXPERIMENTS``)::

    experiments:
      - name: ranker-vs-champion
        surface: home              # one experiment per surface at a time
        start: 2026-12-01T00:00:00Z
        stop: 2026-12-15T00:00:00Z
        primary_metric: play_rate
        guardrails: [{metric: completion_rate, max_relative_drop: 0.05}]
        arms:
          - {name: control, model: champion, traffic: 50}
          - {name: treatment, model: 20261204T071817Z-6c4bc8ae, traffic: 50}

An arm's ``model`` is a registry version, or ``champion`` (whatever is promoted). Everything
is checked when the file is loaded -- unknown fields, traffic not summing to 100, duplicate
names, a model version missing from the registry, two experiments on one surface at
overlapping times -- and refused with one `ExperimentConfigError` naming the problem.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marquee.config import REPO_ROOT

DEFAULT_FILE = REPO_ROOT / "experiments" / "experiments.yaml"
FILE_ENV = "MARQUEE_EXPERIMENTS"
CHAMPION = "champion"
METRICS = ("play_rate", "completion_rate", "watch_seconds_per_user")


class ExperimentConfigError(ValueError):
    """The experiments file cannot be used (the message says why)."""


class Arm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    model: str = Field(min_length=1)
    traffic: float = Field(gt=0, le=100)


class Guardrail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    max_relative_drop: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _known(self) -> Guardrail:
        if self.metric not in METRICS:
            raise ValueError(f"guardrail metric must be one of {', '.join(METRICS)}")
        return self


class Experiment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    surface: str = Field(default="home", min_length=1)
    start: dt.datetime
    stop: dt.datetime
    primary_metric: str = "play_rate"
    guardrails: tuple[Guardrail, ...] = ()
    arms: tuple[Arm, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        if self.start.tzinfo is None or self.stop.tzinfo is None:
            raise ValueError("start and stop need a UTC offset (e.g. 2026-12-01T00:00:00Z)")
        if self.stop <= self.start:
            raise ValueError("stop must be after start")
        if self.primary_metric not in METRICS:
            raise ValueError(f"primary_metric must be one of {', '.join(METRICS)}")
        if len(self.arms) < 2:
            raise ValueError("needs at least two arms")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        total = sum(a.traffic for a in self.arms)
        if abs(total - 100.0) > 1e-9:
            raise ValueError(f"arm traffic must sum to 100, got {total:g}")
        return self

    def active(self, at: dt.datetime) -> bool:
        return self.start <= at < self.stop

    @property
    def control(self) -> Arm:
        """The first arm: what the others are compared with."""
        return self.arms[0]


class ExperimentsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    experiments: tuple[Experiment, ...] = ()


def _overlaps(experiments: Iterable[Experiment]) -> list[str]:
    out = []
    items = list(experiments)
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if a.name == b.name:
                out.append(f"experiment name {a.name!r} is used twice")
            elif a.surface == b.surface and a.start < b.stop and b.start < a.stop:
                out.append(f"experiments {a.name!r} and {b.name!r} overlap in time on surface {a.surface!r}")
    return out


def parse_experiments(text: str, model_exists: Callable[[str], bool] | None = None, source: str = "experiments file") -> tuple[Experiment, ...]:
    """Validate the YAML text; ``model_exists(version)`` checks arm models (None: skip)."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ExperimentConfigError(f"{source}: not valid YAML ({exc})") from None
    try:
        parsed = ExperimentsFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ExperimentConfigError(f"{source}: {where}: {first['msg']}") from None
    problems = _overlaps(parsed.experiments)
    if model_exists is not None:
        for e in parsed.experiments:
            for arm in e.arms:
                if arm.model != CHAMPION and not model_exists(arm.model):
                    problems.append(f"experiment {e.name!r} arm {arm.name!r}: model version {arm.model!r} is not in the registry")
    if problems:
        raise ExperimentConfigError(f"{source}: {problems[0]}")
    return parsed.experiments


def experiments_path(env: dict[str, str] | None = None) -> Path:
    return Path((env if env is not None else os.environ).get(FILE_ENV, DEFAULT_FILE))


def load_experiments(path: Path | None = None, model_exists: Callable[[str], bool] | None = None) -> tuple[Experiment, ...]:
    """The experiments of ``path`` (default: `experiments_path()`); none when it is missing."""
    path = path or experiments_path()
    if not path.exists():
        return ()
    return parse_experiments(path.read_text(), model_exists, source=str(path))


def active_on(experiments: Iterable[Experiment], surface: str, at: dt.datetime) -> Experiment | None:
    """The experiment running on ``surface`` at ``at`` (at most one: overlaps are refused)."""
    for e in experiments:
        if e.surface == surface and e.active(at):
            return e
    return None
