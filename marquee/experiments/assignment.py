"""Deterministic assignment: the same user gets the same arm for the whole experiment.

The bucket is the first 8 bytes of sha256("<experiment>:<user_id>") as an integer, mod
10,000; arms own consecutive ranges of buckets in proportion to their traffic. Hashing the
experiment name with the user makes assignments of two experiments independent.
"""

from __future__ import annotations

import hashlib

from marquee.experiments.config import Arm, Experiment

BUCKETS = 10_000


def bucket(experiment: str, user_id: str) -> int:
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(experiment: Experiment, user_id: str) -> Arm:
    b = bucket(experiment.name, str(user_id))
    edge = 0.0
    for arm in experiment.arms:
        edge += arm.traffic * BUCKETS / 100.0
        if b < edge:
            return arm
    return experiment.arms[-1]  # rounding at the top edge
