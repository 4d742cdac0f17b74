"""Point-in-time correct feature joins and the default training set.

``historical_features`` wraps Feast's ``get_historical_features`` (DuckDB offline store) so
that every entity row comes back exactly once, in the caller's order, with null features
where nothing matches (an unknown user or title, or a time before its first snapshot):

- Feast keys its join on (join keys, event_timestamp): duplicate entity rows would multiply
  each other, and the result's order is the database's. We send each distinct
  (keys, timestamp) once with a row number and put the answer back on the caller's rows.
- A feature value joined for time t comes from the latest snapshot with
  ``event_timestamp <= t``; a snapshot of day D is stamped D + 1 day 00:00 UTC, so nothing
  that happened on or after t's own day can leak in.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureService, FeatureStore

from marquee.config import MarqueeHome
from marquee.features import names as N
from marquee.features.paths import training_dir

ROW_ID = "__marquee_row"
TRAINING_FILE = "interactions.parquet"


def _feature_refs(store: FeatureStore, features: FeatureService | str | Sequence[str]) -> list[str]:
    if isinstance(features, str) and ":" not in features:
        features = store.get_feature_service(features)
    if isinstance(features, FeatureService):
        return [
            f"{p.name_to_use()}:{f.name}" for p in features.feature_view_projections for f in p.features
        ]
    if isinstance(features, str):
        return [features]
    return list(features)


def _view_keys(store: FeatureStore, view: str) -> list[str]:
    return [column.name for column in store.get_feature_view(view).entity_columns]


def historical_features(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    features: FeatureService | str | Sequence[str] = N.RANKING,
    *,
    timestamp_column: str = N.TIMESTAMP_FIELD,
) -> pa.Table:
    """Point-in-time features for every row of ``entity_df``, in order, full feature names
    (``view__feature``). ``features``: a service (object or name) or ``view:feature`` refs.
    ``entity_df`` needs the views' join keys and ``timestamp_column`` (naive = UTC).

    One Feast query per feature view, each on the distinct (view keys, timestamp) pairs:
    the DuckDB store chains the views' joins in one query otherwise, which costs about twice
    as much on ml-100k, and a user view then only sees distinct (user, time) rows.
    """
    refs = _feature_refs(store, features)
    by_view: dict[str, list[str]] = {}
    for ref in refs:
        by_view.setdefault(ref.split(":")[0], []).append(ref)
    view_keys = {view: _view_keys(store, view) for view in by_view}
    keys = list(dict.fromkeys(k for ks in view_keys.values() for k in ks))
    missing = [c for c in [*keys, timestamp_column] if c not in entity_df.columns]
    if missing:
        raise ValueError(
            f"entity_df lacks column(s) {missing}; the features need {keys} + {timestamp_column!r}"
        )

    entity = entity_df[keys].astype("string").astype(object)
    if entity.isna().any().any():
        raise ValueError(f"entity_df has null join keys in {keys}")
    entity[N.TIMESTAMP_FIELD] = pd.to_datetime(entity_df[timestamp_column], utc=True).to_numpy()
    if entity[N.TIMESTAMP_FIELD].isna().any():
        raise ValueError(f"entity_df has null or unparseable {timestamp_column!r} values")

    out = pa.Table.from_pandas(entity_df.reset_index(drop=True), preserve_index=False)
    for view, view_refs in by_view.items():
        columns = [*view_keys[view], N.TIMESTAMP_FIELD]
        sub = entity[columns]
        row_of = sub.groupby(columns, sort=False).ngroup().to_numpy()
        unique = sub.drop_duplicates(columns).reset_index(drop=True)
        unique[ROW_ID] = np.arange(len(unique), dtype=np.int64)
        names = [ref.replace(":", "__") for ref in view_refs]
        if not len(unique):
            for name in names:
                out = out.append_column(name, pa.nulls(0))
            continue
        job = store.get_historical_features(
            entity_df=unique, features=view_refs, full_feature_names=True
        )
        result = job.to_arrow()
        position = np.full(len(unique), -1, dtype=np.int64)
        position[result.column(ROW_ID).to_numpy()] = np.arange(result.num_rows)
        take = position[row_of]
        # A row the offline store did not return is a row of nulls, never a lost row.
        indices = pa.array(take, mask=take < 0, type=pa.int64())
        for name in names:
            out = out.append_column(name, result.column(name).take(indices))
    return out


@dataclass
class TrainingSetSummary:
    path: str
    rows: int
    positives: int
    sampled_negatives: int
    users: int
    titles: int
    min_event_timestamp: str | None
    max_event_timestamp: str | None
    feature_service: str
    feature_columns: list[str]
    null_share: dict[str, float]
    seconds: float


TRAINING_ENTITIES_SQL = """
with interactions as (
    select interaction_id, user_id, title_id, first_interaction_ts, is_positive,
           interaction_strength
    from marts.fct_interactions
),
titles as (
    select title_id, row_number() over (order by title_id) - 1 as idx,
           count(*) over () as n
    from marts.dim_titles
),
candidates as (
    select interactions.user_id, interactions.first_interaction_ts,
           hash(interactions.interaction_id || '|' || k.k) % (select max(n) from titles) as idx
    from interactions
    cross join range($negatives) as k(k)
),
negatives as (
    select distinct candidates.user_id, titles.title_id, candidates.first_interaction_ts
    from candidates
    join titles using (idx)
    anti join interactions
      on interactions.user_id = candidates.user_id and interactions.title_id = titles.title_id
)
select user_id, title_id, timezone('UTC', first_interaction_ts) as event_timestamp,
       cast(is_positive as integer) as label, interaction_strength, false as sampled_negative
