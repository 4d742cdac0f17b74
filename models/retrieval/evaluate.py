"""Side-by-side evaluation of retrieval: two-tower vs popularity vs item-item co-occurrence.

Protocol (`evaluate_retrieval`): global time split (`models.splits.time_split`, default 80% /
10% / 10% of interactions). The two-tower model early-stops on the validation slice, then is
refitted on train + validation (see `train_two_tower`); the baselines are fitted on train +
validation. Test users are the users with at least one interaction at or after the test
cutoff; their relevant items are those interactions (``relevance="all"``) or only the
positive ones (``"positive"``). Every model ranks the whole catalogue with the titles the user
engaged with before the cutoff removed. Users with no history before the cutoff are "cold".

    python -m models.retrieval.evaluate --warehouse /tmp/ml100k/warehouse.duckdb

Hyper-parameters are compared with `tune` on the validation slice only (train -> validation).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.baselines import ItemCooccurrenceBaseline, PopularityBaseline
from models.metrics import catalogue_coverage, novelty, ranking_metrics
from models.retrieval.config import RetrievalConfig
from models.retrieval.data import InteractionData, load_interactions
from models.retrieval.index import exact_top_k
from models.splits import TimeSplit, time_split

DEFAULT_KS = (10, 50, 100, 200)
# Baseline settings chosen on the validation slices of ml-100k and the demo data.
RECENT_HALF_LIFE_DAYS = 7.0
COOC_ALPHA = 0.5
COOC_HISTORY = 20


@dataclass
class Targets:
    """Users scored on a slice: ids, relevant catalogue indices, time-ordered history."""

    user_ids: np.ndarray
    relevant: list[np.ndarray]
    history: list[np.ndarray]

    @property
    def cold(self) -> np.ndarray:
        return np.array([len(h) == 0 for h in self.history], dtype=bool)


def build_targets(
    data: InteractionData,
    catalogue: np.ndarray,
    history_mask: np.ndarray,
    target_mask: np.ndarray,
    relevance: str = "all",
) -> Targets:
    inter = data.interactions
    if relevance not in ("all", "positive"):
        raise ValueError("relevance must be 'all' or 'positive'")
    mask = target_mask & (inter["is_positive"].to_numpy() if relevance == "positive" else True)
    rows = inter[mask]
    user_ids = np.array(sorted(rows["user_id"].unique()), dtype=str)
    upos = pd.Index(user_ids)
    cat = pd.Index(catalogue)

    def grouped(frame: pd.DataFrame) -> list[np.ndarray]:
        u = upos.get_indexer(frame["user_id"].to_numpy())
        i = cat.get_indexer(frame["title_id"].to_numpy())
        keep = (u >= 0) & (i >= 0)
        u, i = u[keep], i[keep]
        order = np.argsort(u, kind="stable")  # frame is time-ordered: keeps time order
        u, i = u[order], i[order]
        bounds = np.searchsorted(u, np.arange(len(user_ids) + 1))
        return [i[bounds[j] : bounds[j + 1]] for j in range(len(user_ids))]

    return Targets(user_ids, grouped(rows), grouped(inter[history_mask]))


def _scores(
    rec: np.ndarray, targets: Targets, ks, item_counts: np.ndarray, n_users: int, n_items: int
) -> dict[str, Any]:
    out = ranking_metrics(rec, targets.relevant, ks, ("recall",))
    out.update(ranking_metrics(rec, targets.relevant, (10,), ("ndcg", "precision", "map")))
    out["coverage@100"] = catalogue_coverage(rec, n_items, 100)
    out["novelty@10"] = novelty(rec, item_counts, max(n_users, 1), 10)
    cold = targets.cold
    for name, sel in (("cold", cold), ("warm", ~cold)):
        if sel.any():
            rel = [r for r, s in zip(targets.relevant, sel, strict=True) if s]
            seg = ranking_metrics(rec[sel], rel, (10, 100), ("recall",))
            seg.update(ranking_metrics(rec[sel], rel, (10,), ("ndcg",)))
            out[name] = {"users": int(sel.sum()), **seg}
    return out


def baseline_recommendations(
    data: InteractionData,
    catalogue: np.ndarray,
    history_mask: np.ndarray,
    as_of,
    targets: Targets,
    k: int,
) -> dict[str, np.ndarray]:
    """Top-k catalogue indices of each baseline for the target users."""
    rows = data.interactions[history_mask]
    item = pd.Index(catalogue).get_indexer(rows["title_id"].to_numpy())
    users = pd.Index(sorted(rows["user_id"].unique())).get_indexer(rows["user_id"].to_numpy())
    keep = item >= 0
    n_items = len(catalogue)
    ts = rows["ts"].to_numpy()[keep]
    pop = PopularityBaseline().fit(item[keep], n_items)
    recent = PopularityBaseline(RECENT_HALF_LIFE_DAYS).fit(item[keep], n_items, ts, as_of)
    cooc = ItemCooccurrenceBaseline(COOC_ALPHA, COOC_HISTORY).fit(
        users[keep], item[keep], int(users.max()) + 1, n_items
    )
    n = len(targets.user_ids)
    return {
        "popularity": pop.recommend(n, k, targets.history),
        "popularity_recent": recent.recommend(n, k, targets.history),
        "cooccurrence": cooc.recommend(targets.history, k, targets.history),
    }


def request_latency(retriever, user_ids: np.ndarray, k: int = 200, n: int = 1000, seed: int = 0):
    """p50 / p99 milliseconds of `recommend` (user embedding + top-k) for sampled users."""
    rng = np.random.default_rng(seed)
    sample = rng.choice(user_ids, size=min(n, len(user_ids)), replace=len(user_ids) < n)
    for u in sample[:20]:  # warm-up
        retriever.recommend(u, k=k)
    times = []
    for u in sample:
        t0 = time.perf_counter()
        retriever.recommend(u, k=k)
        times.append((time.perf_counter() - t0) * 1e3)
    # the core alone: embedding of one prepared request + matrix product + top-k
    inputs, seen, _ = retriever.encode_request(sample[0])
    core = []
    for _ in range(len(sample)):
        t0 = time.perf_counter()
        u = retriever.user_embeddings(inputs)[0]
        exact_top_k(retriever.scores(u), k, seen)
        core.append((time.perf_counter() - t0) * 1e3)
    return {
        "requests": len(times),
        "k": k,
        "catalogue": len(retriever.catalogue),
        "recommend_p50_ms": float(np.percentile(times, 50)),
        "recommend_p99_ms": float(np.percentile(times, 99)),
        "embed_topk_p50_ms": float(np.percentile(core, 50)),
        "embed_topk_p99_ms": float(np.percentile(core, 99)),
    }


def evaluate_split(
    data: InteractionData,
    split: TimeSplit,
    config: RetrievalConfig | None = None,
    ks=DEFAULT_KS,
    relevance: str = "all",
    fit=None,
    latency: bool = True,
) -> dict[str, Any]:
    """Train the two-tower on ``split`` (unless ``fit`` is given) and score all models on its
    test slice. Returns the result dict described in `evaluate_retrieval`."""
    from models.retrieval.model import train_two_tower

    cfg = config or RetrievalConfig()
    if split.test_start is None or not split.test.any():
        raise ValueError("the split has no test slice")
    t0 = time.perf_counter()
    if fit is None:
        fit = train_two_tower(data, split, cfg)
    train_seconds = time.perf_counter() - t0
    retriever = fit.retriever
    catalogue = retriever.catalogue
    k_max = max(ks)
    targets = build_targets(data, catalogue, split.history, split.test, relevance)
    hist_rows = data.interactions[split.history]
    counts = np.bincount(
        np.clip(pd.Index(catalogue).get_indexer(hist_rows["title_id"].to_numpy()), 0, None),
        minlength=len(catalogue),
    )
    n_hist_users = hist_rows["user_id"].nunique()
    recs = {"two_tower": retriever.recommend_users(targets.user_ids, k_max)[0]}
    t1 = time.perf_counter()
    recs.update(
        baseline_recommendations(data, catalogue, split.history, split.test_start, targets, k_max)
    )
    baseline_seconds = time.perf_counter() - t1
    models = {
        name: _scores(rec, targets, ks, counts, n_hist_users, len(catalogue))
        for name, rec in recs.items()
    }
    result: dict[str, Any] = {
        "dataset": data.source,
        "split": split.summary(),
        "relevance": relevance,
        "test_users": len(targets.user_ids),
        "cold_test_users": int(targets.cold.sum()),
        "catalogue": len(catalogue),
        "models": models,
        "two_tower": {
            "config": cfg.to_dict(),
            "best_epoch": fit.best_epoch,
            "best_val": fit.best_val,
            "stages": fit.stages,
            "learning_curve": fit.learning_curve,
            "train_seconds": round(train_seconds, 2),
        },
        "baseline_seconds": round(baseline_seconds, 2),
    }
    if latency:
        result["latency"] = request_latency(retriever, targets.user_ids)
    return result


def evaluate_retrieval(
    warehouse_path: str | Path,
    config: RetrievalConfig | None = None,
    ks=DEFAULT_KS,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    relevance: str = "all",
) -> dict[str, Any]:
    """Evaluate on a warehouse: ``{"models": {"two_tower" | "popularity" | "cooccurrence":
    {"recall@10", ..., "ndcg@10", "precision@10", "map@10", "coverage@100", "novelty@10",
    "cold": {...}, "warm": {...}}}, "split", "two_tower" (config, learning curve, training
    seconds), "latency" (p50/p99 ms per request), ...}`` -- JSON-serialisable."""
    data = load_interactions(warehouse_path)
    split = time_split(data.timestamps, val_fraction, test_fraction)
    return evaluate_split(data, split, config, ks, relevance)


def format_table(result: dict[str, Any], ks=DEFAULT_KS) -> str:
    """The models side by side as a Markdown table."""
    cols = [f"recall@{k}" for k in ks] + ["ndcg@10", "precision@10", "coverage@100"]
    lines = [
        "| model | " + " | ".join(cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for name, m in result["models"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m[c]:.4f}" for c in cols) + " |")
    return "\n".join(lines)


def validation_scores(
    data: InteractionData, split: TimeSplit, config: RetrievalConfig, ks=(10, 100)
) -> dict[str, Any]:
    """Tuning helper: fit on train with early stopping on validation, score every model on the
    validation slice (the test slice is never read)."""
    from models.retrieval.model import fit_two_tower

    fit = fit_two_tower(data, split.train, split.val_start, config, split.val)
    val_split = TimeSplit(
        train=split.train,
        val=np.zeros_like(split.val),
        test=split.val,
        val_start=None,
        test_start=split.val_start,
    )
    res = evaluate_split(data, val_split, config, ks, fit=fit, latency=False)
    res["two_tower"]["train_seconds"] = round(fit.train_seconds, 2)
    res["two_tower"]["best_epoch"] = fit.best_epoch
    return res


def tune(
    warehouse_path: str | Path, grid: list[dict[str, Any]], base: RetrievalConfig | None = None
):
    """Score each config change in ``grid`` on the validation slice; print one line each."""
    data = load_interactions(warehouse_path)
    split = time_split(data.timestamps)
    base = base or RetrievalConfig()
    rows = []
    for change in grid:
        cfg = base.replace(**change)
        res = validation_scores(data, split, cfg)
        m = res["models"]
        row = {
            **change,
            "tt_r@100": round(m["two_tower"]["recall@100"], 4),
            "tt_ndcg@10": round(m["two_tower"]["ndcg@10"], 4),
            "pop_r@100": round(m["popularity"]["recall@100"], 4),
            "popr_r@100": round(m["popularity_recent"]["recall@100"], 4),
            "cooc_r@100": round(m["cooccurrence"]["recall@100"], 4),
            "tt_cold": round(m["two_tower"].get("cold", {}).get("recall@100", float("nan")), 4),
            "tt_warm": round(m["two_tower"].get("warm", {}).get("recall@100", float("nan")), 4),
            "popr_cold": round(
                m["popularity_recent"].get("cold", {}).get("recall@100", float("nan")), 4
            ),
            "popr_warm": round(
                m["popularity_recent"].get("warm", {}).get("recall@100", float("nan")), 4
            ),
            "cooc_warm": round(
                m["cooccurrence"].get("warm", {}).get("recall@100", float("nan")), 4
            ),
            "epoch": res["two_tower"]["best_epoch"],
            "s": res["two_tower"]["train_seconds"],
            "curve": [
                (r["seconds"], round(r.get(f"val_recall@{cfg.val_k}", float("nan")), 4))
                for r in res["two_tower"]["learning_curve"]
            ],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--relevance", default="all", choices=("all", "positive"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the full result here")
    args = parser.parse_args(argv)
    result = evaluate_retrieval(
        args.warehouse, RetrievalConfig(seed=args.seed), relevance=args.relevance
    )
    print(format_table(result))
    print(
        f"test users {result['test_users']} (cold {result['cold_test_users']}), "
        f"catalogue {result['catalogue']}, two-tower training "
        f"{result['two_tower']['train_seconds']} s "
        f"(best epoch {result['two_tower']['best_epoch']}), latency {result['latency']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
