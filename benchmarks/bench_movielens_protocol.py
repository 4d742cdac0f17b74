"""The Microsoft Recommenders MovieLens-100k protocol, reproduced for the two-stage model.

    python -m benchmarks.bench_movielens_protocol [--ml100k PATH] [--home HOME]

Protocol (recommenders' benchmark notebook): ``python_stratified_split(ratio=0.75, seed=42)``
-- for each user, a seeded random 75 % of their ratings train and 25 % test
(``np.random.seed(42)``, one ``rand()`` per rating of ``u.data`` in file order, ranked within
the user) -- titles rated in train removed from the recommendations, every test rating
relevant (binary), k = 10, metrics averaged over test users.

Our pipeline does the data work: the ratings go through the landing zone, ingestion and dbt
(``marquee import-movielens`` + the ingestion and transform groups), and the models read
``marts.fct_interactions`` with the side tables. The two-stage model needs a labelled slice
for its ranker, which it carves out of the 75 % train the same way (each user's ratings,
80/20, seed 43), never touching the test ratings:

- two-tower fitted (with early stopping) on the inner 80 % → ranker trained on its
  candidates with the inner 20 % as labels;
- two-tower refitted on the whole 75 % → the same ranker orders its candidates → scored on
  the 25 %.

The model code keys its history and features on time cutoffs, so the three slices are laid
one after the other on the clock, one second apart in their original order: the masks are
exactly the split above, and a random split carries no recency for a model to learn. Feast features are left out: the model alone is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marquee.config import REPO_ROOT, MarqueeHome

ML100K = REPO_ROOT.parent / "shared" / "data" / "movielens" / "ml-100k"

# recommenders' published ML-100k benchmark (k = 10), for the table.
# The ranker's labels: this share of each user's train ratings is history, the rest labels.
INNER_RATIO = 0.75

PUBLISHED = {
    "BiVAE": {"ndcg@10": 0.475, "precision@10": 0.412, "recall@10": 0.219},
    "BPR": {"ndcg@10": 0.442, "precision@10": 0.388, "recall@10": 0.213},
    "LightGCN": {"ndcg@10": 0.420},
    "SAR": {"ndcg@10": 0.382},
}


def stratified_mask(users: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """True for the train share of each user's rows (recommenders' python_stratified_split:
    one uniform draw per row in the given order, ranked within the user, rank/count <= ratio)."""
    rng = np.random.RandomState(seed)
    draw = rng.rand(len(users))
    frame = pd.DataFrame({"user": users, "draw": draw, "row": np.arange(len(users))})
    frame = frame.sort_values(["user", "draw"])
    grouped = frame.groupby("user")
    rank = (grouped.cumcount() + 1) / grouped["user"].transform("count")
    mask = np.zeros(len(users), dtype=bool)
    mask[frame["row"].to_numpy()[(rank <= ratio).to_numpy()]] = True
    return mask


def protocol_split(ml100k: Path, interactions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Masks over ``interactions`` (user_id, title_id): inner_train / inner_val / test."""
    raw = pd.read_csv(ml100k / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    train = stratified_mask(raw["user"].to_numpy(), 0.75, 42)
    inner = np.zeros(len(raw), dtype=bool)
    rows = np.flatnonzero(train)
    inner[rows[stratified_mask(raw["user"].to_numpy()[rows], INNER_RATIO, 43)]] = True
    label = np.where(~train, "test", np.where(inner, "inner_train", "inner_val"))
    keys = pd.Series(label, index=pd.MultiIndex.from_arrays([raw["user"].astype(str), raw["item"].astype(str)]))
    got = keys.reindex(pd.MultiIndex.from_arrays([interactions["user_id"], interactions["title_id"]]))
    if got.isna().any():
        raise SystemExit(f"{int(got.isna().sum())} interactions are not ratings of u.data")
    got = got.to_numpy()
    return {name: got == name for name in ("inner_train", "inner_val", "test")}


def lay_out_on_the_clock(data, masks: dict[str, np.ndarray]):
    """The same data with the slices laid one after the other on the clock, in the order
    inner_train < inner_val < test, one second apart in their original order (the protocol
    is a random split: it has no time, so no model may learn recency from it); returns
    (data, TimeSplit)."""
    from dataclasses import replace

    from models.splits import TimeSplit

    inter = data.interactions.copy()  # sorted by time
    start = np.datetime64("2000-01-01", "ns")
    block = np.timedelta64(len(inter) + 1, "s")
    shifted = np.empty(len(inter), dtype="datetime64[ns]")
    for k, name in enumerate(("inner_train", "inner_val", "test")):
        rows = np.flatnonzero(masks[name])
        shifted[rows] = start + k * block + np.arange(len(rows)) * np.timedelta64(1, "s")
    inter["ts"] = shifted
    order = np.argsort(shifted, kind="stable")
    inter = inter.iloc[order].reset_index(drop=True)
    new = {k: v[order] for k, v in masks.items()}
    split = TimeSplit(
        train=new["inner_train"], val=new["inner_val"], test=new["test"],
        val_start=start + block, test_start=start + 2 * block,
    )
    return replace(data, interactions=inter), split


def run(ml100k: Path, home: Path) -> dict:
    from marquee.importers.movielens import import_movielens
    from marquee.pipeline import run_assets
    from models.ranking.two_stage import train_two_stage
    from models.retrieval.config import RetrievalConfig
    from models.retrieval.data import load_interactions
    from models.retrieval.model import train_two_tower

    marquee_home = MarqueeHome(home).ensure()
    timings = {}
    t0 = time.perf_counter()
    import_movielens(ml100k, marquee_home)
    result = run_assets(marquee_home, select="group:ingestion or group:transform", quiet=True)
    if not result.success:
        raise SystemExit(f"pipeline failed: {result.failed_steps} {result.checks_failed}")
    timings["import + ingest + dbt"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    data = load_interactions(marquee_home.warehouse)
    masks = protocol_split(ml100k, data.interactions)
    data, split = lay_out_on_the_clock(data, masks)
    fit = train_two_tower(data, split, RetrievalConfig())
    timings["two-tower (early stopping + refit)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    two_stage = train_two_stage(data, split, fit.early_stopping_retriever, fit.retriever, fit.retriever)
    timings["ranker + evaluation"] = time.perf_counter() - t0
    ev = two_stage.evaluation
    return {
        "split": {k: int(v.sum()) for k, v in masks.items()},
        "users": ev["slice"]["users"],
        "candidate_recall": ev["slice"]["candidate_recall"],
        "models": {
            name: {m: float(ev["models"][name][m]) for m in ("ndcg@10", "precision@10", "recall@10", "map@10")}
            for name in ev["models"]
        },
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }


def report(out: dict) -> str:
    lines = [
        f"MovieLens-100k, recommenders protocol (75/25 per-user stratified, seed 42); "
        f"{out['users']} test users; {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "| model | NDCG@10 | P@10 | R@10 | source |",
        "|---|---:|---:|---:|---|",
    ]
    for name, m in out["models"].items():
        lines.append(f"| {name} | {m['ndcg@10']:.3f} | {m['precision@10']:.3f} | {m['recall@10']:.3f} | Marquee |")
    for name, m in PUBLISHED.items():
        cells = [f"{m[k]:.3f}" if k in m else "" for k in ("ndcg@10", "precision@10", "recall@10")]
        lines.append(f"| {name} | " + " | ".join(cells) + " | recommenders (published) |")
    lines.append("")
    lines.append("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in out["seconds"].items()))
    lines.append(f"split sizes: {out['split']}; candidate recall of the test ratings: {out['candidate_recall']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml100k", type=Path, default=ML100K)
    parser.add_argument("--home", type=Path, help="state folder to use (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    if not (args.ml100k / "u.data").exists():
        raise SystemExit(f"no MovieLens 100K at {args.ml100k}")
    home = args.home or Path(tempfile.mkdtemp(prefix="marquee-bench-ml100k-"))
    try:
        out = run(args.ml100k, home)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    print(report(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