from interactions
union all
select user_id, title_id, timezone('UTC', first_interaction_ts) as event_timestamp,
       0 as label, 0.0 as interaction_strength, true as sampled_negative
from negatives
order by event_timestamp, user_id, title_id
"""


def training_entities(con: duckdb.DuckDBPyConnection, negatives_per_interaction: int = 1) -> pd.DataFrame:
    """Entity rows to train on: every (user, title) interaction at the moment of its first
    engagement (label = is_positive), plus ``negatives_per_interaction`` deterministic,
    hash-sampled titles the user never engaged with, at the same moment (label 0)."""
    con.execute("SET TimeZone = 'UTC'")
    return con.execute(TRAINING_ENTITIES_SQL, {"negatives": int(negatives_per_interaction)}).df()


def build_training_set(
    store: FeatureStore,
    home: MarqueeHome,
    entities: pd.DataFrame,
    service: str = N.RANKING,
) -> TrainingSetSummary:
    """Join ``service``'s features point-in-time onto ``entities`` and write
    ``$MARQUEE_HOME/feast/training/interactions.parquet`` (+ a JSON manifest)."""
    started = time.perf_counter()
    table = historical_features(store, entities, service)
    out_dir = training_dir(home)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / TRAINING_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)

    feature_columns = [c for c in table.column_names if "__" in c]
    n = max(table.num_rows, 1)
    null_share = {c: round(table.column(c).null_count / n, 4) for c in feature_columns}
    ts = entities[N.TIMESTAMP_FIELD] if len(entities) else pd.Series([], dtype="datetime64[ns, UTC]")
    sampled = int(entities["sampled_negative"].sum()) if "sampled_negative" in entities else 0
    summary = TrainingSetSummary(
        path=str(path),
        rows=table.num_rows,
        positives=int(entities["label"].sum()) if "label" in entities else 0,
        sampled_negatives=sampled,
        users=int(entities[N.USER_KEY].nunique()),
        titles=int(entities[N.TITLE_KEY].nunique()),
        min_event_timestamp=str(ts.min()) if len(ts) else None,
        max_event_timestamp=str(ts.max()) if len(ts) else None,
        feature_service=service,
        feature_columns=feature_columns,
        null_share=null_share,
        seconds=round(time.perf_counter() - started, 3),
    )
    manifest = {
        **summary.__dict__,
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
        "feature_views": {
            p.name: [f.name for f in p.features]
            for p in store.get_feature_service(service).feature_view_projections
        },
    }
    (out_dir / "interactions.json").write_text(json.dumps(manifest, indent=2, default=str))
    return summary
