"""XGBoost learning-to-rank over candidates: one query group per user, `rank:ndcg`.

Early stopping on NDCG@10 of a held-out share of the groups (users, seeded), then the number
of rounds found there is what a refit on every group uses. Groups without a single relevant
candidate teach nothing to a listwise objective and are dropped before training.

Boosting starts from a prior rather than from zero: ``prior_weight`` times the first-stage
score (one feature column, relative to the user's best candidate) that orders the held-out
groups best, passed as XGBoost's ``base_margin`` in training and prediction alike. The trees
then learn corrections to the best single signal instead of re-deriving it from few labels,
which is what keeps a small ranker from falling below its own strongest input.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class RankerConfig:
    objective: str = "rank:ndcg"
    n_estimators: int = 400
    learning_rate: float = 0.05
    # Shallow, heavily regularised trees: hundreds of thousands of candidate rows but only a
    # few thousand groups, and deeper trees overfit them within tens of rounds (demo data:
    # hold-out NDCG@10 0.0934 at depth 6 / min_child_weight 1 / lambda 1, 0.1045 here).
    max_depth: int = 4
    min_child_weight: float = 50.0
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 10.0
    early_stopping_rounds: int = 30
    eval_at: int = 10
    valid_fraction: float = 0.2
    pair_method: str = "topk"
    pairs_per_sample: int = 16
    seed: int = 0
    threads: int = 2
    # the columns a prior may come from, and its weight (0: no prior)
    prior_candidates: tuple[str, ...] = ("ease_score", "rt_score", "cooc_score")
    prior_weight: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> RankerConfig:
        known = {f.name for f in fields(cls)}
        out = {k: v for k, v in (values or {}).items() if k in known}
        if "prior_candidates" in out:
            out["prior_candidates"] = tuple(out["prior_candidates"])
        return cls(**out)


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
    prior: str | None = None
    prior_weight: float = 0.0
    prior_scores: dict[str, float] = field(default_factory=dict)  # held-out NDCG per column

    def margin(self, x: np.ndarray) -> np.ndarray | None:
        return prior_margin(x, self.feature_names, self.prior, self.prior_weight)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return predict(self.booster, x, self.margin(x))


def prior_margin(
    x: np.ndarray, feature_names: list[str], prior: str | None, weight: float
) -> np.ndarray | None:
    """``weight * x[:, prior]`` (missing values 0), or None without a prior."""
    if not prior or not weight or prior not in feature_names:
        return None
    return weight * np.nan_to_num(np.asarray(x[:, feature_names.index(prior)], dtype=np.float32))


def _group_ndcg(scores: np.ndarray, y: np.ndarray, sizes: np.ndarray, k: int) -> float:
    """Mean NDCG@k over groups of ordering each group's rows by ``scores``."""
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        rel = y[a:b]
        if not rel.any():
            continue
        s = np.nan_to_num(scores[a:b], nan=-np.inf)
        top = rel[np.argsort(-s, kind="stable")[:k]]
        ideal = np.sort(rel)[::-1][:k]
        out.append(float((top * discounts[: len(top)]).sum() / (ideal * discounts[: len(ideal)]).sum()))
    return float(np.mean(out)) if out else 0.0


def choose_prior(
    x: np.ndarray, y: np.ndarray, sizes: np.ndarray, feature_names: list[str], cfg: RankerConfig
) -> tuple[str | None, dict[str, float]]:
    """The candidate column with the best NDCG on these groups (None when none is present)."""
    scores = {
        name: round(_group_ndcg(x[:, feature_names.index(name)], y, sizes, cfg.eval_at), 5)
        for name in cfg.prior_candidates
        if name in feature_names
    }
    if not scores or cfg.prior_weight == 0:
        return None, scores
    return max(scores, key=lambda n: (scores[n], -cfg.prior_candidates.index(n))), scores


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


def _matrix(x, y, sizes, names, prior=None, weight=0.0) -> xgb.DMatrix:
    d = xgb.DMatrix(x, label=y, feature_names=list(names), missing=np.nan)
    d.set_group(sizes)
    margin = prior_margin(x, list(names), prior, weight)
    if margin is not None:
        d.set_base_margin(margin)
    return d


def train_ranker(
    x: np.ndarray,
    y: np.ndarray,
    sizes: np.ndarray,
    feature_names: list[str],
    config: RankerConfig | None = None,
    rounds: int | None = None,
    prior: str | None = None,
) -> RankerFit:
    """Early-stopped fit (``rounds=None``; the prior is chosen on the held-out groups) or a
    fit for exactly ``rounds`` boosting rounds with the given ``prior``."""
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
        held_out = _take_groups(x, y, sizes, valid) if valid.any() else (x, y, sizes)
        prior, prior_scores = choose_prior(*held_out, feature_names, cfg)
        weight = cfg.prior_weight if prior else 0.0
        train = _matrix(*_take_groups(x, y, sizes, ~valid), feature_names, prior, weight)
        evals = [(train, "train")]
        if valid.any():
            evals.append((_matrix(*held_out, feature_names, prior, weight), "valid"))
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
        weight = cfg.prior_weight if prior else 0.0
        prior_scores = {}
        booster = xgb.train(
            params, _matrix(x, y, sizes, feature_names, prior, weight), num_boost_round=best
        )
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
        prior=prior,
        prior_weight=weight,
        prior_scores=prior_scores,
    )


def predict(booster: xgb.Booster, x: np.ndarray, margin: np.ndarray | None = None) -> np.ndarray:
    """Scores for candidate rows (``margin``: the prior, see the module docstring);
    `inplace_predict` avoids building a DMatrix per request."""
    if not len(x):
        return np.zeros(0, dtype=np.float32)
    return np.asarray(
        booster.inplace_predict(x, missing=np.nan, base_margin=margin), dtype=np.float32
    )


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
                "prior": fit.prior,
                "prior_weight": fit.prior_weight,
                "prior_scores": fit.prior_scores,
            }
        )
    )
