"""Top-K recommendation metrics, vectorised over users.

Inputs
- ``recommended``: an int array ``[n_users, L]`` of item indices, best first (or a list of
  lists, padded here). ``-1`` is padding: a list shorter than ``k`` simply has no item at the
  missing positions. If an item appears twice in a row only its first position counts.
- ``relevant``: one collection of item indices per user (the held-out items), same order as
  the rows of ``recommended``.

Definitions (binary relevance; ``hit_i`` = 1 when the item at rank i, 1-based, is relevant;
``R`` = number of relevant items of the user):

- precision@k = (sum_{i<=k} hit_i) / k  -- always divided by k, even when fewer than k items
  were recommended.
- recall@k = (sum_{i<=k} hit_i) / R.
- NDCG@k = DCG / IDCG with DCG = sum_{i<=k} hit_i / log2(i + 1) and IDCG the DCG of an ideal
  list: sum_{i<=min(R, k)} 1 / log2(i + 1).
- MAP@k = mean over users of AP@k = (1 / min(R, k)) * sum_{i<=k} hit_i * precision@i.

A user with no relevant item (R = 0) has no defined value for any of these: the per-user value
is NaN and the mean is over users with R > 0 (NaN when there is none).

- catalogue coverage@k = |distinct items in all top-k lists| / n_items.
- novelty@k = mean over users of the mean self-information -log2(p_j) of their top-k items,
  with p_j the fraction of users who interacted with item j (training data), floored at
  1 / n_users so never-seen items count as seen once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "as_recommendation_matrix",
    "catalogue_coverage",
    "hit_matrix",
    "map_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
]


def as_recommendation_matrix(recommended: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    """A ragged list of lists (or an array) as an int64 ``[n_users, L]`` array padded with -1."""
    if isinstance(recommended, np.ndarray):
        arr = recommended
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError("recommended must be 2-D [n_users, L]")
        return arr.astype(np.int64, copy=False)
    rows = [np.asarray(list(r), dtype=np.int64) for r in recommended]
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _relevant_pairs(
    relevant: Sequence[Iterable[int]], n_users: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(relevant) != n_users:
        raise ValueError(f"{len(relevant)} relevant sets for {n_users} recommendation rows")
    arrays = [np.unique(np.fromiter((int(x) for x in r), dtype=np.int64)) for r in relevant]
    counts = np.array([len(a) for a in arrays], dtype=np.int64)
    rows = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    items = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    return rows, items, counts


def hit_matrix(
    recommended: np.ndarray | Sequence[Sequence[int]],
    relevant: Sequence[Iterable[int]],
    k: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(hits, n_relevant)``: ``hits[u, i]`` is True when the i-th recommendation of user u is
    relevant (first occurrence only, padding never), over the first ``k`` columns padded to
    width ``k``; ``n_relevant[u]`` = R of user u."""
    rec = as_recommendation_matrix(recommended)
    n_users = rec.shape[0]
    if k is not None:
        if k <= 0:
            raise ValueError("k must be positive")
        rec = rec[:, :k]
        if rec.shape[1] < k:
            rec = np.pad(rec, ((0, 0), (0, k - rec.shape[1])), constant_values=-1)
    rows, items, counts = _relevant_pairs(relevant, n_users)
    if rec.size == 0:
        return np.zeros(rec.shape, dtype=bool), counts
    span = int(max(rec.max(initial=0), items.max(initial=0))) + 2
    rel_keys = rows * span + items
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * span + rec
    hits = np.isin(rec_keys, rel_keys) & (rec >= 0)
    # Duplicates in a row: only the first occurrence can be a hit.
    order = np.argsort(rec, axis=1, kind="stable")
    sorted_rec = np.take_along_axis(rec, order, axis=1)
    dup_sorted = np.zeros_like(sorted_rec, dtype=bool)
    dup_sorted[:, 1:] = sorted_rec[:, 1:] == sorted_rec[:, :-1]
    duplicate = np.zeros_like(dup_sorted)
    np.put_along_axis(duplicate, order, dup_sorted, axis=1)
    return hits & ~duplicate, counts


