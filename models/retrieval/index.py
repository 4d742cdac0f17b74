"""Exact top-K over a catalogue by matrix product (numpy only).

At catalogue sizes of a few thousand to a few hundred thousand titles an exact scan is a few
microseconds to a millisecond per user, so no approximate index is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def exclude_mask_pairs(
    exclude: Sequence[np.ndarray | Sequence[int]] | None, n_rows: int, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) pairs to exclude; out-of-range and negative columns are ignored."""
    if exclude is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if len(exclude) != n_rows:
        raise ValueError(f"{len(exclude)} exclusion lists for {n_rows} rows")
    cols = [np.asarray(e, dtype=np.int64).ravel() for e in exclude]
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), [len(c) for c in cols])
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    keep = (col >= 0) & (col < n_items)
    return rows[keep], col[keep]


def exact_top_k(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray | Sequence[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` columns of ``scores`` per row, best first.

    scores: ``[n_items]`` or ``[n_rows, n_items]``; exclude: per row, item indices never to
    return (e.g. already watched). Returns ``(indices, values)`` of shape ``[n_rows, k]`` (or
    ``[k]`` for 1-D input); where fewer than k items are eligible the tail is ``-1`` / ``-inf``.
    Equal scores are listed by ascending item index.
    """
    one_d = scores.ndim == 1
    s = np.array(scores[None, :] if one_d else scores, dtype=np.float32, copy=True)
    n_rows, n_items = s.shape
    if exclude is not None:
        rows, cols = exclude_mask_pairs([exclude] if one_d else exclude, n_rows, n_items)
        s[rows, cols] = -np.inf
    s[np.isnan(s)] = -np.inf
    k_eff = min(int(k), n_items)
    if k_eff <= 0:
        idx = np.zeros((n_rows, 0), dtype=np.int64)
    elif k_eff < n_items:
        idx = np.argpartition(-s, k_eff - 1, axis=1)[:, :k_eff]
    else:
        idx = np.broadcast_to(np.arange(n_items), (n_rows, n_items)).copy()
    vals = np.take_along_axis(s, idx, axis=1)
    order = np.lexsort((idx, -vals), axis=1) if idx.size else idx
    idx = np.take_along_axis(idx, order, axis=1).astype(np.int64)
    vals = np.take_along_axis(vals, order, axis=1)
    idx[~np.isfinite(vals)] = -1
    if k_eff < k:
        pad = int(k) - k_eff
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        vals = np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf)
    return (idx[0], vals[0]) if one_d else (idx, vals)
