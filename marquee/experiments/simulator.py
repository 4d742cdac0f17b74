"""Simulated members for experiments: they ask the real API, react to what they are shown
according to the synthetic generator's ground-truth tastes, and post what they did back.

For a member with taste vector ``u`` (over genres) and a title with genre vector ``g`` and
quality ``q`` shown at position ``p``, the chance of a play is
``sigmoid(base + taste_weight * (u . g) + quality_weight * q - position_decay * p)``; a play's
completion share is ``sigmoid(6 * (u . g) + q - 0.5 + noise)`` of the runtime. Everything is
drawn from one seeded generator, so a run is reproducible given the same answers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import httpx
import numpy as np
import pandas as pd

from marquee.config import MarqueeHome


@dataclass(frozen=True)
class SimulationConfig:
    members: int = 400
    rounds: int = 3
    k: int = 10
    seed: int = 0
    base_logit: float = -3.0
    taste_weight: float = 10.0
    quality_weight: float = 0.5
    position_decay: float = 0.1


@dataclass
class SimulationLog:
    requests: int = 0
    exposures: int = 0
    plays: int = 0
    completions: int = 0
    by_arm: Counter = field(default_factory=Counter)
    shown: list[dict] = field(default_factory=list)  # one per served list
    events: list[dict] = field(default_factory=list)  # every posted event
    event_requests: list[int] = field(default_factory=list)  # which served list led to it
    event_completed: list[bool] = field(default_factory=list)


def _truth(home: MarqueeHome) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, float]]]:
    folder = home.root / "synthetic" / "ground_truth"
    if not (folder / "users.parquet").exists():
        raise FileNotFoundError(f"no ground truth under {folder}: the simulator needs `marquee generate` data")
    users = pd.read_parquet(folder / "users.parquet")
    titles = pd.read_parquet(folder / "titles.parquet")
    taste = {u: np.asarray(t, dtype=np.float64) for u, t in zip(users["user_id"], users["taste"], strict=True)}
    items = {
        t: (np.asarray(g, dtype=np.float64), float(q))
        for t, g, q in zip(titles["title_id"], titles["genre_vector"], titles["quality"], strict=True)
    }
    return taste, items


def _runtimes(home: MarqueeHome) -> dict[str, float]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        rows = con.execute("select title_id, runtime_minutes from marts.dim_titles").fetchall()
    finally:
        con.close()
    return {str(t): float(r) for t, r in rows if r}


def _ts() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def simulate(base_url: str, home: MarqueeHome, config: SimulationConfig | None = None) -> SimulationLog:
    cfg = config or SimulationConfig()
    rng = np.random.default_rng(cfg.seed)
    taste, items = _truth(home)
    runtimes = _runtimes(home)
    members = rng.choice(sorted(taste), size=min(cfg.members, len(taste)), replace=False).tolist()
    out = SimulationLog()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(cfg.rounds):
            for user in members:
                resp = client.get(f"/recommendations/{user}", params={"k": cfg.k})
                resp.raise_for_status()
                body = resp.json()
                arm = (body.get("experiment") or {}).get("arm")
                shown = [i["title_id"] for i in body["items"]]
                out.requests += 1
                out.exposures += len(shown)
                out.by_arm[arm] += 1
                out.shown.append({"user_id": user, "arm": arm, "titles": shown})
                events: list[dict] = []
                completed: list[bool] = []
                for pos, title in enumerate(shown):
                    genres, quality = items.get(title, (None, 0.0))
                    affinity = float(taste[user] @ genres) if genres is not None else 0.0
                    logit = cfg.base_logit + cfg.taste_weight * affinity + cfg.quality_weight * quality - cfg.position_decay * pos
                    if rng.random() >= 1 / (1 + np.exp(-logit)):
                        continue
                    share = 1 / (1 + np.exp(-(6.0 * affinity + quality - 0.5 + rng.normal(0, 1))))
                    runtime = runtimes.get(title, 100.0)
                    ts = _ts()
                    events.append({"event_id": f"sim-{uuid.uuid4().hex}", "user_id": user, "title_id": title,
                                   "event_type": "play_start", "event_ts": ts})
                    events.append({"event_id": f"sim-{uuid.uuid4().hex}", "user_id": user, "title_id": title,
                                   "event_type": "play_stop", "event_ts": ts,
                                   "watch_seconds": round(float(share) * runtime * 60, 1)})
                    out.plays += 1
                    out.completions += int(share >= 0.7)
                    completed += [False, bool(share >= 0.7)]
                if events:
                    posted = client.post("/events", content=json.dumps(events), headers={"content-type": "application/json"})
                    posted.raise_for_status()
                    out.events.extend(events)
                    out.event_requests.extend([out.requests - 1] * len(events))
                    out.event_completed.extend(completed)
    return out


def frames_from_log(log: SimulationLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulator's own view of exposures and outcomes (same shape as the warehouse's),
    for checks that need no ingestion; the request number stands in for time."""
    clock = pd.Timestamp("2026-01-01")
    ex = pd.DataFrame(
        [
            (s["user_id"], s["arm"], t, clock + pd.Timedelta(seconds=n))
            for n, s in enumerate(log.shown)
            for t in s["titles"]
        ],
        columns=["user_id", "arm", "title_id", "ts"],
    )
    outcomes = pd.DataFrame(
        [
            (e["user_id"], e["title_id"], e["event_type"], clock + pd.Timedelta(seconds=n),
             e.get("watch_seconds", np.nan), done)
            for e, n, done in zip(log.events, log.event_requests, log.event_completed, strict=True)
        ],
        columns=["user_id", "title_id", "event_type", "ts", "watch_seconds", "completed"],
    )
    return ex, outcomes
