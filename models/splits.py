"""Time-based hold-out for recommendation models.

One global clock, no leakage: with timestamps ``ts`` (one per interaction) and fractions
``val_fraction`` / ``test_fraction``,

- ``test_start`` is the earliest time by which ``1 - test_fraction`` of the interactions have
  happened; every interaction at or after it is **test** (for every user: "each user's
  interactions after a global cutoff");
- ``val_start`` is the same for ``1 - test_fraction - val_fraction``; interactions in
  ``[val_start, test_start)`` are **validation** (early stopping, hyper-parameters);
- everything strictly before ``val_start`` is **train**.

So ``max(train) < val_start <= min(val)``, ``max(val) < test_start <= min(test)``, and ties at
a cutoff all fall on the later side. A model evaluated on the test slice may use everything
before ``test_start`` (train + validation) as history and for refitting, nothing after.
Users first seen after a cutoff are cold-start users of that slice. A global cutoff (rather
than a per-user last-N%) keeps other users' future out of training as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def time_cutoff(timestamps: np.ndarray, fraction_before: float) -> np.datetime64 | None:
    """``sorted(ts)[ceil(fraction_before * n)]``: the time by which ``fraction_before`` of the
    interactions have happened (None when that position is past the end)."""
    ts = np.sort(np.asarray(timestamps, dtype="datetime64[ns]"))
    if not 0.0 <= fraction_before <= 1.0:
        raise ValueError(f"fraction_before must be in [0, 1], got {fraction_before}")
    position = int(np.ceil(fraction_before * len(ts) - 1e-9))
    if position >= len(ts):
        return None
    return ts[position]


@dataclass(frozen=True)
class TimeSplit:
    """Boolean masks over the interactions plus the cutoffs that produced them."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_start: np.datetime64 | None
    test_start: np.datetime64 | None

    @property
    def history(self) -> np.ndarray:
        """Everything a model may see when scored on the test slice (train + validation)."""
        return self.train | self.val

    def summary(self) -> dict:
        def fmt(t: np.datetime64 | None) -> str | None:
            return None if t is None else str(pd.Timestamp(t))

        return {
            "method": "global_time_cutoff",
            "val_start": fmt(self.val_start),
            "test_start": fmt(self.test_start),
            "n_train": int(self.train.sum()),
            "n_val": int(self.val.sum()),
            "n_test": int(self.test.sum()),
        }


def time_split(
    timestamps: np.ndarray, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> TimeSplit:
    """Split interactions by global time cutoffs (see the module docstring).

    ``test_fraction=0`` gives a train/validation split for a production fit on all data;
    ``val_fraction=0`` gives no validation slice.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError("need val_fraction, test_fraction >= 0 and their sum < 1")
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    test_start = time_cutoff(ts, 1.0 - test_fraction) if test_fraction > 0 else None
    val_start = time_cutoff(ts, 1.0 - test_fraction - val_fraction) if val_fraction > 0 else None
    test = ts >= test_start if test_start is not None else np.zeros(len(ts), dtype=bool)
    if val_start is not None:
        val = (ts >= val_start) & ~test
        train = ts < val_start
    else:
        val = np.zeros(len(ts), dtype=bool)
        train = ~test
    return TimeSplit(train=train, val=val, test=test, val_start=val_start, test_start=test_start)
