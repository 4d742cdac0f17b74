"""Train, evaluate and save a two-tower retrieval version (what a Dagster asset calls).

    from models.retrieval.train import train_retrieval
    out = train_retrieval(home.warehouse, home.models / "retrieval")
    out["path"], out["manifest"]["metrics"], out["manifest"]["learning_curve"]

1. ``evaluate=True``: time split 80/10/10, early stopping on validation, refit on train +
   validation, scored against the baselines on the test slice (`evaluate_split`).
2. The served model learns from all the data: refit on every interaction for the number of
   epochs chosen by early stopping in step 1 (``evaluate=False``: early stopping on the last
   ``val_fraction`` of the data, then refit on all of it). Point-in-time user attributes
   (``data.user_snapshots``, from a Feast training set) are taken as known before the test
   slice for step 1 and as their latest values for the served model.
3. Saved as a new version folder (`save_artifacts`) with config, seed, data fingerprint,
   hold-out metrics, learning curve and timings in its manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.retrieval.artifacts import save_artifacts
from models.retrieval.config import RetrievalConfig
from models.retrieval.data import InteractionData, load_interactions
from models.retrieval.evaluate import evaluate_split
from models.splits import time_split

BACKTEST = "backtest"


def train_retrieval(
    warehouse_path: str | Path | None,
    models_root: str | Path,
    config: RetrievalConfig | None = None,
    evaluate: bool = True,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    data: InteractionData | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Returns ``{"path": Path, "version": str, "manifest": dict, "evaluation": dict|None}``.

    ``data`` replaces reading ``warehouse_path`` (e.g. a Feast training set turned into an
    `InteractionData`).
    """
    from models.retrieval.model import end_of_data, fit_two_tower, train_two_tower

    cfg = config or RetrievalConfig()
    started = time.perf_counter()
    if data is None:
        if warehouse_path is None:
            raise ValueError("need warehouse_path or data")
        data = load_interactions(warehouse_path)
    evaluation = None
    if evaluate:
        holdout = time_split(data.timestamps, val_fraction, test_fraction)
        # Point-in-time user attributes (a Feast training set) as known before the test slice.
        known = data.as_of(holdout.test_start)
        fit = train_two_tower(known, holdout, cfg, on_epoch=on_epoch)
        evaluation = evaluate_split(known, holdout, cfg, fit=fit)
        t0 = time.perf_counter()
        final = fit_two_tower(
            data,
            np.ones(len(data.interactions), dtype=bool),
            end_of_data(data),
            cfg,
            epochs=max(fit.best_epoch, 1),
        )
        final.stages = [
            *fit.stages,
            {
                "stage": "final",
                "epochs": final.epochs_run,
                "seconds": round(time.perf_counter() - t0, 3),
            },
        ]
        final.learning_curve = fit.learning_curve + [
            {**r, "stage": "final"} for r in final.learning_curve
        ]
        final.best_epoch, final.best_val = fit.best_epoch, fit.best_val
        split_info = {"holdout": holdout.summary(), "final": "all interactions"}
    else:
        split = time_split(data.timestamps, val_fraction, 0.0)
        final = train_two_tower(data, split, cfg, on_epoch=on_epoch)
        split_info = {"early_stopping": split.summary(), "final": "all interactions"}
    manifest = {
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "data": {**data.source, "split": split_info, "as_of": final.as_of},
        "metrics": None if evaluation is None else evaluation["models"],
        "evaluation": None
        if evaluation is None
        else {k: v for k, v in evaluation.items() if k not in ("models", "two_tower", "dataset")},
        "learning_curve": final.learning_curve,
        "best_epoch": final.best_epoch,
        "best_val": final.best_val,
        "stages": final.stages,
        "n_examples": final.n_examples,
        "training_seconds": round(time.perf_counter() - started, 2),
    }
    path = save_artifacts(final.retriever, models_root, manifest)
    backtest = {}
    if evaluate and fit.early_stopping_retriever is not None:
        # The hold-out fits, for a second stage: "val" = fitted on train (as of the validation
        # cutoff), "test" = refitted on train + validation (as of the test cutoff).
        small = {"config": cfg.to_dict(), "seed": cfg.seed, "data": manifest["data"]}
        for name, retriever in (("val", fit.early_stopping_retriever), ("test", fit.retriever)):
            save_artifacts(retriever, path / BACKTEST, {**small, "backtest": name}, version=name)
            backtest[name] = retriever
    return {
        "path": path,
        "version": path.name,
        "manifest": manifest,
        "evaluation": evaluation,
        "backtest": backtest,
        "retriever": final.retriever,
    }
