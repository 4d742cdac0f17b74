"""XGBoost learning-to-rank over candidates: one query group per user, `rank:ndcg`.

Early stopping on NDCG@10 of a held-out share of the groups (users, seeded), then the number
of rounds found there is what a refit on every group uses. Groups without a single relevant
candidate teach nothing to a listwise objective and are dropped before training.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class RankerConfig:
    objective: str = "rank:ndcg"
    n_estimators: int = 400
    learning_rate: float = 0.05
    max_depth: int = 6
    min_child_weight: float = 1.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    early_stopping_rounds: int = 30
    eval_at: int = 10
    valid_fraction: float = 0.2
    pair_method: str = "topk"
    pairs_per_sample: int = 16
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> RankerConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})


@dataclass
class RankerFit:
    booster: xgb.Booster
    feature_names: list[str]
    best_iteration: int
    curve: list[dict[str, float]]
    importance: dict[str, float]
    groups: int
    rows: int
    seconds: float


def _params(cfg: RankerConfig) -> dict[str, Any]:
    return {
        "objective": cfg.objective,
        "eta": cfg.learning_rate,
        "max_depth": cfg.max_depth,
        "min_child_weight": cfg.min_child_weight,
        "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree,
        "lambda": cfg.reg_lambda,
        "eval_metric": f"ndcg@{cfg.eval_at}",
        "lambdarank_pair_method": cfg.pair_method,
        "lambdarank_num_pair_per_sample": cfg.pairs_per_sample,
        "tree_method": "hist",
        "seed": cfg.seed,
        "nthread": cfg.threads,
    }


def _useful(y: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Boolean per group: at least one relevant row."""
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    return np.array([y[a:b].max(initial=0) > 0 for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def _take_groups(x, y, sizes, keep):
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.concatenate(
        [np.arange(bounds[g], bounds[g + 1]) for g in np.flatnonzero(keep)]
    ) if keep.any() else np.zeros(0, dtype=np.int64)
    return x[rows], y[rows], sizes[keep]


def _matrix(x, y, sizes, names) -> xgb.DMatrix:
    d = xgb.DMatrix(x, label=y, feature_names=list(names), missing=np.nan)
    d.set_group(sizes)
    return d


def train_ranker(
    x: np.ndarray,
    y: np.ndarray,
    sizes: np.ndarray,
    feature_names: list[str],
    config: RankerConfig | None = None,
    rounds: int | None = None,
) -> RankerFit:
    """Early-stopped fit (``rounds=None``) or a fit for exactly ``rounds`` boosting rounds."""
    cfg = config or RankerConfig()
    t0 = time.perf_counter()
    useful = _useful(y, sizes)
    x, y, sizes = _take_groups(x, y, sizes, useful)
    if not len(sizes):
        raise ValueError("no query group has a relevant candidate: nothing to learn from")
    params = _params(cfg)
    curve: list[dict[str, float]] = []
    if rounds is None:
        rng = np.random.default_rng(cfg.seed)
        valid = rng.random(len(sizes)) < cfg.valid_fraction
        if valid.sum() < 2 or (~valid).sum() < 2:
            valid = np.zeros(len(sizes), dtype=bool)
        train = _matrix(*_take_groups(x, y, sizes, ~valid), feature_names)
        evals = [(train, "train")]
        if valid.any():
            evals.append((_matrix(*_take_groups(x, y, sizes, valid), feature_names), "valid"))
        history: dict[str, Any] = {}
        booster = xgb.train(
            params,
            train,
            num_boost_round=cfg.n_estimators,
            evals=evals,
            evals_result=history,
            early_stopping_rounds=cfg.early_stopping_rounds if valid.any() else None,
            verbose_eval=False,
        )
        best = int(getattr(booster, "best_iteration", cfg.n_estimators - 1)) + 1
        metric = f"ndcg@{cfg.eval_at}"
        for i, v in enumerate(history.get("train", {}).get(metric, [])):
            row = {"round": i + 1, f"train_{metric}": float(v)}
            if "valid" in history:
                row[f"valid_{metric}"] = float(history["valid"][metric][i])
            curve.append(row)
        booster = booster[:best]
    else:
        best = max(int(rounds), 1)
        booster = xgb.train(params, _matrix(x, y, sizes, feature_names), num_boost_round=best)
    gain = booster.get_score(importance_type="total_gain")
    total = sum(gain.values()) or 1.0
    importance = {k: round(v / total, 5) for k, v in sorted(gain.items(), key=lambda kv: -kv[1])}
    return RankerFit(
        booster=booster,
        feature_names=list(feature_names),
        best_iteration=best,
        curve=curve,
        importance=importance,
        groups=len(sizes),
        rows=len(y),
        seconds=round(time.perf_counter() - t0, 3),
    )


def predict(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """Scores for candidate rows; `inplace_predict` avoids building a DMatrix per request."""
    if not len(x):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(booster.inplace_predict(x, missing=np.nan), dtype=np.float32)


def booster_bytes(booster: xgb.Booster) -> bytes:
    return bytes(booster.save_raw(raw_format="json"))


def load_booster(payload: bytes, threads: int = 1) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(payload))
    booster.set_param({"nthread": threads})
    return booster


def describe(fit: RankerFit) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "best_iteration": fit.best_iteration,
                "groups": fit.groups,
                "rows": fit.rows,
                "seconds": fit.seconds,
                "importance": fit.importance,
                "feature_names": fit.feature_names,
            }
        )
    )
