"""Glue between the pipeline and the model code: train a candidate version and register it.

`train_candidate` takes the newest two-tower version (with its hold-out fits under
``backtest/``), trains and evaluates the XGBoost ranker on the same time split
(`models.ranking.two_stage`), and saves a complete two-stage version in the registry with its
lineage: data snapshot, retrieval version, Feast feature-view versions and code version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from marquee.config import MarqueeHome
from models.ranking.ranker import booster_bytes, describe
from models.ranking.two_stage import TwoStageConfig, train_two_stage
from models.registry import ModelRegistry
from models.retrieval.artifacts import list_versions, load_artifacts
from models.retrieval.data import InteractionData
from models.retrieval.train import BACKTEST
from models.splits import time_split


class CandidateError(RuntimeError):
    """The inputs of a candidate are missing (no retrieval version, no hold-out fits)."""


def title_names(warehouse: Path) -> dict[str, str]:
    """title_id -> title from the marts (read-only; empty when the table is missing)."""
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return {}
    try:
        rows = con.execute("select title_id, title from marts.dim_titles").fetchall()
    except duckdb.Error:
        return {}
    finally:
        con.close()
    return {str(t): str(n) for t, n in rows if n is not None}


def feature_view_versions(store) -> dict[str, str]:
    """sha256 (12 hex) of each ranking feature view's spec in the Feast registry."""
    from marquee.features import names as N

    out = {}
    for projection in store.get_feature_service(N.RANKING).feature_view_projections:
        spec = store.get_feature_view(projection.name).to_proto().spec
        out[projection.name] = hashlib.sha256(spec.SerializeToString(deterministic=True)).hexdigest()[:12]
    return out


def latest_retrieval(home: MarqueeHome) -> Path:
    versions = list_versions(home.models / "retrieval")
    if not versions:
        raise CandidateError("no two-tower version under models/retrieval: train retrieval_model first")
    path = versions[-1]
    for name in ("val", "test"):
        if not (path / BACKTEST / name / "manifest.json").exists():
            raise CandidateError(f"{path.name} has no hold-out fit {BACKTEST}/{name}: retrain it with evaluate=true")
    return path


def train_candidate(
    home: MarqueeHome,
    data: InteractionData,
    feast=None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    config: TwoStageConfig | None = None,
) -> dict[str, Any]:
    """Train, evaluate and register a candidate; returns ``{"version", "path", "manifest"}``."""
    say = log or (lambda _m: None)
    retrieval_path = latest_retrieval(home)
    final, r_manifest = load_artifacts(retrieval_path)
    val, _ = load_artifacts(retrieval_path / BACKTEST / "val")
    test, _ = load_artifacts(retrieval_path / BACKTEST / "test")
    if (r_manifest.get("data") or {}).get("fingerprint") != data.source.get("fingerprint"):
        raise CandidateError(
            f"retrieval version {retrieval_path.name} was trained on other data than the current "
            "training set: rematerialize retrieval_model"
        )
    holdout = r_manifest["data"]["split"]["holdout"]
    split = time_split(data.timestamps)
    for name in ("val_start", "test_start"):
        if str(pd.Timestamp(getattr(split, name))) != holdout[name]:
            raise CandidateError(f"split {name} differs from the retrieval version's: {holdout[name]}")
    cfg = config or TwoStageConfig()
    if seed != cfg.ranker.seed:
        from dataclasses import replace

        cfg = replace(cfg, ranker=replace(cfg.ranker, seed=seed))
    result = train_two_stage(data, split, val, test, final, feast, cfg, log=say)
    store = getattr(feast, "store", None)
    manifest = {
        "config": cfg.to_dict(),
        "evaluation": {
            "protocol": {
                "split": "global time cutoffs (models.splits.time_split): train < val_start <= "
                "validation < test_start <= test",
                **holdout,
                "relevance": "every title a test user engaged with after test_start",
                "seen_removed": True,
                "k": cfg.k,
                "segments": f"cold: no history before test_start; light: 1-{cfg.heavy_threshold - 1}; "
                f"heavy: >= {cfg.heavy_threshold} interactions",
                "ranker_trained_on": "validation-slice labels, two-tower fitted on train",
            },
            **result.evaluation,
        },
        "ranker": {
            **describe(result.ranker),
            "feast_user_names": list(getattr(feast, "user_names", [])),
            "feast_title_names": list(getattr(feast, "title_names", [])),
        },
        "context": result.context.meta(),
        "stages": result.stages,
        "lineage": {
            "data": {k: v for k, v in data.source.items()},
            "retrieval_version": retrieval_path.name,
            "feature_views": feature_view_versions(store) if store is not None else {},
            "as_of": str(pd.Timestamp(result.context.as_of)),
        },
    }
    path = ModelRegistry(home.models).save_version(
        retrieval_path,
        booster_bytes(result.ranker.booster),
        result.context.to_arrays(),
        title_names(home.warehouse),
        manifest,
    )
    say(f"candidate {path.name} saved")
    return {"version": path.name, "path": path, "manifest": {**manifest, "version": path.name}}


def metric_rows(models: dict[str, Any], metrics=("ndcg@10", "precision@10", "recall@10", "map@10", "coverage", "novelty")) -> str:
    """A Markdown table of models x metrics."""
    lines = ["| model | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name, m in models.items():
        cells = [f"{m[k]:.4f}" if isinstance(m.get(k), int | float) and np.isfinite(m[k]) else "" for k in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
