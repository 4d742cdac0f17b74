"""What the ranker knows about users and titles as of one cutoff (numpy only, no TF).

A `RankingContext` is built from the interactions strictly before a cutoff and answers, for
any (user, candidate title) pair, the interaction-derived features of `models.ranking.features`:
title popularity (all-time and recency-decayed), mean engagement strength and positive rate,
title age, the title's popularity share within the user's segment, the user's genre profile
and how long ago they last watched something of the title's genres, and item-item
co-occurrence with their history. The same object is saved with a model version (as of the
end of its data) so that serving computes exactly the features the ranker was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.baselines import ItemCooccurrenceBaseline
from models.retrieval.data import InteractionData

_DAY_NS = 86_400 * 10**9
SEGMENT_FIELDS = ("age_bucket", "country", "plan", "gender", "occupation")


@dataclass(frozen=True)
class ContextConfig:
    recent_half_life_days: float = 7.0
    profile_half_life_days: float = 60.0
    cooc_alpha: float = 0.5
    cooc_history: int = 20
    # EASE (Steck 2019): a closed-form item-item model over each user's whole history. Dense
    # [n_items, n_items], so only for catalogues up to ``ease_max_items`` (else left out).
    ease_l2: float = 300.0
    ease_max_items: int = 5000


@dataclass
class RankingContext:
    """Per-title statistics, per-user history (CSR, age in days before ``as_of``), genre
    matrix, segment popularity and co-occurrence similarity, all in catalogue order."""

    as_of: np.datetime64
    catalogue: np.ndarray
    genres: np.ndarray  # [n_items, n_genres] float32, rows sum to 1 (or 0)
    title_stats: dict[str, np.ndarray]
    segment_field: str | None
    segment_vocab: np.ndarray
    segment_share: np.ndarray  # [n_segments + 1, n_items]; row 0 = everyone
    user_ids: np.ndarray
    user_segment: np.ndarray  # [n_users] index into segment_share rows
    hist_indptr: np.ndarray
    hist_items: np.ndarray
    hist_age: np.ndarray  # days before as_of
    hist_strength: np.ndarray
    cooc: sp.csr_matrix
    config: ContextConfig = field(default_factory=ContextConfig)
    ease: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def __post_init__(self) -> None:
        self._user_pos = {u: i for i, u in enumerate(self.user_ids.tolist())}
        self._item_pos = {t: i for i, t in enumerate(self.catalogue.tolist())}
        self._segment_pos = {s: i + 1 for i, s in enumerate(self.segment_vocab.tolist())}

    # ------------------------------------------------------------------ lookups
    @property
    def n_items(self) -> int:
        return len(self.catalogue)

    def user_row(self, user_id: Any) -> int:
        return self._user_pos.get(str(user_id), -1)

    def item_index(self, title_ids: Any) -> np.ndarray:
        return np.array([self._item_pos.get(str(t), -1) for t in title_ids], dtype=np.int64)

    def segment_index(self, value: Any) -> int:
        return self._segment_pos.get(value, 0) if value is not None else 0

    def history(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items, age_days, strength) of a stored user, oldest first; empty when unknown."""
        if row < 0:
            empty = np.zeros(0)
            return empty.astype(np.int64), empty.astype(np.float32), empty.astype(np.float32)
        a, b = self.hist_indptr[row], self.hist_indptr[row + 1]
        return self.hist_items[a:b], self.hist_age[a:b], self.hist_strength[a:b]

    def cooc_scores(self, histories: list[np.ndarray]) -> np.ndarray:
        """Co-occurrence score of every catalogue title for each history (most recent
        ``cooc_history`` items), ``[len(histories), n_items]``."""
        n = self.n_items
        hs = [np.unique(np.asarray(h, dtype=np.int64)[-self.config.cooc_history :]) for h in histories]
        hs = [h[(h >= 0) & (h < n)] for h in hs]
        rows = np.repeat(np.arange(len(hs)), [len(h) for h in hs])
        cols = np.concatenate(hs) if hs else np.zeros(0, dtype=np.int64)
        hmat = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(hs), n)
        )
        return np.asarray((hmat @ self.cooc).todense(), dtype=np.float32)

    def ease_scores(self, histories: list[np.ndarray]) -> np.ndarray:
        """EASE score of every catalogue title for each whole history, ``[n, n_items]``
        (zeros when the context has no EASE model)."""
        n = self.n_items
        out = np.zeros((len(histories), n), dtype=np.float32)
        if self.ease.shape != (n, n):
            return out
        for r, h in enumerate(histories):
            h = np.unique(np.asarray(h, dtype=np.int64))
            h = h[(h >= 0) & (h < n)]
            if len(h):
                out[r] = self.ease[h].sum(axis=0)
        return out

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "as_of": np.array([np.datetime64(self.as_of, "ns").astype(np.int64)]),
            "catalogue": self.catalogue.astype(str),
            "genres": self.genres.astype(np.float32),
            "segment_vocab": self.segment_vocab.astype(str),
            "segment_share": self.segment_share.astype(np.float32),
            "user_ids": self.user_ids.astype(str),
            "user_segment": self.user_segment.astype(np.int32),
            "hist_indptr": self.hist_indptr.astype(np.int64),
            "hist_items": self.hist_items.astype(np.int32),
            "hist_age": self.hist_age.astype(np.float32),
            "hist_strength": self.hist_strength.astype(np.float32),
            "cooc_data": self.cooc.data.astype(np.float32),
            "cooc_indices": self.cooc.indices.astype(np.int32),
            "cooc_indptr": self.cooc.indptr.astype(np.int64),
            "ease": self.ease.astype(np.float32),
        }
        out.update({f"title_stats/{k}": v.astype(np.float32) for k, v in self.title_stats.items()})
        return out

    def meta(self) -> dict[str, Any]:
        return {"segment_field": self.segment_field, "config": self.config.__dict__}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> RankingContext:
        n = len(arrays["catalogue"])
        cooc = sp.csr_matrix(
            (arrays["cooc_data"], arrays["cooc_indices"], arrays["cooc_indptr"]), shape=(n, n)
        )
        stats = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("title_stats/")}
        return cls(
            as_of=np.datetime64(int(arrays["as_of"][0]), "ns"),
            catalogue=arrays["catalogue"].astype(str),
            genres=arrays["genres"],
            title_stats=stats,
            segment_field=meta.get("segment_field"),
            segment_vocab=arrays["segment_vocab"].astype(str),
            segment_share=arrays["segment_share"],
            user_ids=arrays["user_ids"].astype(str),
            user_segment=arrays["user_segment"].astype(np.int64),
            hist_indptr=arrays["hist_indptr"],
            hist_items=arrays["hist_items"].astype(np.int64),
            hist_age=arrays["hist_age"],
            hist_strength=arrays["hist_strength"],
            cooc=cooc,
            config=ContextConfig(**meta.get("config", {})),
            ease=arrays["ease"] if "ease" in arrays else np.zeros((0, 0), dtype=np.float32),
        )


