"""Shared test set-up: quiet libraries, the shared MovieLens data, the venv's executables."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
ML100K = REPO.parent / "shared" / "data" / "movielens" / "ml-100k"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def ml100k() -> Path:
    if not (ML100K / "u.data").exists():
        pytest.skip("MovieLens 100K not found under ../shared/data")
    return ML100K
