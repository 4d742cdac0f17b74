"""A served two-stage model: two-tower candidates, XGBoost ranking (numpy + XGBoost, no TF).

    rec = ModelRegistry(home.models).load_champion()
    rec.recommend("42", online=OnlineFeatureReader(store), k=10)   # one request
    rec.recommend_batch(user_ids, k=10, feast=offline_source)      # every known user

One request: the user's stored history (as of the model's data) plus the recent titles from
the online store that are newer (live events) -> two-tower scores over the catalogue ->
candidates (two-tower, co-occurrence, popular; seen titles removed) -> the same feature code
the ranker was trained with (Feast values read online) -> ``inplace_predict`` -> top k.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.ranking.context import RankingContext
from models.ranking.features import candidate_features, generate_candidates, stored_state
from models.ranking.ranker import load_booster, predict, prior_margin
from models.ranking.two_stage import FeatureSource, TwoStageConfig, build_examples
from models.retrieval.artifacts import load_artifacts
from models.retrieval.retriever import Recommendation, TwoTowerRetriever

RECENT_TITLES = "user_recent_history__recent_titles"
RANKER = "ranker"


def _as_float(value: Any) -> float:
    if value is None or isinstance(value, bool | str | list | tuple | dict):
        return float("nan") if not isinstance(value, bool) else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class TwoStageRecommender:
    def __init__(
        self,
        version: str,
        retriever: TwoTowerRetriever,
        booster,
        context: RankingContext,
        manifest: dict[str, Any],
        titles: dict[str, str],
    ):
        self.version = version
        self.retriever = retriever
        self.booster = booster
        self.context = context
        self.manifest = manifest
        self.titles = titles
        ranker = manifest.get("ranker", {})
        self.feature_names: list[str] = list(ranker.get("feature_names", []))
        self.feast_user_names: list[str] = list(ranker.get("feast_user_names", []))
        self.feast_title_names: list[str] = list(ranker.get("feast_title_names", []))
        self.config = TwoStageConfig.from_dict(manifest.get("config"))
        self.prior: str | None = ranker.get("prior")
        self.prior_weight = float(ranker.get("prior_weight") or 0.0)
        self._n_title_feast = len(self.feast_title_names)

    @classmethod
    def load(cls, path: str | Path) -> TwoStageRecommender:
        path = Path(path)
        manifest = json.loads((path / "manifest.json").read_text())
        retriever, _ = load_artifacts(path / "retrieval")
        booster = load_booster((path / "ranker.json").read_bytes())
        with np.load(path / "context.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        context = RankingContext.from_arrays(arrays, manifest.get("context", {}))
        titles = json.loads((path / "titles.json").read_text())
        return cls(manifest["version"], retriever, booster, context, manifest, titles)

    # ------------------------------------------------------------------ helpers
    def title_name(self, title_id: str) -> str | None:
        return self.titles.get(str(title_id))

    def popular(self, k: int, exclude: Sequence[str] = ()) -> Recommendation:
        """The popularity fallback (recent popularity as of the model's data); never raises."""
        ex = self.context.item_index(exclude)
        idx, val = self.retriever.popular(max(int(k), 0), ex[ex >= 0])
        keep = idx >= 0
        return Recommendation(
            self.context.catalogue[idx[keep]].tolist(), val[keep].astype(float).tolist(), "popularity"
        )

    def _feast_user(self, online_user: dict[str, Any] | None) -> np.ndarray | None:
        if not self.feast_user_names:
            return None
        values = online_user or {}
        return np.array([[_as_float(values.get(n)) for n in self.feast_user_names]], np.float32)

    def _title_matrix(self, columns: dict[str, list[Any]]) -> np.ndarray:
        """``[n_items, n_title_feast]`` float32 from title feature columns in catalogue order."""
        out = np.full((self.context.n_items, self._n_title_feast), np.nan, dtype=np.float32)
        for j, name in enumerate(self.feast_title_names):
            column = columns.get(name)
            if column is not None:
                out[:, j] = [_as_float(v) for v in column]
        return out

    def _feast_titles(self, online, items: np.ndarray) -> np.ndarray | None:
        if not self._n_title_feast:
            return None
        if online is None or not len(items):
            return np.full((self.context.n_items, self._n_title_feast), np.nan, dtype=np.float32)
        if hasattr(online, "title_matrix"):  # the API's cache: the whole catalogue, per TTL
            return online.title_matrix(self.context.catalogue, self.feast_title_names, self._title_matrix)
        out = np.full((self.context.n_items, self._n_title_feast), np.nan, dtype=np.float32)
        values = online.title_features(self.context.catalogue[items].tolist())
        for j, name in enumerate(self.feast_title_names):
            column = values.get(name)
            if column is not None:
                out[items, j] = [_as_float(v) for v in column]
        return out

    def _score(self, x: np.ndarray) -> np.ndarray:
        return predict(
            self.booster, x, prior_margin(x, self.feature_names, self.prior, self.prior_weight)
        )

    # ------------------------------------------------------------------ one request
    def recommend(
        self,
        user_id: str,
        history: Sequence[str] | None = None,
        online=None,
        k: int = 10,
        exclude: Sequence[str] = (),
    ) -> Recommendation:
        """Top-``k`` for one user. ``online``: an `OnlineFeatureReader` (user and title
        features, recent titles) or None; ``history``: recent titles, oldest first (default:
        the online store's recent titles). Raises when a dependency fails (the caller
        decides the fallback)."""
        ctx = self.context
        uid = str(user_id)
        online_user = online.user_features(uid) if online is not None else None
        if history is None and online_user:
            recent = online_user.get(RECENT_TITLES) or []
            history = [str(t) for t in reversed(list(recent))]  # stored newest first
        row = ctx.user_row(uid)
        stored_items = ctx.history(row)[0]
        known = set(stored_items.tolist())
        new_items = [i for i in ctx.item_index(history or []) if i >= 0 and i not in known]
        state = stored_state(ctx, uid, new_items)
        full_history = ctx.catalogue[state.items].tolist()
        scores, seen, source = self.retriever.request_scores(uid, full_history or None)
        extra = ctx.item_index(exclude)
        ex = np.unique(np.concatenate([state.items, seen, extra[extra >= 0]]).astype(np.int64))
        cooc = ctx.cooc_scores([state.items])
        ease = ctx.ease_scores([state.items])
        cand = generate_candidates(ctx, scores[None, :], cooc, [ex], self.config.candidates, ease)
        items = cand[0][0]
        if not len(items):
            return Recommendation([], [], source)
        x = candidate_features(
            ctx,
            [state],
            cand,
            scores[None, :],
            cooc,
            self._feast_user(online_user),
            self._feast_titles(online, items),
            ease,
        )
        s = self._score(x)
        order = np.lexsort((items, -s))[: max(int(k), 0)]
        return Recommendation(
            ctx.catalogue[items[order]].tolist(),
            s[order].astype(float).tolist(),
            RANKER if source != "popularity" else "ranker_cold_start",
        )

    # ------------------------------------------------------------------ batch
    def recommend_batch(
        self, user_ids: Sequence[str], k: int = 10, feast: FeatureSource | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(title_ids [n, k] (object, None-padded), scores [n, k])`` for stored users,
        their seen titles excluded; Feast values from ``feast`` (offline) when given."""
        ex = build_examples(
            self.retriever, self.context, user_ids, None, feast, self.config.candidates
        )
        scores = self._score(ex.x)
        top = ex.top_k(scores, k)
        out_scores = np.full(top.shape, np.nan, dtype=np.float32)
        start = 0
        for r, items in enumerate(ex.candidates):
            s = scores[start : start + len(items)]
            pos = {int(i): j for j, i in enumerate(items.tolist())}
            for c, item in enumerate(top[r]):
                if item >= 0:
                    out_scores[r, c] = s[pos[int(item)]]
            start += len(items)
        ids = np.where(top >= 0, self.context.catalogue[np.clip(top, 0, None)], None)
        return ids.astype(object), out_scores