def _reduce(values: np.ndarray, reduce: bool) -> float | np.ndarray:
    if not reduce:
        return values
    valid = ~np.isnan(values)
    return float(values[valid].mean()) if valid.any() else float("nan")


def _per_user(values: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64)
    out[n_relevant == 0] = np.nan
    return out


def _precision(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _per_user(hits[:, :k].sum(axis=1) / k, n_rel)


def _recall(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    return _per_user(hits[:, :k].sum(axis=1) / np.maximum(n_rel, 1), n_rel)


def _ndcg(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = hits[:, :k] @ disc
    idcg = np.concatenate([[0.0], np.cumsum(disc)])[np.minimum(n_rel, k)]
    return _per_user(dcg / np.where(idcg > 0, idcg, 1.0), n_rel)


def _map(hits: np.ndarray, n_rel: np.ndarray, k: int) -> np.ndarray:
    h = hits[:, :k]
    precision_at_i = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    ap = (precision_at_i * h).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)
    return _per_user(ap, n_rel)


_FUNCTIONS = {"recall": _recall, "precision": _precision, "ndcg": _ndcg, "map": _map}


def precision_at_k(recommended, relevant, k: int, reduce: bool = True) -> float | np.ndarray:
    """Mean precision@k over users with a relevant item (per-user array if not ``reduce``)."""
    return _reduce(_precision(*hit_matrix(recommended, relevant, k), k), reduce)


def recall_at_k(recommended, relevant, k: int, reduce: bool = True) -> float | np.ndarray:
    """Mean recall@k over users with a relevant item (per-user array if not ``reduce``)."""
    return _reduce(_recall(*hit_matrix(recommended, relevant, k), k), reduce)


def ndcg_at_k(recommended, relevant, k: int, reduce: bool = True) -> float | np.ndarray:
    """Mean NDCG@k over users with a relevant item (per-user array if not ``reduce``)."""
    return _reduce(_ndcg(*hit_matrix(recommended, relevant, k), k), reduce)


def map_at_k(recommended, relevant, k: int, reduce: bool = True) -> float | np.ndarray:
    """MAP@k over users with a relevant item (per-user AP@k array if not ``reduce``)."""
    return _reduce(_map(*hit_matrix(recommended, relevant, k), k), reduce)


def catalogue_coverage(recommended, n_items: int, k: int | None = None) -> float:
    rec = as_recommendation_matrix(recommended)
    if k is not None:
        rec = rec[:, :k]
    if n_items <= 0:
        return float("nan")
    items = np.unique(rec[rec >= 0])
    return float(len(items) / n_items)


def novelty(recommended, item_counts: np.ndarray, n_users: int, k: int | None = None) -> float:
    rec = as_recommendation_matrix(recommended)
    if k is not None:
        rec = rec[:, :k]
    if n_users <= 0:
        raise ValueError("n_users must be positive")
    counts = np.asarray(item_counts, dtype=np.float64)
    p = np.maximum(counts, 1.0) / n_users
    info = -np.log2(np.minimum(p, 1.0))
    valid = rec >= 0
    per_item = np.where(valid, info[np.where(valid, rec, 0)], 0.0)
    n_valid = valid.sum(axis=1)
    has = n_valid > 0
    if not has.any():
        return float("nan")
    return float((per_item.sum(axis=1)[has] / n_valid[has]).mean())


def ranking_metrics(
    recommended,
    relevant: Sequence[Iterable[int]],
    ks: Iterable[int] = (10,),
    metrics: Iterable[str] = ("recall", "precision", "ndcg", "map"),
) -> dict[str, float]:
    """All requested metrics at all ks, from one hit matrix: ``{"recall@10": ..., ...}``."""
    ks = sorted({int(k) for k in ks})
    metrics = list(metrics)
    for name in metrics:
        if name not in _FUNCTIONS:
            raise ValueError(f"unknown metric {name!r}")
    hits, n_rel = hit_matrix(recommended, relevant, max(ks))
    return {
        f"{name}@{k}": _reduce(_FUNCTIONS[name](hits, n_rel, k), True)
        for name in metrics
        for k in ks
    }
