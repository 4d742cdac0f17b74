"""The online feature store as the API sees it: opened off the request path, checked per
request, reopened when it comes back.

Feast takes seconds to import and open, so the store is opened by the background refresher
(start-up, then every poll until it works). On the request path ``reader()`` only stats the
SQLite file (microseconds): an open SQLite connection keeps reading a file that has been
moved or deleted, so without that check an outage would go unnoticed while pushes went to a
file nobody reads. A file with a new identity (replaced, not written in place) makes the
store stale; the refresher reopens it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marquee.config import MarqueeHome

if TYPE_CHECKING:
    from feast import FeatureStore

    from marquee.features.online import OnlineFeatureReader, RankingFeatures

log = logging.getLogger("marquee.serving")


class OnlineUnavailable(RuntimeError):
    """The online store cannot be read right now (reason in the message)."""


@dataclass(frozen=True)
class _Opened:
    store: FeatureStore
    reader: OnlineFeatureReader
    path: Path | None  # SQLite file; None for other online stores (Redis)
    identity: tuple[int, int] | None


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _open_feature_store(home: MarqueeHome) -> FeatureStore:
    from marquee.features.config import feature_store

    return feature_store(home)


class OnlineAccess:
    """Shared by every request thread; ``refresh`` runs on the background thread."""

    def __init__(
        self,
        home: MarqueeHome,
        open_store: Callable[[MarqueeHome], FeatureStore] = _open_feature_store,
        retry_interval_s: float = 15.0,
    ) -> None:
        self.home = home
        self._open_store = open_store
        self.retry_interval_s = retry_interval_s
        self._next_attempt = 0.0
        self._opened: _Opened | None = None
        self._stale = False
        self.error: str | None = "online store not opened yet"
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Open the store if it is not open (or went stale); failures are kept in ``error``
        and retried every ``retry_interval_s`` (opening Feast costs a registry parse)."""
        with self._lock:
            if self._opened is not None and not self._stale:
                return
            if not self._stale and time.monotonic() < self._next_attempt:
                return
            self._next_attempt = time.monotonic() + self.retry_interval_s
            try:
                from marquee.features.online import OnlineFeatureReader

                registry = self.home.feast / "registry.db"
                if not registry.exists():  # Feast would create an empty one: leave that to the pipeline
                    raise FileNotFoundError(f"no feature registry at {registry}; run the pipeline")
                store = self._open_store(self.home)
                reader = OnlineFeatureReader(store)
                path = Path(reader._sqlite_path) if reader.fast_path else None
                identity = _identity(path) if path is not None else None
                if path is not None:  # fail now, not on the first request, if tables are missing
                    reader.user_features("__marquee_probe__")
            except Exception as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                if reason != self.error:
                    log.warning("online store unavailable (%s)", reason)
                self.error = reason
                return
            old, self._opened, self._stale = self._opened, _Opened(store, reader, path, identity), False
            if self.error is not None:
                log.info("online store available: %s", path or type(store.config.online_store).__name__)
            self.error = None
            if old is not None:
                old.reader.close()

    def _checked(self) -> _Opened:
        opened = self._opened
        if opened is None:
            raise OnlineUnavailable(self.error or "online store not opened")
        if opened.path is not None:
            try:
                identity = _identity(opened.path)
            except OSError as exc:
                raise OnlineUnavailable(f"online store file unavailable: {exc.strerror}") from None
            if identity != opened.identity:
                self._stale = True
                raise OnlineUnavailable("online store file was replaced; reopening")
        return opened

    def reader(self) -> OnlineFeatureReader:
        """The reader for this request, or ``OnlineUnavailable``."""
        return self._checked().reader

    def user_row(self, user_id: str) -> dict[str, Any]:
        try:
            return self.reader().user_features(user_id)
        except OnlineUnavailable:
            raise
        except Exception as exc:  # sqlite errors, corrupt values
            raise OnlineUnavailable(f"online read failed: {type(exc).__name__}: {exc}") from exc

    def record(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Apply accepted events to the online store (counters, recent history)."""
        from marquee.features.online import record_user_events

        opened = self._checked()
        return record_user_events(opened.store, events, opened.reader)

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._opened.reader.close()
                self._opened = None


class TitleFeatureCache:
    """Online title features kept for ``ttl_s``: they change only when the pipeline
    materializes (pushes touch user views only), and reading ~400 candidates' rows from
    SQLite and decoding them is most of a request's cost. Shared by all request threads;
    the whole cache is dropped at expiry, so a value is at most ``ttl_s`` old."""

    def __init__(self, ttl_s: float, max_titles: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_titles = max_titles
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._names: tuple[str, ...] | None = None
        self._expires = 0.0
        self._matrices: dict[tuple[Any, ...], tuple[float, Any]] = {}

    def clear(self) -> None:
        self._rows = {}
        self._matrices = {}

    def matrix(
        self,
        reader: OnlineFeatureReader,
        catalogue: Sequence[str],
        names: Sequence[str],
        build: Callable[[dict[str, list[Any]]], Any],
    ) -> Any:
        """``build(columns)`` over the whole catalogue's title features, kept for ``ttl_s`` per
        (catalogue, names): one read and one conversion per model and expiry instead of one per
        request. The catalogue object is a loaded model's own, so a new model misses; the models
        served at once (champion and experiment arms) each keep their own."""
        key = (id(catalogue), len(catalogue), tuple(names))
        now = time.monotonic()
        matrices = self._matrices  # this request's dict, even if another thread replaces it
        cached = matrices.get(key)
        if cached is not None and now < cached[0]:
            return cached[1]
        value = build(reader.title_features([str(t) for t in catalogue]))
        if self.ttl_s > 0:
            if len(matrices) >= 8:  # a few models at once (champion, experiment arms)
                matrices = self._matrices = {}
            matrices[key] = (now + self.ttl_s, value)
        return value

    def title_features(self, reader: OnlineFeatureReader, title_ids: Sequence[str]) -> dict[str, list[Any]]:
        title_ids = [str(t) for t in title_ids]
        if self.ttl_s <= 0:
            return reader.title_features(title_ids)
        now = time.monotonic()
        if now >= self._expires or len(self._rows) > self.max_titles:
            self._rows = {}
            self._expires = now + self.ttl_s
        rows = self._rows  # this request's dict, even if another thread replaces it
        missing = [t for t in dict.fromkeys(title_ids) if t not in rows]
        if missing:
            columns = reader.title_features(missing)
            names = tuple(columns)
            for i, title_id in enumerate(missing):
                rows[title_id] = tuple(columns[n][i] for n in names)
            self._names = names
        names = self._names or ()
        if not title_ids:
            return {n: [] for n in names}
        return {n: list(col) for n, col in zip(names, zip(*(rows[t] for t in title_ids), strict=True), strict=True)}


class RequestFeatures:
    """What the recommender reads for one request: the user's row, already read to get the
    history, is reused; title features come through the shared ``TitleFeatureCache``.
    Failures are remembered so the API can tell a degraded answer from a good one even if
    the model swallowed the error."""

    def __init__(
        self,
        reader: OnlineFeatureReader,
        user_id: str,
        user_row: dict[str, Any],
        titles: TitleFeatureCache | None = None,
    ) -> None:
        self._reader = reader
        self._user_id = user_id
        self._user_row = user_row
        self._titles = titles or TitleFeatureCache(0)
        self.error: Exception | None = None

    def user_features(self, user_id: str) -> dict[str, Any]:
        if str(user_id) == self._user_id:
            return dict(self._user_row)
        try:
            return self._reader.user_features(str(user_id))
        except Exception as exc:
            self.error = exc
            raise

    def title_features(self, title_ids: Sequence[str]) -> dict[str, list[Any]]:
        try:
            return self._titles.title_features(self._reader, title_ids)
        except Exception as exc:
            self.error = exc
            raise

    def title_matrix(self, catalogue: Sequence[str], names: Sequence[str], build: Callable[[dict[str, list[Any]]], Any]) -> Any:
        try:
            return self._titles.matrix(self._reader, catalogue, names, build)
        except Exception as exc:
            self.error = exc
            raise

    def ranking_features(self, user_id: str, title_ids: Sequence[str]) -> RankingFeatures:
        from marquee.features.online import RankingFeatures

        title_ids = [str(t) for t in title_ids]
        return RankingFeatures(
            str(user_id), title_ids, self.user_features(user_id), self.title_features(title_ids)
        )
