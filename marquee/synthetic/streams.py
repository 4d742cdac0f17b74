"""Independent, reproducible random streams (numpy PCG64), one per purpose.

Each part of the generator draws from its own stream, keyed by the seed and fixed integer
tags, so that e.g. the catalogue is the same whatever the number of users, and day 17 is the
same whether or not day 16 was generated first. No Python `random`, no `hash()`, no clock.
"""

from __future__ import annotations

import numpy as np

CATALOGUE = 1
MEMBERS = 2
DAY = 3
USER_GAPS = 4


def stream(seed: int, *tags: int) -> np.random.Generator:
    """A generator determined by ``seed`` and ``tags`` (non-negative integers) alone."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *tags])))
