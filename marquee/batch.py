"""Batch recommendations from the champion: a frame, the warehouse table and file exports."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError
from models.registry import ModelRegistry, RegistryError

TABLE = "serving.batch_recommendations"
COLUMNS = ["user_id", "rank", "title_id", "score"]


def _feast_source(home: MarqueeHome, recommender):
    """Offline Feast values for the ranker's Feast columns (None when it uses none)."""
    if not recommender.feast_user_names and not recommender.feast_title_names:
        return None
    from marquee.features.config import feature_store
    from marquee.features.ranking_source import OfflineRankingFeatures

    return OfflineRankingFeatures(feature_store(home))


def load_champion(home: MarqueeHome):
    try:
        return ModelRegistry(home.models).load_champion()
    except RegistryError as exc:
        raise MarqueeUserError(str(exc)) from exc


def batch_frame(home: MarqueeHome, k: int, recommender=None) -> tuple[pd.DataFrame, str]:
    """Top-``k`` of every user known to the champion: ``user_id, rank, title_id, score``."""
    rec = recommender or load_champion(home)
    users = rec.context.user_ids.tolist()
    ids, scores = rec.recommend_batch(users, k, _feast_source(home, rec))
    n, width = ids.shape
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.asarray(users, dtype=object), width),
            "rank": np.tile(np.arange(1, width + 1), n),
            "title_id": ids.ravel(),
            "score": scores.ravel().astype(float),
        }
    )
    frame = frame[frame["title_id"].notna()].reset_index(drop=True)
    return frame, rec.version


def write_batch(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, version: str | None = None) -> None:
    """Replace the table in one transaction."""
    out = frame.copy()
    out["model_version"] = version or ""
    out["generated_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("create schema if not exists serving")
    con.execute("begin")
    try:
        con.register("batch_frame", out)
        con.execute(f"create or replace table {TABLE} as select * from batch_frame")
        con.unregister("batch_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def export(home: MarqueeHome, k: int, out: str | Path) -> tuple[int, int, str]:
    """Write top-``k`` for every known user to CSV or Parquet (by extension), atomically.
    Returns (rows, users, model version)."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise MarqueeUserError(f"--out must end in .csv or .parquet, got {path.name!r}")
    if not 1 <= int(k) <= 1000:
        raise MarqueeUserError(f"--k must be between 1 and 1000, got {k}")
    if path.parent and not path.parent.exists():
        raise MarqueeUserError(f"directory does not exist: {path.parent}")
    frame, version = batch_frame(home, int(k))
    frame = frame[COLUMNS]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return len(frame), int(frame["user_id"].nunique()), version


def open_online_reader(home: MarqueeHome):
    """The online feature reader, or None when there is no online store yet."""
    if not home.feast.exists():
        return None
    try:
        from marquee.features.config import feature_store
        from marquee.features.online import OnlineFeatureReader

        return OnlineFeatureReader(feature_store(home))
    except Exception:  # no registry / online store yet: the stored history is enough
        return None


def top_k(rec, user_id: str, k: int, online=None) -> list[tuple[str, str | None, float]]:
    """(title_id, title, score) of one user's top-``k``, seen titles excluded."""
    from serving.ids import id_problem

    problem = id_problem(str(user_id))
    if problem:
        raise MarqueeUserError(f"user id {user_id!r} {problem}")
    if not 1 <= int(k) <= 100:
        raise MarqueeUserError(f"-k must be between 1 and 100, got {k}")
    out = rec.recommend(str(user_id), online=online, k=int(k))
    return [(t, rec.title_name(t), float(s)) for t, s in zip(out.title_ids, out.scores, strict=True)]


def recommend_one(
    home: MarqueeHome, user_id: str, k: int
) -> tuple[str, list[tuple[str, str | None, float]]]:
    """`marquee recommend`: the champion's top-``k`` for one user. Live history and features
    come from the online store when there is one (so events posted to the API count)."""
    rec = load_champion(home)
    online = open_online_reader(home)
    try:
        return rec.version, top_k(rec, user_id, k, online)
    finally:
        if online is not None:
            online.close()
