"""Shared test set-up: quiet libraries, the shared MovieLens data, the venv's executables."""

from __future__ import annotations

import os
import shutil
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


@pytest.fixture(scope="session")
def ml100k_home(ml100k: Path, tmp_path_factory: pytest.TempPathFactory):
    """ml-100k through the whole pipeline (import + every asset), once per session (≈ 2 min).

    Tests that change the home copy it first. ``MARQUEE_TEST_ML100K_HOME`` may name a home
    already built that way: it is copied, so iterating on tests does not rerun the pipeline."""
    from marquee.config import MarqueeHome

    root = tmp_path_factory.mktemp("ml100k") / "home"
    prebuilt = os.environ.get("MARQUEE_TEST_ML100K_HOME")
    if prebuilt:
        from marquee.features.config import write_feature_store_yaml

        shutil.copytree(prebuilt, root, ignore=shutil.ignore_patterns("api"))
        home = MarqueeHome(root).ensure()
        write_feature_store_yaml(home)  # Feast's config holds absolute paths
        return home
    from marquee.importers.movielens import import_movielens
    from marquee.pipeline import run_assets
    from models.registry import ModelRegistry

    home = MarqueeHome(root).ensure()
    import_movielens(ml100k, home)
    result = run_assets(home, quiet=True)
    assert result.success, (result.failed_steps, result.checks_failed)
    assert ModelRegistry(home.models).champion(), "the pipeline promoted no champion"
    return home
