"""Two-stage training and evaluation: two-tower candidates, XGBoost ranking, time hold-out.

With the retrieval model's global time split (train < t1 <= validation < t2 <= test):

1. **Ranker training**: candidates from the two-tower fitted on train (as of t1, history
   before t1); labels are the titles each user engaged with in the validation slice; features
   as of t1 (Feast point in time). Early stopping on NDCG@10 of held-out users.
2. **Evaluation**: candidates from the two-tower refitted on train + validation (as of t2);
   the step-1 ranker orders them; every model is scored on the test slice (titles each user
   engaged with after t2, seen titles removed) beside popularity, recent popularity,
   co-occurrence and the two-tower alone, overall and by segment (cold / light / heavy).
3. **Served ranker**: refit on the groups of steps 1 and 2 together (labels up to the end of
   the data) for the number of rounds found in step 1; served with the two-tower fitted on
   everything and a context as of the end of the data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models.metrics import catalogue_coverage, novelty, ranking_metrics
from models.ranking.context import ContextConfig, RankingContext, build_context
from models.ranking.features import (
    BASE_FEATURES,
    CandidateConfig,
    candidate_features,
    generate_candidates,
    stored_state,
)
from models.ranking.ranker import RankerConfig, RankerFit, train_ranker
from models.retrieval.data import InteractionData
from models.retrieval.evaluate import Targets, baseline_recommendations, build_targets
from models.retrieval.index import exact_top_k
from models.retrieval.retriever import TwoTowerRetriever
from models.splits import TimeSplit

K = 10
SEGMENTS = ("cold", "light", "heavy")


class FeatureSource(Protocol):
    """Numeric Feast features as of a time (offline: point in time)."""

    user_names: list[str]
    title_names: list[str]

    def users(self, user_ids: Sequence[str], as_of: Any) -> np.ndarray: ...

    def titles(self, title_ids: Sequence[str], as_of: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class TwoStageConfig:
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    heavy_threshold: int = 50  # interactions before the cutoff that make a user "heavy"
    k: int = K

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> TwoStageConfig:
        v = dict(values or {})
        return cls(
            candidates=CandidateConfig(**v.get("candidates", {})),
            ranker=RankerConfig.from_dict(v.get("ranker")),
            context=ContextConfig(**v.get("context", {})),
            heavy_threshold=int(v.get("heavy_threshold", 50)),
            k=int(v.get("k", K)),
        )


@dataclass
class Examples:
    """Candidates and features of a set of users (rows grouped by user, in order)."""

    user_ids: np.ndarray
    candidates: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    sizes: np.ndarray

    def top_k(self, scores: np.ndarray, k: int) -> np.ndarray:
        """``[n_users, k]`` catalogue indices ordered by ``scores`` (one per row), -1 padded."""
        out = np.full((len(self.user_ids), k), -1, dtype=np.int64)
        start = 0
        for r, items in enumerate(self.candidates):
            s = scores[start : start + len(items)]
            order = np.lexsort((items, -s))[:k]
            out[r, : len(order)] = items[order]
            start += len(items)
        return out


def feature_names(feast: FeatureSource | None) -> list[str]:
    extra = [] if feast is None else [*feast.user_names, *feast.title_names]
    return [*BASE_FEATURES, *extra]


def build_examples(
    retriever: TwoTowerRetriever,
    ctx: RankingContext,
    user_ids: Sequence[str],
    relevant: Sequence[np.ndarray] | None = None,
    feast: FeatureSource | None = None,
    config: CandidateConfig | None = None,
    chunk: int = 512,
) -> Examples:
    """Candidates and features for ``user_ids`` from their stored state in ``ctx`` (which
    must share the retriever's catalogue and cutoff); ``relevant`` gives 0/1 labels."""
    ids = np.asarray([str(u) for u in user_ids], dtype=str)
    title_feast = None if feast is None else feast.titles(ctx.catalogue.tolist(), ctx.as_of)
    user_feast = None if feast is None else feast.users(ids.tolist(), ctx.as_of)
    xs, ys, cands = [], [], []
    for start in range(0, len(ids), chunk):
        sel = ids[start : start + chunk]
        scores, _ = retriever.dense_scores(sel)
        states = [stored_state(ctx, u) for u in sel]
        histories = [s.items for s in states]
        cooc = ctx.cooc_scores(histories)
        ease = ctx.ease_scores(histories)
        cand = generate_candidates(ctx, scores, cooc, histories, config, ease)
        uf = None if user_feast is None else user_feast[start : start + chunk]
        xs.append(candidate_features(ctx, states, cand, scores, cooc, uf, title_feast, ease))
        for j, (items, _) in enumerate(cand):
            cands.append(items)
            rel = relevant[start + j] if relevant is not None else np.zeros(0, dtype=np.int64)
            ys.append(np.isin(items, rel).astype(np.float32))
    n_features = len(feature_names(feast))
    return Examples(
        user_ids=ids,
        candidates=cands,
        x=np.concatenate(xs) if xs else np.zeros((0, n_features), dtype=np.float32),
        y=np.concatenate(ys) if ys else np.zeros(0, dtype=np.float32),
        sizes=np.array([len(c) for c in cands], dtype=np.int64),
    )


def segment_of(history_lengths: np.ndarray, heavy_threshold: int) -> np.ndarray:
    """cold (no history before the cutoff), light, heavy (>= ``heavy_threshold``)."""
    h = np.asarray(history_lengths)
    return np.where(h == 0, "cold", np.where(h >= heavy_threshold, "heavy", "light"))


def score_lists(
    rec: np.ndarray,
    targets: Targets,
    segments: np.ndarray,
    item_counts: np.ndarray,
    n_users: int,
    n_items: int,
    k: int = K,
) -> dict[str, Any]:
    """NDCG / precision / recall / MAP at k, catalogue coverage, novelty, and by segment."""
    out = ranking_metrics(rec, targets.relevant, (k,), ("ndcg", "precision", "recall", "map"))
    out["coverage"] = catalogue_coverage(rec, n_items, k)
    out["novelty"] = novelty(rec, item_counts, max(n_users, 1), k)
    out["segments"] = {}
    for name in SEGMENTS:
        sel = segments == name
        if sel.any():
            rel = [r for r, s in zip(targets.relevant, sel, strict=True) if s]
            seg = ranking_metrics(rec[sel], rel, (k,), ("ndcg", "precision", "recall", "map"))
            out["segments"][name] = {"users": int(sel.sum()), **seg}
    return out


def evaluate_on_slice(
    data: InteractionData,
    retriever: TwoTowerRetriever,
    ctx: RankingContext,
    ranker: RankerFit,
    history_mask: np.ndarray,
    target_mask: np.ndarray,
    feast: FeatureSource | None = None,
    config: TwoStageConfig | None = None,
) -> tuple[dict[str, Any], Examples, Targets]:
    """Every model's top-k on the target slice (see the module docstring, step 2)."""
    cfg = config or TwoStageConfig()
    k = cfg.k
    catalogue = ctx.catalogue
    targets = build_targets(data, catalogue, history_mask, target_mask)
    ex = build_examples(retriever, ctx, targets.user_ids, targets.relevant, feast, cfg.candidates)
    recs = {
        "ranker": ex.top_k(ranker.predict(ex.x), k),
        "retrieval": retriever.recommend_users(targets.user_ids, k)[0],
    }
    recs.update(
        baseline_recommendations(data, catalogue, history_mask, ctx.as_of, targets, k)
    )
    if ctx.ease.shape == (len(catalogue), len(catalogue)):
        # EASE alone (users without history get the popularity list: EASE has nothing to go on)
        ease = exact_top_k(ctx.ease_scores(targets.history), k, targets.history)[0]
        cold = np.array([len(h) == 0 for h in targets.history], dtype=bool)
        ease[cold] = recs["popularity"][cold]
        recs["ease"] = ease
    hist_len = np.array([len(h) for h in targets.history])
    segments = segment_of(hist_len, cfg.heavy_threshold)
    counts = np.round(np.expm1(ctx.title_stats["pop_log"])).astype(np.int64)
    n_users = len(ctx.user_ids)
    order = [
        n for n in ("popularity", "popularity_recent", "cooccurrence", "ease", "retrieval", "ranker")
        if n in recs
    ]
    models = {
        name: score_lists(recs[name], targets, segments, counts, n_users, len(catalogue), k)
        for name in order
    }
    candidate_recall = float(
        np.mean(
            [
                np.isin(rel, items).mean() if len(rel) else 0.0
                for rel, items in zip(targets.relevant, ex.candidates, strict=True)
            ]
        )
    ) if len(targets.user_ids) else 0.0
    info = {
        "users": int(len(targets.user_ids)),
        "segments": {s: int((segments == s).sum()) for s in SEGMENTS},
        "candidates_per_user": float(ex.sizes.mean()) if len(ex.sizes) else 0.0,
        "candidate_recall": round(candidate_recall, 4),
    }
    return {"models": models, "slice": info}, ex, targets


@dataclass
class TwoStageResult:
    ranker: RankerFit
    evaluation: dict[str, Any]
    context: RankingContext
    feature_names: list[str]
    stages: list[dict[str, Any]]
    config: TwoStageConfig


def _cutoff(t: Any) -> np.datetime64:
    return np.datetime64(pd.Timestamp(t).to_datetime64(), "ns")


def train_two_stage(
    data: InteractionData,
    split: TimeSplit,
    val_retriever: TwoTowerRetriever,
    test_retriever: TwoTowerRetriever,
    final_retriever: TwoTowerRetriever,
    feast: FeatureSource | None = None,
    config: TwoStageConfig | None = None,
    log=None,
) -> TwoStageResult:
    """Steps 1-3 of the module docstring. ``val_retriever`` was fitted on the train slice,
    ``test_retriever`` on train + validation, ``final_retriever`` on everything."""
    cfg = config or TwoStageConfig()
    say = log or (lambda _msg: None)
    if split.val_start is None or split.test_start is None:
        raise ValueError("the two-stage model needs a split with validation and test slices")
    names = feature_names(feast)
    stages: list[dict[str, Any]] = []

    t0 = time.perf_counter()
    ctx1 = build_context(data, val_retriever.catalogue, _cutoff(split.val_start), cfg.context)
    targets1 = build_targets(data, ctx1.catalogue, split.train, split.val)
    ex1 = build_examples(val_retriever, ctx1, targets1.user_ids, targets1.relevant, feast, cfg.candidates)
    fit1 = train_ranker(ex1.x, ex1.y, ex1.sizes, names, cfg.ranker)
    stages.append(
        {
            "stage": "ranker_early_stopping",
            "as_of": str(pd.Timestamp(ctx1.as_of)),
            "users": int(len(ex1.user_ids)),
            "rows": int(len(ex1.y)),
            "positives": int(ex1.y.sum()),
            "best_iteration": fit1.best_iteration,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    say(f"ranker early stopping: {stages[-1]}")

    t0 = time.perf_counter()
    ctx2 = build_context(data, test_retriever.catalogue, _cutoff(split.test_start), cfg.context)
    evaluation, ex2, _ = evaluate_on_slice(
        data, test_retriever, ctx2, fit1, split.history, split.test, feast, cfg
    )
    evaluation["ranker_training"] = {
        "best_iteration": fit1.best_iteration,
        "curve": fit1.curve,
        "importance": fit1.importance,
        "prior": fit1.prior,
        "prior_scores": fit1.prior_scores,
    }
    stages.append(
        {"stage": "evaluation", "as_of": str(pd.Timestamp(ctx2.as_of)), **evaluation["slice"],
         "seconds": round(time.perf_counter() - t0, 2)}
    )
    say(f"evaluation: {stages[-1]}")

    t0 = time.perf_counter()
    final = train_ranker(
        np.concatenate([ex1.x, ex2.x]),
        np.concatenate([ex1.y, ex2.y]),
        np.concatenate([ex1.sizes, ex2.sizes]),
        names,
        cfg.ranker,
        rounds=fit1.best_iteration,
        prior=fit1.prior,
    )
    final.curve = fit1.curve
    end = data.timestamps.max() + np.timedelta64(1, "s") if len(data.interactions) else _cutoff(split.test_start)
    ctx_final = build_context(data, final_retriever.catalogue, end, cfg.context)
    stages.append(
        {"stage": "final_ranker", "rounds": final.best_iteration, "rows": final.rows,
         "groups": final.groups, "seconds": round(time.perf_counter() - t0, 2)}
    )
    say(f"final ranker: {stages[-1]}")
    return TwoStageResult(
        ranker=final,
        evaluation=evaluation,
        context=ctx_final,
        feature_names=names,
        stages=stages,
        config=cfg,
    )
