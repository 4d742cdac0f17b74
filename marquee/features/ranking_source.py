"""Numeric features of the ``ranking`` service for the ranker, offline and point in time.

`OfflineRankingFeatures(store)` implements `models.ranking.two_stage.FeatureSource`: for a
set of users (or titles) and one cutoff, the values Feast's offline store had as of that
cutoff (`historical_features`: latest snapshot with ``event_timestamp <= cutoff``), as a float
matrix with NaN for unknown. Only scalar numeric fields are used (lists and strings feed the
interaction-derived features instead). Names are Feast's full names (``view__feature``), the
same the online reader returns, so serving reads exactly these columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from feast import FeatureStore
from feast.types import Float32, Float64, Int32, Int64

from marquee.features import names as N
from marquee.features.training import historical_features

_NUMERIC = (Int64, Int32, Float64, Float32)


def numeric_refs(store: FeatureStore, service: str = N.RANKING) -> dict[str, list[str]]:
    """``{join_key: ["view:feature", ...]}`` of the service's scalar numeric features."""
    out: dict[str, list[str]] = {}
    for projection in store.get_feature_service(service).feature_view_projections:
        view = store.get_feature_view(projection.name)
        keys = [c.name for c in view.entity_columns]
        if len(keys) != 1:
            continue
        for f in projection.features:
            if f.dtype in _NUMERIC:
                out.setdefault(keys[0], []).append(f"{projection.name_to_use()}:{f.name}")
    return out


class OfflineRankingFeatures:
    def __init__(self, store: FeatureStore, service: str = N.RANKING):
        self.store = store
        refs = numeric_refs(store, service)
        self._user_refs = refs.get(N.USER_KEY, [])
        self._title_refs = refs.get(N.TITLE_KEY, [])
        self.user_names = [r.replace(":", "__") for r in self._user_refs]
        self.title_names = [r.replace(":", "__") for r in self._title_refs]

    def _matrix(self, key: str, ids: Sequence[str], refs: list[str], as_of: Any) -> np.ndarray:
        if not refs or not len(ids):
            return np.zeros((len(ids), len(refs)), dtype=np.float32)
        ts = pd.Timestamp(as_of)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        entity = pd.DataFrame({key: [str(i) for i in ids], N.TIMESTAMP_FIELD: ts})
        table = historical_features(self.store, entity, refs)
        frame = table.select([r.replace(":", "__") for r in refs]).to_pandas()
        return frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)

    def users(self, user_ids: Sequence[str], as_of: Any) -> np.ndarray:
        return self._matrix(N.USER_KEY, user_ids, self._user_refs, as_of)

    def titles(self, title_ids: Sequence[str], as_of: Any) -> np.ndarray:
        return self._matrix(N.TITLE_KEY, title_ids, self._title_refs, as_of)
