"""Candidates and the ranker's feature matrix (one code path for training, batch and serving).

For each user: candidates are the two-tower top ``n_retrieval`` plus the co-occurrence top
``n_cooc`` with their history plus the recently popular top ``n_popular``, seen titles
removed, each candidate keeping which sources proposed it. Every (user, candidate) row gets

- retrieval: the two-tower score (relative to the user's best candidate), its gap to that
  best, its rank over the catalogue; co-occurrence and EASE scores (relative) and ranks;
  source flags;
- title (as of the cutoff): popularity all-time / recency-decayed, mean strength, positive
  rate, age, days since first seen, popularity share in the user's segment and its lift;
- user: history length, days since last interaction, mean strength;
- cross: genre match of the title with the user's recency-weighted genre profile, days since
  the user last watched a title of the same genres;
- Feast (when given): numeric user and title features of the ``ranking`` service as of the
  cutoff (offline, point in time) or now (online), by full name ``view__feature``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.ranking.context import RankingContext

BASE_FEATURES = (
    "rt_score",
    "rt_score_gap",
    "rt_rank_log",
    "cooc_score",
    "cooc_rank_log",
    "ease_score",
    "ease_rank_log",
    "from_retrieval",
    "from_cooc",
    "from_popular",
    "from_ease",
    "pop_log",
    "pop_recent_log",
    "mean_strength",
    "positive_rate",
    "title_age_years",
    "days_since_first_seen",
    "segment_share",
    "segment_lift",
    "user_hist_log",
    "user_days_since_last",
    "user_mean_strength",
    "genre_match",
    "similar_recency_days",
)


@dataclass(frozen=True)
class CandidateConfig:
    n_retrieval: int = 200
    n_cooc: int = 50
    n_popular: int = 30
    n_ease: int = 50


@dataclass
class UserState:
    """One user at feature time: history (catalogue indices, oldest first), ages in days
    before the context's cutoff, strengths, and the segment row."""

    items: np.ndarray
    age: np.ndarray
    strength: np.ndarray
    segment: int = 0


def stored_state(ctx: RankingContext, user_id: str, extra_items: Sequence[int] = ()) -> UserState:
    """A user's stored history plus ``extra_items`` (e.g. live events; age 0)."""
    row = ctx.user_row(user_id)
    items, age, strength = ctx.history(row)
    extra = np.asarray([i for i in extra_items if i >= 0], dtype=np.int64)
    if len(extra):
        items = np.concatenate([items, extra])
        age = np.concatenate([age, np.zeros(len(extra), dtype=np.float32)])
        strength = np.concatenate([strength, np.ones(len(extra), dtype=np.float32)])
    segment = int(ctx.user_segment[row]) if row >= 0 else 0
    return UserState(items.astype(np.int64), age.astype(np.float32), strength.astype(np.float32), segment)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """0-based rank of every column per row (0 = highest score)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
    return ranks


def generate_candidates(
    ctx: RankingContext,
    retrieval_scores: np.ndarray,
    cooc_scores: np.ndarray,
    exclude: Sequence[np.ndarray],
    config: CandidateConfig | None = None,
    ease_scores: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per user: (candidate catalogue indices, source flags ``[c, 4]``: retrieval, cooc,
    popular, EASE). Order: retrieval first, then new co-occurrence, EASE and popular titles."""
    cfg = config or CandidateConfig()
    n_items = ctx.n_items
    pop = ctx.title_stats["pop_recent_log"] + 1e-6 * ctx.title_stats["pop_log"]
    pop_order = np.argsort(-pop, kind="stable")
    out = []
    for r in range(retrieval_scores.shape[0]):
        seen = np.zeros(n_items, dtype=bool)
        ex = np.asarray(exclude[r], dtype=np.int64)
        seen[ex[(ex >= 0) & (ex < n_items)]] = True

        def top(scores: np.ndarray, n: int, seen: np.ndarray = seen) -> np.ndarray:
            s = np.where(seen, -np.inf, scores)
            n = min(n, int(np.isfinite(s).sum()))
            if n <= 0:
                return np.zeros(0, dtype=np.int64)
            idx = np.argpartition(-s, n - 1)[:n]
            return idx[np.argsort(-s[idx], kind="stable")]

        rt = top(retrieval_scores[r], cfg.n_retrieval)
        co = top(cooc_scores[r], cfg.n_cooc) if cooc_scores[r].any() else np.zeros(0, np.int64)
        ea = (
            top(ease_scores[r], cfg.n_ease)
            if ease_scores is not None and ease_scores[r].any()
            else np.zeros(0, np.int64)
        )
        po = pop_order[~seen[pop_order]][: cfg.n_popular]
        items = list(dict.fromkeys([*rt.tolist(), *co.tolist(), *ea.tolist(), *po.tolist()]))
        items_arr = np.asarray(items, dtype=np.int64)
        flags = np.stack(
            [np.isin(items_arr, rt), np.isin(items_arr, co), np.isin(items_arr, po), np.isin(items_arr, ea)],
            axis=1,
        ).astype(np.float32)
        out.append((items_arr, flags))
    return out


