"""Memoized answers: a recommendation is a pure function of its inputs, so compute it once.

Given the model version, the user id, k and the user's online feature row (history, counters,
profile), the request path is deterministic; the only other input, the title features, is
itself read through a cache of ``ttl_s`` (`serving.online.TitleFeatureCache`). So an answer
kept under the key ``(version, user, k, fingerprint of the row)`` for at most ``ttl_s`` is
exactly what recomputing it would give. The row is read on every request (it is how a live
event reaches the answer): a posted event changes the row, hence the key, from any worker
process; a promotion changes the version. Degraded answers are never kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any


def row_fingerprint(row: Mapping[str, Any]) -> str:
    """A stable text of the row's values (lists, numbers, timestamps, None)."""
    return repr(sorted(row.items()))


class AnswerCache:
    """Bounded LRU of answers, each valid for ``ttl_s`` (0 disables the cache)."""

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        if self.ttl_s <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
