"""What the API serves from, and how it changes under it without a restart.

``ModelHolder`` owns the served champion. A background thread polls the champion pointer
(``models/champion.json``: ``os.replace``-d on every promotion), loads a new version off the
request path, warms it up and then swaps one reference. A request reads ``holder.current``
once and keeps that snapshot to the end, so in-flight requests finish on the model they
started with and the old model is freed when the last of them is done.

Decisions:
- A champion that fails to load (files missing or corrupt) never replaces a working model:
  the last model that loaded keeps serving, ``/health`` names the load error, and the load
  is retried every ``retry_interval_s``. Recovery is automatic.
- With no model at all (nothing promoted yet, or the first load failed), answers are a
  popularity list computed at start-up from the warehouse marts (distinct engaged users per
  title), flagged ``degraded``. The warehouse is opened read-only for that one query and
  closed at once: DuckDB allows one writer per file and the pipeline must never wait on us.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from marquee.config import MarqueeHome

log = logging.getLogger("marquee.serving")

CHAMPION_FILE = "champion.json"
# Popularity kept for the no-model fallback: enough for any allowed k.
FALLBACK_DEPTH = 500


class Recommendation(Protocol):
    title_ids: list[str]
    scores: list[float]
    source: str


class Recommender(Protocol):
    """The part of ``models.recommender.TwoStageRecommender`` the API relies on."""

    version: str

    def recommend(
        self,
        user_id: str,
        history: list[str] | None = None,
        online: Any = None,
        k: int = 10,
        exclude: Any = (),
    ) -> Recommendation: ...

    def popular(self, k: int, exclude: Any = ()) -> Recommendation: ...

    def title_name(self, title_id: str) -> str | None: ...


@dataclass(frozen=True)
class PopularityList:
    """Titles by popularity with their names: the answer when no model can be used."""

    title_ids: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    names: dict[str, str] = field(default_factory=dict)
    source: str = "none"

    def top(self, k: int, exclude: frozenset[str] = frozenset()) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        for title_id, score in zip(self.title_ids, self.scores, strict=True):
            if title_id in exclude:
                continue
            out.append((title_id, score))
            if len(out) == k:
                break
        return out


def warehouse_popularity(home: MarqueeHome, depth: int = FALLBACK_DEPTH) -> PopularityList:
    """Most-engaged titles (distinct positive users) from ``marts``, with names.

    Raises when the warehouse is missing, locked by a writer, or has no marts yet."""
    import duckdb

    if not home.warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {home.warehouse}")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT i.title_id, count(DISTINCT i.user_id) AS users, any_value(t.title) "
            "FROM marts.fct_interactions i LEFT JOIN marts.dim_titles t USING (title_id) "
            "WHERE i.is_positive GROUP BY i.title_id ORDER BY users DESC, i.title_id LIMIT ?",
            [depth],
        ).fetchall()
    finally:
        con.close()
    return PopularityList(
        title_ids=tuple(str(r[0]) for r in rows),
        scores=tuple(float(r[1]) for r in rows),
        names={str(r[0]): r[2] for r in rows if r[2] is not None},
        source="warehouse_popularity",
    )


@dataclass(frozen=True)
class Served:
    """An immutable snapshot: what one request uses from start to finish."""

    model: Recommender | None
    version: str | None
    loaded_at: float | None
    fallback: PopularityList


def _default_loader(home: MarqueeHome) -> Callable[[], Recommender]:
    def load() -> Recommender:
        from models.registry import ModelRegistry

        return ModelRegistry(home.models).load_champion()

    return load


def _pointer_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _pointer_version(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("version")
    except (OSError, ValueError, AttributeError):
        return None


class ModelHolder:
    """The served champion, hot-reloaded from the registry's pointer (see module docstring)."""

    def __init__(
        self,
        home: MarqueeHome,
        *,
        reload_interval_s: float = 2.0,
        retry_interval_s: float = 15.0,
        loader: Callable[[], Recommender] | None = None,
        fallback_loader: Callable[[], PopularityList] | None = None,
        on_change: Callable[[Served], None] | None = None,
        on_load: Callable[[str], None] | None = None,
        warm_up: Callable[[Recommender], None] | None = None,
    ) -> None:
        self.home = home
        self.pointer = home.models / CHAMPION_FILE
        self.reload_interval_s = reload_interval_s
        self.retry_interval_s = retry_interval_s
        self._load = loader or _default_loader(home)
        self._load_fallback = fallback_loader or (lambda: warehouse_popularity(home))
        self._on_change = on_change
        self._on_load = on_load or (lambda outcome: None)
        self._warm_up = warm_up
        self._current = Served(None, None, None, PopularityList())
        self._signature: tuple[int, int, int] | None = None
        self._checked_once = False
        self.load_error: str | None = None
        self.fallback_error: str | None = None
        self._next_retry = 0.0
        self._fallback_loaded = False
        self._next_fallback_retry = 0.0
        self._lock = threading.Lock()  # one refresh at a time (poller vs. explicit calls)

    @property
    def current(self) -> Served:
        """The snapshot to serve this request from (a single reference read)."""
        return self._current

    def _swap(self, served: Served) -> None:
        self._current = served
        if self._on_change is not None:
            self._on_change(served)

    def refresh(self, now: float | None = None) -> bool:
        """Check the pointer and (re)load if needed; returns whether the model changed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            changed = self._refresh_model(now)
            self._refresh_fallback(now)
            return changed

    def _refresh_model(self, now: float) -> bool:
        signature = _pointer_signature(self.pointer)
        pointer_moved = not self._checked_once or signature != self._signature
        retry_due = self.load_error is not None and now >= self._next_retry
        if not (pointer_moved or retry_due):
            return False
        self._checked_once = True
        self._signature = signature
        current = self._current
        if signature is None:
            if current.model is None and self.load_error is None:
                self.load_error = "no champion has been promoted yet"
                log.warning("serving without a model: %s", self.load_error)
            self._next_retry = now + self.retry_interval_s
            return False
        if current.model is not None and self.load_error is None and _pointer_version(self.pointer) == current.version:
            return False  # the pointer was rewritten, not moved to another version
        started = time.perf_counter()
        try:
            model = self._load()
            if self._warm_up is not None:
                self._warm_up(model)
        except Exception as exc:  # anything a broken model directory can raise
            reason = f"{type(exc).__name__}: {exc}"
            if reason != self.load_error:
                kept = f"still serving {current.version}" if current.model else "serving popularity"
                log.error("champion could not be loaded (%s); %s", reason, kept)
            self.load_error = reason
            self._next_retry = now + self.retry_interval_s
            self._on_load("error")
            return False
        self._on_load("ok")
        if self.load_error is not None:
            log.info("champion loads again: %s", model.version)
        self.load_error = None
        if model.version == current.version:
            return False
        log.info(
            "serving model %s (was %s), loaded in %.2f s",
            model.version, current.version, time.perf_counter() - started,
        )
        self._swap(Served(model, model.version, time.time(), current.fallback))
        return True

    def _refresh_fallback(self, now: float) -> None:
        if self._fallback_loaded or self._current.model is not None or now < self._next_fallback_retry:
            return
        try:
            fallback = self._load_fallback()
        except Exception as exc:  # missing / locked warehouse: retry later
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if reason != self.fallback_error:
                log.warning("no popularity fallback from the warehouse yet (%s)", reason)
            self.fallback_error = reason
            self._next_fallback_retry = now + self.retry_interval_s
            return
        self.fallback_error = None
        self._fallback_loaded = True
        current = self._current
        self._swap(Served(current.model, current.version, current.loaded_at, fallback))



class Poller:
    """Runs refresh callables every ``interval_s`` on one daemon thread, off the request path."""

    def __init__(self, interval_s: float, tasks: list[Callable[[], object]]) -> None:
        self.interval_s = interval_s
        self.tasks = tasks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> None:
        for task in self.tasks:
            try:
                task()
            except Exception:  # the poller must outlive any surprise
                log.exception("background refresh failed: %s", getattr(task, "__qualname__", task))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="marquee-refresh", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.run_once()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