def _per_user_relative(values: np.ndarray, rows: np.ndarray, n_users: int) -> np.ndarray:
    """Each user's scores divided by the largest magnitude among their candidates: the
    first-stage models' scales move with the data (history length, catalogue, refits), the
    ordering within a user's list is what carries over from training to serving."""
    v = np.asarray(values, dtype=np.float64)
    scale = np.zeros(n_users, dtype=np.float64)
    if len(v):
        np.maximum.at(scale, rows, np.abs(np.nan_to_num(v)))
    scale[scale == 0] = 1.0
    return v / scale[rows]


def _user_profiles(ctx: RankingContext, users: Sequence[UserState]) -> tuple[np.ndarray, np.ndarray]:
    """Recency-weighted genre profile ``[n, G]`` and per-genre days since last watch."""
    n_genres = ctx.genres.shape[1]
    profile = np.zeros((len(users), n_genres), dtype=np.float32)
    last = np.full((len(users), n_genres), np.inf, dtype=np.float32)
    half_life = ctx.config.profile_half_life_days
    for r, u in enumerate(users):
        if not len(u.items):
            continue
        g = ctx.genres[u.items]
        w = (0.5 ** (u.age / half_life)).astype(np.float32)
        p = (w[:, None] * g).sum(axis=0)
        profile[r] = p / max(float(p.sum()), 1e-9)
        ages = np.where(g > 0, u.age[:, None], np.inf)
        last[r] = ages.min(axis=0)
    return profile, last


def candidate_features(
    ctx: RankingContext,
    users: Sequence[UserState],
    candidates: Sequence[tuple[np.ndarray, np.ndarray]],
    retrieval_scores: np.ndarray,
    cooc_scores: np.ndarray,
    user_feast: np.ndarray | None = None,
    title_feast: np.ndarray | None = None,
    ease_scores: np.ndarray | None = None,
) -> np.ndarray:
    """Feature matrix ``[sum of candidates, len(BASE_FEATURES) + Feast columns]`` (float32,
    NaN = unknown), rows grouped by user in order. ``user_feast``: ``[n_users, Fu]``;
    ``title_feast``: ``[n_items, Ft]`` in catalogue order."""
    sizes = np.array([len(c[0]) for c in candidates], dtype=np.int64)
    rows = np.repeat(np.arange(len(users)), sizes)
    items = np.concatenate([c[0] for c in candidates]) if len(candidates) else np.zeros(0, int)
    flags = (
        np.concatenate([c[1] for c in candidates]) if len(candidates) else np.zeros((0, 4))
    )
    if ease_scores is None:
        ease_scores = np.zeros_like(cooc_scores)
    rt = retrieval_scores[rows, items]
    best = np.array([retrieval_scores[r, c[0]].max() if len(c[0]) else 0.0 for r, c in enumerate(candidates)])
    rt_rel = _per_user_relative(rt, rows, len(users))
    rt_rank = _ranks(retrieval_scores)[rows, items]
    co = _per_user_relative(cooc_scores[rows, items], rows, len(users))
    co_rank = _ranks(cooc_scores)[rows, items]
    ea = _per_user_relative(ease_scores[rows, items], rows, len(users))
    ea_rank = _ranks(ease_scores)[rows, items]
    stats = ctx.title_stats
    seg = np.array([u.segment for u in users], dtype=np.int64)
    seg_share = ctx.segment_share[seg[rows], items]
    overall = ctx.segment_share[0, items]
    hist_len = np.array([len(u.items) for u in users], dtype=np.float32)
    last_any = np.array([u.age.min() if len(u.items) else np.nan for u in users], dtype=np.float32)
    mean_strength = np.array(
        [u.strength.mean() if len(u.items) else np.nan for u in users], dtype=np.float32
    )
    profile, last = _user_profiles(ctx, users)
    g = ctx.genres[items]
    genre_match = (profile[rows] * g).sum(axis=1)
    similar = np.where(g > 0, last[rows], np.inf).min(axis=1)
    similar = np.where(np.isfinite(similar), similar, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(overall > 0, seg_share / overall, np.nan)
    columns = [
        rt_rel,
        rt - best[rows],
        np.log1p(rt_rank),
        co,
        np.log1p(co_rank),
        ea,
        np.log1p(ea_rank),
        flags[:, 0],
        flags[:, 1],
        flags[:, 2],
        flags[:, 3],
        stats["pop_log"][items],
        stats["pop_recent_log"][items],
        stats["mean_strength"][items],
        stats["positive_rate"][items],
        stats["title_age_years"][items],
        stats["days_since_first_seen"][items],
        seg_share,
        lift,
        np.log1p(hist_len)[rows],
        last_any[rows],
        mean_strength[rows],
        genre_match,
        similar,
    ]
    x = np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1)
    extra = []
    if user_feast is not None and user_feast.shape[1]:
        extra.append(np.asarray(user_feast, dtype=np.float32)[rows])
    if title_feast is not None and title_feast.shape[1]:
        extra.append(np.asarray(title_feast, dtype=np.float32)[items])
    return np.concatenate([x, *extra], axis=1) if extra else x