def fit_ease(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, l2: float) -> np.ndarray:
    """EASE weights ``B`` (zero diagonal) of the binary user x item matrix:
    ``P = (X'X + l2 I)^-1``, ``B = -P / diag(P)``. Scores are ``x_u B``."""
    x = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float64), (users, items)), shape=(n_users, n_items)
    )
    x.data[:] = 1.0  # repeated pairs count once
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    gram[np.diag_indices(n_items)] += l2
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices(n_items)] = 0.0
    return b.astype(np.float32)


def _segment_field(users: pd.DataFrame) -> str | None:
    """The first user attribute that splits users into at least two known groups."""
    for name in SEGMENT_FIELDS:
        if name in users and users[name].dropna().nunique() >= 2:
            return name
    return None


def build_context(
    data: InteractionData,
    catalogue: np.ndarray,
    cutoff: Any,
    config: ContextConfig | None = None,
) -> RankingContext:
    """The context as of ``cutoff``: only interactions strictly before it are used."""
    cfg = config or ContextConfig()
    as_of = np.datetime64(pd.Timestamp(cutoff).to_datetime64(), "ns")
    inter = data.interactions
    rows = inter[inter["ts"].to_numpy() < as_of]
    catalogue = np.asarray(catalogue, dtype=str)
    n_items = len(catalogue)
    item = pd.Index(catalogue).get_indexer(rows["title_id"].to_numpy())
    keep = item >= 0
    rows, item = rows[keep], item[keep]
    age = (as_of.astype(np.int64) - rows["ts"].to_numpy().astype("datetime64[ns]").astype(np.int64))
    age = (age / _DAY_NS).astype(np.float64)
    strength = rows["strength"].to_numpy(dtype=np.float64)
    positive = rows["is_positive"].to_numpy(dtype=bool)

    # titles
    titles = data.titles.set_index("title_id").reindex(catalogue)
    vocab = sorted({g for gs in data.titles["genres"] for g in gs})
    gpos = {g: j for j, g in enumerate(vocab)}
    genres = np.zeros((n_items, max(len(vocab), 1)), dtype=np.float32)
    for i, gs in enumerate(titles["genres"].tolist()):
        if isinstance(gs, list | np.ndarray) and len(gs):
            for g in gs:
                genres[i, gpos[g]] = 1.0
    genres /= np.maximum(genres.sum(axis=1, keepdims=True), 1.0)
    count = np.bincount(item, minlength=n_items).astype(np.float64)
    decayed = np.bincount(
        item, weights=0.5 ** (age / cfg.recent_half_life_days), minlength=n_items
    )
    sum_strength = np.bincount(item, weights=strength, minlength=n_items)
    sum_pos = np.bincount(item, weights=positive.astype(float), minlength=n_items)
    first_age = np.full(n_items, np.nan)
    if len(item):
        order = np.argsort(-age, kind="stable")
        first_idx, first_pos = np.unique(item[order], return_index=True)
        first_age[first_idx] = age[order][first_pos]
    release = titles["release_year"].to_numpy(dtype=float)
    as_of_year = pd.Timestamp(as_of).year + pd.Timestamp(as_of).dayofyear / 365.25
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = {
            "pop_log": np.log1p(count),
            "pop_recent_log": np.log1p(decayed),
            "pop_share": count / max(count.sum(), 1.0),
            "mean_strength": np.where(count > 0, sum_strength / np.maximum(count, 1), np.nan),
            "positive_rate": np.where(count > 0, sum_pos / np.maximum(count, 1), np.nan),
            "title_age_years": as_of_year - release,
            "days_since_first_seen": first_age,
        }

    # users and segments
    users = data.as_of(as_of).users if data.user_snapshots is not None else data.users
    seg_field = _segment_field(users)
    user_ids = np.array(sorted(rows["user_id"].unique().tolist()), dtype=str)
    if seg_field is None:
        seg_vocab = np.zeros(0, dtype=str)
        user_seg = np.zeros(len(user_ids), dtype=np.int64)
    else:
        values = users.set_index("user_id")[seg_field]
        seg_vocab = np.array(sorted(values.dropna().unique().tolist()), dtype=str)
        spos = {s: i + 1 for i, s in enumerate(seg_vocab.tolist())}
        user_seg = np.array(
            [spos.get(v, 0) for v in values.reindex(user_ids).tolist()], dtype=np.int64
        )
    upos = pd.Index(user_ids).get_indexer(rows["user_id"].to_numpy())
    seg_of_row = user_seg[upos] if len(upos) else np.zeros(0, dtype=np.int64)
    seg_counts = np.zeros((len(seg_vocab) + 1, n_items), dtype=np.float64)
    seg_counts[0] = count
    if len(seg_vocab):
        np.add.at(seg_counts, (seg_of_row[seg_of_row > 0], item[seg_of_row > 0]), 1.0)
    seg_share = seg_counts / np.maximum(seg_counts.sum(axis=1, keepdims=True), 1.0)

    # histories, oldest first (rows are sorted by time)
    order = np.argsort(upos, kind="stable")
    indptr = np.searchsorted(upos[order], np.arange(len(user_ids) + 1))
    cooc = ItemCooccurrenceBaseline(cfg.cooc_alpha).fit(upos, item, len(user_ids), n_items)
    ease = (
        fit_ease(upos, item, len(user_ids), n_items, cfg.ease_l2)
        if 0 < n_items <= cfg.ease_max_items and len(item)
        else np.zeros((0, 0), dtype=np.float32)
    )
    return RankingContext(
        as_of=as_of,
        catalogue=catalogue,
        genres=genres,
        title_stats={k: np.asarray(v, dtype=np.float32) for k, v in stats.items()},
        segment_field=seg_field,
        segment_vocab=seg_vocab,
        segment_share=seg_share.astype(np.float32),
        user_ids=user_ids,
        user_segment=user_seg,
        hist_indptr=indptr.astype(np.int64),
        hist_items=item[order].astype(np.int64),
        hist_age=age[order].astype(np.float32),
        hist_strength=strength[order].astype(np.float32),
        cooc=cooc.similarity if cooc.similarity is not None else sp.csr_matrix((n_items, n_items)),
        config=cfg,
        ease=ease,
    )
