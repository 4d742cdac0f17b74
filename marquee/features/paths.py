"""Where the feature store keeps its files under ``$MARQUEE_HOME/feast/``."""

from __future__ import annotations

import os
from pathlib import Path

from marquee.config import MarqueeHome
from marquee.features.names import EXPORTS


def offline_dir(home: MarqueeHome) -> Path:
    """Parquet exports of the marts: the DuckDB offline store's sources."""
    return home.feast / "offline"


def training_dir(home: MarqueeHome) -> Path:
    """Point-in-time training sets written by the ``training_dataset`` asset."""
    return home.feast / "training"


def export_path(name: str, home: MarqueeHome) -> Path:
    if name not in EXPORTS:
        raise ValueError(f"unknown export {name!r}; expected one of {EXPORTS}")
    return offline_dir(home) / f"{name}.parquet"


def definitions_home() -> MarqueeHome:
    """The home the ``feature_repo/`` definitions point at: ``$MARQUEE_HOME``, required.

    Feast stores a FileSource's path in the registry as given, and its DuckDB offline store
    reads that path relative to the working directory, so the sources need an absolute path.
    ``feature_store.yaml`` reads the same variable; requiring it keeps both in step.
    """
    raw = os.environ.get("MARQUEE_HOME")
    if not raw:
        raise RuntimeError(
            "MARQUEE_HOME is not set: the feature repo's sources live under "
            "$MARQUEE_HOME/feast/offline. Run e.g. "
            "`MARQUEE_HOME=$PWD/.marquee feast -c feature_repo apply`."
        )
    if not os.path.isabs(os.path.expanduser(raw)):
        # `feast apply` changes into feature_repo/ first: a relative path would point there.
        raise RuntimeError(
            f"MARQUEE_HOME must be an absolute path for the feature repo, got {raw!r} "
            "(e.g. MARQUEE_HOME=$PWD/.marquee)."
        )
    return MarqueeHome.from_env(raw)
