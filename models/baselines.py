"""Baselines the retrieval model must beat, in the same item-index space.

- `PopularityBaseline`: rank titles by how many users engaged with them before the cutoff
  (optionally with an exponential time decay), already-seen titles removed.
- `ItemCooccurrenceBaseline`: "people who watched X also watched Y". With X the binary
  user x item matrix of the history, C = X^T X with a zero diagonal, normalised to cosine
  similarity C_ij / (sqrt(n_i) * sqrt(n_j)) ** alpha. A user's score for item j is the sum of
  C[h, j] over their (most recent ``history_length``) history items h; users without history,
  and ties, fall back to popularity.

Items are indices ``0..n_items-1`` (the catalogue order); users are ``0..n_users-1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from models.retrieval.index import exact_top_k

_DAY_NS = 86_400 * 10**9


class PopularityBaseline:
    """Most-engaged titles first (recency-weighted when ``half_life_days`` is set)."""

    def __init__(self, half_life_days: float | None = None):
        self.half_life_days = half_life_days
        self.scores: np.ndarray | None = None

    def fit(
        self,
        item_idx: np.ndarray,
        n_items: int,
        ts: np.ndarray | None = None,
        as_of: np.datetime64 | None = None,
    ) -> PopularityBaseline:
        item_idx = np.asarray(item_idx, dtype=np.int64)
        weights = np.ones(len(item_idx))
        if self.half_life_days is not None:
            if ts is None:
                raise ValueError("a time-decayed popularity needs timestamps")
            t = np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)
            ref = t.max() if as_of is None else np.datetime64(as_of, "ns").astype(np.int64)
            age_days = (ref - t) / _DAY_NS
            weights = 0.5 ** (np.maximum(age_days, 0.0) / self.half_life_days)
        self.scores = np.bincount(item_idx, weights=weights, minlength=n_items).astype(np.float64)
        return self

    def recommend(
        self, n_users: int, k: int, exclude: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        if self.scores is None:
            raise RuntimeError("fit first")
        scores = np.broadcast_to(self.scores.astype(np.float32), (n_users, len(self.scores)))
        return exact_top_k(scores, k, exclude)[0]


class ItemCooccurrenceBaseline:
    """Item-item co-occurrence (cosine) over the users' histories, popularity for the rest."""

    def __init__(self, alpha: float = 1.0, history_length: int | None = None, chunk: int = 1024):
        self.alpha = alpha
        self.history_length = history_length
        self.chunk = chunk
        self.similarity: sp.csr_matrix | None = None
        self.popularity: np.ndarray | None = None

    def fit(
        self, user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int
    ) -> ItemCooccurrenceBaseline:
        user_idx = np.asarray(user_idx, dtype=np.int64)
        item_idx = np.asarray(item_idx, dtype=np.int64)
        x = sp.csr_matrix(
            (np.ones(len(user_idx), dtype=np.float32), (user_idx, item_idx)),
            shape=(n_users, n_items),
        )
        x.data[:] = 1.0  # binary even with duplicate pairs
        c = (x.T @ x).tocsr().astype(np.float32)
        c.setdiag(0.0)
        c.eliminate_zeros()
        n = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
        inv = np.where(n > 0, 1.0 / np.sqrt(np.maximum(n, 1.0)), 0.0) ** self.alpha
        d = sp.diags(inv.astype(np.float32))
        self.similarity = (d @ c @ d).tocsr()
        self.popularity = n
        return self

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """Dense ``[len(histories), n_items]`` scores (history items oldest first)."""
        if self.similarity is None or self.popularity is None:
            raise RuntimeError("fit first")
        n_items = self.similarity.shape[0]
        hs = []
        for h in histories:
            h = np.asarray(h, dtype=np.int64)
            h = h[(h >= 0) & (h < n_items)]
            if self.history_length is not None:
                h = h[-self.history_length :]
            hs.append(np.unique(h))
        rows = np.repeat(np.arange(len(hs)), [len(h) for h in hs])
        cols = np.concatenate(hs) if hs else np.zeros(0, dtype=np.int64)
        hmat = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(hs), n_items)
        )
        scores = np.asarray((hmat @ self.similarity).todense(), dtype=np.float32)
        pop = self.popularity / max(self.popularity.max(), 1.0)
        # Popularity breaks ties and ranks everything with no co-occurrence evidence; the
        # factor keeps it below any real co-occurrence score.
        tiny = 1e-6 * np.float32(self.similarity.data.min() if self.similarity.nnz else 1.0)
        return scores + (tiny * pop).astype(np.float32)

    def recommend(
        self,
        histories: Sequence[np.ndarray],
        k: int,
        exclude: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        out = []
        for start in range(0, len(histories), self.chunk):
            block = list(histories[start : start + self.chunk])
            ex = None if exclude is None else list(exclude[start : start + self.chunk])
            out.append(exact_top_k(self.score(block), k, ex)[0])
        return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)
