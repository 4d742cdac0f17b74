"""A columnar batch of events (numpy arrays), the unit the simulator produces and the writer encodes."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from marquee.contracts import EVENT_TYPES

IMPRESSION, PLAY_START, PLAY_STOP, RATING, THUMBS_UP, THUMBS_DOWN, ADD_TO_LIST = range(7)
assert EVENT_TYPES[ADD_TO_LIST] == "add_to_list" and EVENT_TYPES[IMPRESSION] == "impression"

_DTYPES = {
    "user": np.int32,
    "title": np.int32,
    "etype": np.int8,
    "ts": np.int64,  # unix seconds, UTC
    "watch": np.int32,  # seconds; -1 = absent (only play_stop has it)
    "rating2": np.int8,  # rating x 2 (1..10); -1 = absent (only rating has it)
    "device": np.int8,  # index into vocabulary.DEVICES; -1 = absent
    "row": np.int16,  # index into vocabulary.ROW_NAMES; -1 = absent
    "position": np.int16,  # -1 = absent
}


@dataclass
class EventBatch:
    user: np.ndarray
    title: np.ndarray
    etype: np.ndarray
    ts: np.ndarray
    watch: np.ndarray
    rating2: np.ndarray
    device: np.ndarray
    row: np.ndarray
    position: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls) -> EventBatch:
        return cls(**{name: np.empty(0, dtype=dt) for name, dt in _DTYPES.items()})

    @classmethod
    def build(
        cls, etype: int, user, title, ts, device, watch=None, rating2=None, row=None, position=None
    ) -> EventBatch:
        n = len(ts)

        def col(name: str, values) -> np.ndarray:
            if values is None:
                return np.full(n, -1, dtype=_DTYPES[name])
            return np.asarray(values).astype(_DTYPES[name], copy=False)

        return cls(
            user=col("user", user),
            title=col("title", title),
            etype=np.full(n, etype, dtype=np.int8),
            ts=col("ts", ts),
            watch=col("watch", watch),
            rating2=col("rating2", rating2),
            device=col("device", device),
            row=col("row", row),
            position=col("position", position),
        )

    @classmethod
    def concat(cls, batches: list[EventBatch]) -> EventBatch:
        if not batches:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )

    def take(self, index: np.ndarray) -> EventBatch:
        return EventBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def counts_by_type(self) -> np.ndarray:
        return np.bincount(self.etype, minlength=len(EVENT_TYPES))
