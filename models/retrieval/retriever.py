"""The trained two-tower retriever at serving time: numpy only, no TensorFlow import.

Both towers are exported as numpy weights (`user_forward` / `title_forward` are the exact
numpy mirror of the Keras towers in `models.retrieval.model`); the catalogue's title
embeddings are precomputed and top-K is an exact matrix product (`exact_top_k`).

Defined behaviour for every request (`TwoTowerRetriever.recommend`), never an exception:

| request                                             | source           |
|-----------------------------------------------------|------------------|
| known user, or any known title in the history       | ``two_tower``    |
| no id / history, some known feature (age, device..) | ``features_only``|
| nothing usable                                      | ``popularity``   |

Unknown ids, titles, feature values and missing features map to the out-of-vocabulary index 0
(an embedding learnt for "unknown", via id dropout in training). Titles unseen at training get
a content-only embedding (`embed_titles` / `add_titles`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.retrieval.data import clean_category
from models.retrieval.features import FeatureSpace, TitleInputs, UserInputs
from models.retrieval.index import exact_top_k

log = logging.getLogger(__name__)

TWO_TOWER = "two_tower"
FEATURES_ONLY = "features_only"
POPULARITY = "popularity"


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.maximum((x * x).sum(axis=-1, keepdims=True), np.float32(1e-12)))
    return (x / norm).astype(np.float32)


def _pool(emb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    total = (emb * mask).sum(axis=1)
    return total / np.maximum(mask.sum(axis=1), np.float32(1.0))


def user_forward(w: dict[str, np.ndarray], inputs: UserInputs, short_history: int) -> np.ndarray:
    """User embeddings ``[n, d]`` (L2-normalised) from the exported user-tower weights."""
    hist = np.asarray(inputs["history"], dtype=np.int64)
    mask = (hist > 0).astype(np.float32)[..., None]
    h = w["hist_emb"][hist]
    parts = [
        w["id_emb"][np.asarray(inputs["id"], dtype=np.int64)],
        _pool(h, mask),
        _pool(h[:, -short_history:], mask[:, -short_history:]),
    ]
    fields = np.asarray(inputs["fields"], dtype=np.int64)
    parts += [w[f"field_{j}"][fields[:, j]] for j in range(fields.shape[1])]
    parts.append(np.asarray(inputs["devices"], dtype=np.float32))
    x = np.concatenate(parts, axis=1).astype(np.float32)
    x = np.maximum(x @ w["dense1_kernel"] + w["dense1_bias"], 0.0)
    return _l2_normalize(x @ w["dense2_kernel"] + w["dense2_bias"])


def title_forward(w: dict[str, np.ndarray], inputs: TitleInputs) -> np.ndarray:
    """Title embeddings ``[n, d]`` (L2-normalised) from the exported title-tower weights."""
    x = np.concatenate(
        [
            w["id_emb"][np.asarray(inputs["id"], dtype=np.int64)],
            np.asarray(inputs["genres"], dtype=np.float32) @ w["genre_kernel"],
            w["year_emb"][np.asarray(inputs["year"], dtype=np.int64)],
            w["kind_emb"][np.asarray(inputs["kind"], dtype=np.int64)],
            w["language_emb"][np.asarray(inputs["language"], dtype=np.int64)],
            w["pop_emb"][np.asarray(inputs["pop_bucket"], dtype=np.int64)],
            np.asarray(inputs["pop"], dtype=np.float32),
        ],
        axis=1,
    ).astype(np.float32)
    x = np.maximum(x @ w["dense1_kernel"] + w["dense1_bias"], 0.0)
    return _l2_normalize(x @ w["dense2_kernel"] + w["dense2_bias"])


def score_prior(recent_popularity: np.ndarray, weight: float, smoothing: float = 0.5) -> np.ndarray:
    """``weight * log((w_i + a) / (sum(w) + a * n))``: the log share of recent engagement
    (``smoothing`` a keeps titles without any finite); zeros when ``weight`` is 0."""
    w = np.asarray(recent_popularity, dtype=np.float64)
    if weight == 0 or len(w) == 0:
        return np.zeros(len(w), dtype=np.float32)
    share = (w + smoothing) / (w.sum() + smoothing * len(w))
    return (weight * np.log(share)).astype(np.float32)


def decayed_counts(
    item_idx: np.ndarray, ts: np.ndarray, as_of, n_items: int, half_life_days: float
) -> np.ndarray:
    """Engagements per item weighted by 0.5 ** (age in days / half_life_days) at ``as_of``."""
    t = np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)
    ref = np.datetime64(as_of, "ns").astype(np.int64)
    age_days = np.maximum(ref - t, 0) / 86_400e9
    weights = 0.5 ** (age_days / half_life_days) if half_life_days > 0 else np.ones(len(t))
    keep = np.asarray(item_idx) >= 0
    return np.bincount(np.asarray(item_idx)[keep], weights=weights[keep], minlength=n_items)


@dataclass
class Recommendation:
    """Top-K for one request: catalogue title ids, scores, and which path produced them."""

    title_ids: list[str]
    scores: list[float]
    source: str


@dataclass
class TwoTowerRetriever:
    """A fitted two-tower model plus everything needed to serve it (see module docstring).

    ``state_*`` hold each user's inputs as of the model's cutoff (``space.as_of``): history,
    attributes, device mix, and the CSR list of every title they engaged with (excluded from
    their recommendations).
    """

    space: FeatureSpace
    user_weights: dict[str, np.ndarray]
    title_weights: dict[str, np.ndarray]
    title_embeddings: np.ndarray
    popularity: np.ndarray
    state_user_ids: np.ndarray
    state_inputs: UserInputs
    seen_indptr: np.ndarray
    seen_items: np.ndarray
    short_history: int = 3
    recent_popularity: np.ndarray | None = None
    temperature: float = 1.0
    prior_weight: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._user_pos = pd.Index(self.state_user_ids)
        self._catalogue_index = pd.Index(self.space.catalogue)
        space = self.space
        # dict lookups for the one-request path (pandas indexers cost ~100 us per call)
        self._maps = {
            "state": {u: i for i, u in enumerate(self.state_user_ids.tolist())},
            "user": {u: i + 1 for i, u in enumerate(space.user_vocab.tolist())},
            "title": {t: i + 1 for i, t in enumerate(space.title_vocab.tolist())},
            "catalogue": {t: i for i, t in enumerate(space.catalogue.tolist())},
            "fields": [
                {v: i + 1 for i, v in enumerate(space.field_vocabs[f].tolist())}
                for f in space.user_fields
            ],
        }
        self.popularity = np.asarray(self.popularity, dtype=np.float64)
        if self.recent_popularity is None:
            self.recent_popularity = self.popularity.copy()
        self.recent_popularity = np.asarray(self.recent_popularity, dtype=np.float64)
        self.score_bias = score_prior(self.recent_popularity, self.prior_weight)
        self.score_scale = np.float32(1.0 / self.temperature)
        # popularity fallback: recent popularity, then all-time popularity
        scale = max(float(self.popularity.max(initial=0.0)), 1.0)
        self._fallback = (self.recent_popularity + 1e-6 * self.popularity / scale).astype(
            np.float32
        )

    def scores(self, user_embeddings: np.ndarray) -> np.ndarray:
        """Serving scores of users (``[n, d]`` or ``[d]``) against the whole catalogue:
        cosine / temperature + prior_weight * log(recent popularity share)."""
        return (user_embeddings @ self.title_embeddings.T) * self.score_scale + self.score_bias

    # ------------------------------------------------------------------ embeddings
    @property
    def catalogue(self) -> np.ndarray:
        return self.space.catalogue

    def user_embeddings(self, inputs: UserInputs) -> np.ndarray:
        return user_forward(self.user_weights, inputs, self.short_history)

    def embed_titles(self, titles: pd.DataFrame, counts: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of titles given by content (title_id, genres, release_year, kind,
        language). Titles unseen at training get the out-of-vocabulary id: a content-only
        embedding (their prior is that of a title nobody engaged with yet)."""
        scale = self.info.get("count_scale")
        inputs = self.space.encode_titles(titles, counts, None, tuple(scale) if scale else None)
        return title_forward(self.title_weights, inputs)

    def add_titles(self, titles: pd.DataFrame) -> TwoTowerRetriever:
        """A retriever whose catalogue also holds ``titles`` (new ids only; content embedding)."""
        titles = titles[~titles["title_id"].astype(str).isin(self.space.catalogue)]
        titles = titles.drop_duplicates("title_id")
        if titles.empty:
            return self
        emb = self.embed_titles(titles)
        space = FeatureSpace(**{**self.space.__dict__})
        space.catalogue = np.concatenate([self.space.catalogue, titles["title_id"].astype(str)])
        return TwoTowerRetriever(
            space=space,
            user_weights=self.user_weights,
            title_weights=self.title_weights,
            title_embeddings=np.concatenate([self.title_embeddings, emb]),
            popularity=np.concatenate([self.popularity, np.zeros(len(titles))]),
            recent_popularity=np.concatenate([self.recent_popularity, np.zeros(len(titles))]),
            temperature=self.temperature,
            prior_weight=self.prior_weight,
            state_user_ids=self.state_user_ids,
            state_inputs=self.state_inputs,
            seen_indptr=self.seen_indptr,
            seen_items=self.seen_items,
            short_history=self.short_history,
            info=self.info,
        )

    # ------------------------------------------------------------------ batch (known users)
    def seen(self, rows: np.ndarray) -> list[np.ndarray]:
        return [self.seen_items[self.seen_indptr[r] : self.seen_indptr[r + 1]] for r in rows]

    def recommend_users(
        self, user_ids: Sequence[str], k: int = 200, exclude_seen: bool = True, chunk: int = 2048
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-K catalogue indices and scores for many users from their stored state.

        Returns ``(indices [n, k], scores [n, k], source [n])``; users unknown to the state get
        popularity (source ``popularity``), users with neither history nor features too.
        """
        ids = np.asarray([str(u) for u in user_ids], dtype=str)
        rows = self._user_pos.get_indexer(ids)
        out_idx = np.full((len(ids), k), -1, dtype=np.int64)
        out_val = np.full((len(ids), k), -np.inf, dtype=np.float32)
        source = np.full(len(ids), POPULARITY, dtype=object)
        known = np.flatnonzero(rows >= 0)
        inputs_all = self.state_inputs
        usable = (
            (inputs_all["id"] > 0)
            | (inputs_all["history"] > 0).any(axis=1)
            | (inputs_all["fields"] > 0).any(axis=1)
            | (inputs_all["devices"] > 0).any(axis=1)
        )
        model_rows = known[usable[rows[known]]]
        for start in range(0, len(model_rows), chunk):
            sel = model_rows[start : start + chunk]
            r = rows[sel]
            inputs = {name: arr[r] for name, arr in inputs_all.items()}
            scores = self.scores(self.user_embeddings(inputs))
            ex = self.seen(r) if exclude_seen else None
            out_idx[sel], out_val[sel] = exact_top_k(scores, k, ex)
            warm = (inputs["id"] > 0) | (inputs["history"] > 0).any(axis=1)
            source[sel] = np.where(warm, TWO_TOWER, FEATURES_ONLY)
        rest = np.flatnonzero(source == POPULARITY)
        if len(rest):
            pop = np.broadcast_to(self._fallback, (len(rest), len(self._fallback)))
            ex = [
                self.seen([rows[i]])[0] if (exclude_seen and rows[i] >= 0) else np.zeros(0, int)
                for i in rest
            ]
            out_idx[rest], out_val[rest] = exact_top_k(pop, k, ex)
        return out_idx, out_val, source

    def dense_scores(self, user_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Serving scores of every catalogue title for many stored users, ``[n, n_items]``,
        and the source per user; users the model cannot embed get the popularity scores."""
        ids = np.asarray([str(u) for u in user_ids], dtype=str)
        rows = self._user_pos.get_indexer(ids)
        out = np.broadcast_to(self._fallback, (len(ids), len(self._fallback))).astype(np.float32)
        source = np.full(len(ids), POPULARITY, dtype=object)
        known = np.flatnonzero(rows >= 0)
        if len(known):
            inputs = {name: arr[rows[known]] for name, arr in self.state_inputs.items()}
            warm = (inputs["id"] > 0) | (inputs["history"] > 0).any(axis=1)
            usable = warm | (inputs["fields"] > 0).any(axis=1) | (inputs["devices"] > 0).any(axis=1)
            sel = known[usable]
            if len(sel):
                sub = {name: arr[usable] for name, arr in inputs.items()}
                out[sel] = self.scores(self.user_embeddings(sub))
                source[sel] = np.where(warm[usable], TWO_TOWER, FEATURES_ONLY)
        return out, source

    def request_scores(
        self,
        user_id: Any = None,
        history: Sequence[Any] | None = None,
        features: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """One request: (scores over the catalogue, seen catalogue indices, source)."""
        inputs, seen, _ = self.encode_request(user_id, history, features)
        warm = inputs["id"][0] > 0 or (inputs["history"] > 0).any()
        if warm or (inputs["fields"] > 0).any() or (inputs["devices"] > 0).any():
            scores = self.scores(self.user_embeddings(inputs)[0]).astype(np.float32)
            return scores, seen, TWO_TOWER if warm else FEATURES_ONLY
        return self._fallback.copy(), seen, POPULARITY

    def popular(self, k: int, exclude: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of the popularity fallback (catalogue indices, scores)."""
        return exact_top_k(self._fallback, k, np.asarray(exclude, dtype=np.int64))

    # ------------------------------------------------------------------ one request
    def encode_request(
        self,
        user_id: Any = None,
        history: Sequence[Any] | None = None,
        features: dict[str, Any] | None = None,
    ) -> tuple[UserInputs, np.ndarray, int]:
        """Inputs of one request: (inputs with one row, catalogue indices seen, state row).

        ``history``: title ids the user engaged with, oldest first (overrides the stored
        history); ``features``: user attributes (``age_bucket``, ``gender``, ``occupation``,
        ``country``, ``plan``) and ``device_mix`` ({device: share}) or ``primary_device``;
        missing or unknown values fall back to the stored state, then to "unknown".
        """
        space = self.space
        maps = self._maps
        uid = None if user_id is None else str(user_id)
        row = maps["state"].get(uid, -1) if uid is not None else -1
        id_idx = np.array([maps["user"].get(uid, 0) if uid is not None else 0], dtype=np.int64)
        h_len = space.history_length
        hist = np.zeros((1, h_len), dtype=np.int64)
        if history is not None:
            titles = [str(t) for t in history if t is not None]
            hidx = [i for i in (maps["title"].get(t, 0) for t in titles) if i > 0][-h_len:]
            if hidx:
                hist[0, -len(hidx) :] = hidx
            seen = np.array(
                [maps["catalogue"][t] for t in titles if t in maps["catalogue"]], dtype=np.int64
            )
            if row >= 0:
                seen = np.union1d(seen, self.seen([row])[0])
        elif row >= 0:
            hist = self.state_inputs["history"][row : row + 1]
            seen = self.seen([row])[0]
        else:
            seen = np.zeros(0, dtype=np.int64)
        fields = np.zeros((1, len(space.user_fields)), dtype=np.int64)
        devices = np.zeros((1, len(space.devices)), dtype=np.float32)
        if isinstance(features, dict):
            for j, name in enumerate(space.user_fields):
                value = clean_category(features.get(name))
                if value is not None:
                    fields[0, j] = maps["fields"][j].get(value, 0)
            mix = features.get("device_mix")
            if mix is None:
                mix = features.get("primary_device")
            devices[0] = space.encode_device_mix(mix)
        if row >= 0:
            stored = self.state_inputs
            fields = np.where(fields > 0, fields, stored["fields"][row : row + 1])
            if not (devices > 0).any():
                devices = stored["devices"][row : row + 1].copy()
        inputs = {"id": id_idx, "fields": fields, "devices": devices, "history": hist}
        return inputs, seen, row

    def recommend(
        self,
        user_id: Any = None,
        history: Sequence[Any] | None = None,
        features: dict[str, Any] | None = None,
        k: int = 200,
        exclude: Sequence[Any] | None = None,
        exclude_seen: bool = True,
    ) -> Recommendation:
        """Top-``k`` catalogue titles for one user; never raises (see module docstring)."""
        try:
            k = max(int(k), 0)
        except (TypeError, ValueError):
            k = 200
        try:
            inputs, seen, _ = self.encode_request(user_id, history, features)
            cat = self._maps["catalogue"]
            extra = np.array(
                [cat[str(t)] for t in (exclude or ()) if t is not None and str(t) in cat],
                dtype=np.int64,
            )
            ex = np.concatenate([seen if exclude_seen else np.zeros(0, int), extra])
            warm = inputs["id"][0] > 0 or (inputs["history"] > 0).any()
            has_features = (inputs["fields"] > 0).any() or (inputs["devices"] > 0).any()
            if warm or has_features:
                idx, val = exact_top_k(self.scores(self.user_embeddings(inputs)[0]), k, ex)
                source = TWO_TOWER if warm else FEATURES_ONLY
            else:
                idx, val = exact_top_k(self._fallback, k, ex)
                source = POPULARITY
        except Exception:  # the request path must answer: log and fall back to popularity
            log.exception("two-tower request failed; falling back to popularity")
            idx, val = exact_top_k(self._fallback, k)
            source = POPULARITY
        keep = idx >= 0
        return Recommendation(
            title_ids=self.catalogue[idx[keep]].tolist(),
            scores=val[keep].astype(float).tolist(),
            source=source,
        )
