"""Training data for the retrieval stage: the Feast point-in-time training set, or the marts.

Two loaders return the same `InteractionData` of plain pandas frames:
`interaction_data_from_training_set(parquet_path, warehouse_path)` (what the Dagster asset uses:
interactions and point-in-time user features from the Feast training set, demographics and
titles from the marts) and `load_interactions(warehouse_path)` (the marts only; every Feast
user field is then 'unknown').

What is used, and why it does not leak:
- ``interactions``: one row per user x title from ``marts.fct_interactions``; the time of a row
  is ``first_interaction_ts`` (when the user first engaged with the title). Models train on the
  *fact* of an engagement before a cutoff. ``is_positive`` / ``strength`` summarise the pair over
  all time (a rating given after the cutoff changes them), so they are only used to define
  relevance on held-out rows, never as training inputs.
- ``users``: static attributes from ``marts.dim_users`` (age bucket, gender, occupation,
  country, plan). Aggregates of that table (n_titles, primary_device, ...) cover all time and
  are not used; the device mix is recomputed as of a cutoff from ``device_days``.
- ``titles``: content from ``marts.dim_titles`` (genres, release year, kind, language). Its popularity
  columns cover all time and are not used; popularity is recomputed as of a cutoff.
- ``device_days``: events per user x device x day from ``staging.stg_events`` (empty when the
  warehouse has no device data, e.g. MovieLens).
- ``user_snapshots`` (Feast training set only): `FEAST_USER_FIELDS` per (user, event_timestamp)
  row, each joined by Feast from snapshots valid before that time. ``users`` holds the latest;
  `InteractionData.as_of` takes those strictly before a cutoff, so hold-out evaluation never
  sees features computed from the held-out slice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

DEMOGRAPHIC_FIELDS = ("age_bucket", "gender", "occupation", "country", "plan")
"""Static user attributes, from ``marts.dim_users``."""

FEAST_USER_FIELDS = (
    "top_genre",
    "second_genre",
    "engagement_level",
    "activity_30d",
    "primary_device",
)
"""User attributes derived from Feast feature columns (point-in-time; see `feast_user_fields`).
Empty ('unknown') when the data comes straight from the warehouse."""

USER_FIELDS = (*DEMOGRAPHIC_FIELDS, *FEAST_USER_FIELDS)
"""Categorical user attributes used by the user tower (missing ones are simply 'unknown')."""

ENGAGEMENT_EDGES = (1, 10, 30, 100, 300)
"""Bucket edges of lifetime engagement events (``engagement_level``)."""
ACTIVITY_EDGES = (1, 5, 20, 60)
"""Bucket edges of engagement events in the last 30 days (``activity_30d``)."""

_UNKNOWN_VALUES = {"", "unknown", "none", "nan", "null"}


@dataclass(frozen=True)
class InteractionData:
    """Everything the retrieval models learn from, as pandas frames.

    interactions: ``user_id`` (str), ``title_id`` (str), ``ts`` (datetime64[ns], naive UTC),
        ``strength`` (float), ``is_positive`` (bool); sorted by ts, user_id, title_id.
    users: ``user_id`` plus the `USER_FIELDS` columns (str or None).
    titles: ``title_id``, ``genres`` (list[str]), ``release_year`` (float, NaN unknown),
        ``kind``, ``language`` (str or None), ``in_catalogue`` (bool); sorted by title_id. The
        catalogue retrieval ranks over.
    device_days: ``user_id``, ``device``, ``day`` (datetime64[ns]), ``n_events``.
    user_snapshots: point-in-time user attributes (``user_id``, ``ts`` and some of
        `FEAST_USER_FIELDS`), e.g. from a Feast training set, or None. ``users`` then holds
        each user's latest snapshot; `as_of` picks the latest one strictly before a cutoff.
    source: where the data came from and a fingerprint (recorded with every model version).
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    titles: pd.DataFrame
    device_days: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "user_id": pd.Series(dtype=object),
                "device": pd.Series(dtype=object),
                "day": pd.Series(dtype="datetime64[ns]"),
                "n_events": pd.Series(dtype="int64"),
            }
        )
    )
    source: dict[str, Any] = field(default_factory=dict)
    user_snapshots: pd.DataFrame | None = None

    def as_of(self, cutoff: Any) -> InteractionData:
        """The same data with each user's snapshot attributes as known strictly before
        ``cutoff`` (None: the latest); users with no earlier snapshot get 'unknown'. Without
        snapshots, ``self`` unchanged. Keeps hold-out evaluation free of later features."""
        snaps = self.user_snapshots
        if snaps is None or cutoff is None:
            return self
        cut = np.datetime64(pd.Timestamp(cutoff).to_datetime64(), "ns")
        users = _apply_snapshots(self.users, snaps[snaps["ts"].to_numpy() < cut])
        return replace(self, users=users)

    @property
    def timestamps(self) -> np.ndarray:
        return self.interactions["ts"].to_numpy(dtype="datetime64[ns]")


def clean_category(value: Any) -> str | None:
    """A categorical value as a string, or None when missing/unknown (never raises)."""
    if value is None:
        return None
    try:
        if isinstance(value, float) and np.isnan(value):
            return None
        if value is pd.NA or value is pd.NaT:
            return None
    except (TypeError, ValueError):
        return None
    text = str(value).strip()
    return None if text.lower() in _UNKNOWN_VALUES else text


def make_interaction_data(
    interactions: pd.DataFrame,
    users: pd.DataFrame | None = None,
    titles: pd.DataFrame | None = None,
    device_days: pd.DataFrame | None = None,
    source: dict[str, Any] | None = None,
    user_snapshots: pd.DataFrame | None = None,
) -> InteractionData:
    """Normalise frames into an `InteractionData` (used by the loaders and by tests).

    ``interactions`` needs user_id, title_id, ts; strength / is_positive default to 1 / True.
    Users and titles missing from the side tables are added with unknown attributes, so every
    interaction has a user row and a catalogue row. ``user_snapshots`` (user_id, ts, some of
    `FEAST_USER_FIELDS`): point-in-time attributes; each user's latest one fills ``users``.
    """
    df = interactions.copy()
    df["user_id"] = df["user_id"].astype(str)
    df["title_id"] = df["title_id"].astype(str)
    df["ts"] = pd.to_datetime(df["ts"]).astype("datetime64[ns]")
    df["strength"] = (
        df["strength"].astype(float) if "strength" in df else pd.Series(1.0, index=df.index)
    )
    df["is_positive"] = (
        df["is_positive"].fillna(False).astype(bool)
        if "is_positive" in df
        else pd.Series(True, index=df.index)
    )
    df = df[["user_id", "title_id", "ts", "strength", "is_positive"]]
    df = df.drop_duplicates(["user_id", "title_id"], keep="first")
    df = df.sort_values(["ts", "user_id", "title_id"], kind="stable").reset_index(drop=True)

    u = pd.DataFrame({"user_id": []}) if users is None else users.copy()
    u["user_id"] = u["user_id"].astype(str)
    for name in USER_FIELDS:
        u[name] = u[name].map(clean_category) if name in u else None
    extra_users = np.setdiff1d(df["user_id"].unique(), u["user_id"].to_numpy())
    if len(extra_users):
        u = pd.concat([u, pd.DataFrame({"user_id": extra_users})], ignore_index=True)
        for name in USER_FIELDS:
            u[name] = u[name].map(clean_category)
    u = u[["user_id", *USER_FIELDS]].drop_duplicates("user_id")
    u = u.sort_values("user_id").reset_index(drop=True)
    snaps = None
    if user_snapshots is not None:
        snaps = user_snapshots.copy()
        snaps["user_id"] = snaps["user_id"].astype(str)
        snaps["ts"] = pd.to_datetime(snaps["ts"]).astype("datetime64[ns]")
        names = [f for f in FEAST_USER_FIELDS if f in snaps]
        for name in names:
            snaps[name] = snaps[name].map(clean_category)
        snaps = snaps[["user_id", "ts", *names]].drop_duplicates(["user_id", "ts"], keep="last")
        snaps = snaps.sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)
        u = _apply_snapshots(u, snaps)

    t = pd.DataFrame({"title_id": []}) if titles is None else titles.copy()
    t["title_id"] = t["title_id"].astype(str)
    extra_titles = np.setdiff1d(df["title_id"].unique(), t["title_id"].to_numpy())
    if len(extra_titles):
        t = pd.concat(
            [t, pd.DataFrame({"title_id": extra_titles, "in_catalogue": False})],
            ignore_index=True,
        )
    t["genres"] = [_as_genres(g) for g in (t["genres"] if "genres" in t else [None] * len(t))]
    t["release_year"] = (
        pd.to_numeric(t["release_year"], errors="coerce").astype(float)
        if "release_year" in t
        else np.nan
    )
    t["kind"] = t["kind"].map(clean_category) if "kind" in t else None
    t["language"] = t["language"].map(clean_category) if "language" in t else None
    t["in_catalogue"] = (
        t["in_catalogue"].fillna(False).astype(bool) if "in_catalogue" in t else True
    )
    t = t[["title_id", "genres", "release_year", "kind", "language", "in_catalogue"]]
    t = t.drop_duplicates("title_id").sort_values("title_id").reset_index(drop=True)

    if device_days is None:
        d = InteractionData.__dataclass_fields__["device_days"].default_factory()
    else:
        d = device_days.copy()
        d["user_id"] = d["user_id"].astype(str)
        d["device"] = d["device"].map(clean_category)
        d = d[d["device"].notna()]
        d["day"] = pd.to_datetime(d["day"]).astype("datetime64[ns]")
        d["n_events"] = d["n_events"].astype("int64")
        d = d.sort_values(["user_id", "device", "day"]).reset_index(drop=True)

    info = dict(source or {})
    info.setdefault("n_interactions", len(df))
    info.setdefault("n_users", int(df["user_id"].nunique()))
    info.setdefault("n_titles", len(t))
    if len(df):
        info.setdefault("min_ts", str(df["ts"].iloc[0]))
        info.setdefault("max_ts", str(df["ts"].iloc[-1]))
    info.setdefault("fingerprint", fingerprint(df))
    return InteractionData(
        interactions=df, users=u, titles=t, device_days=d, source=info, user_snapshots=snaps
    )


def _apply_snapshots(users: pd.DataFrame, snaps: pd.DataFrame) -> pd.DataFrame:
    """``users`` with its snapshot columns replaced by each user's latest row of ``snaps``
    (sorted by user_id, ts); users without one get None."""
    names = [f for f in FEAST_USER_FIELDS if f in snaps]
    latest = snaps.drop_duplicates("user_id", keep="last").set_index("user_id")
    out = users.copy()
    for name in names:
        out[name] = out["user_id"].map(latest[name]).astype(object)
        out[name] = out[name].where(out[name].notna(), None)
    return out


def _bucket(values: pd.Series, edges: tuple[int, ...]) -> pd.Series:
    """Counts as labelled buckets ("0", "1-9", ..., "300+"); missing -> None."""
    labels = (
        ["0"]
        + [
            f"{lo}-{hi - 1}" if hi - 1 > lo else str(lo)
            for lo, hi in zip(edges, edges[1:], strict=False)
        ]
        + [f"{edges[-1]}+"]
    )
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(edges, dtype=float), np.nan_to_num(x, nan=-1.0), side="right")
    out = np.array(labels, dtype=object)[np.clip(idx, 0, len(labels) - 1)]
    return pd.Series(np.where(np.isfinite(x), out, None), index=values.index, dtype=object)


def _nth(values: pd.Series, n: int) -> pd.Series:
    """The ``n``-th element of list-like cells (None when absent)."""

    def pick(v: Any) -> Any:
        if v is None or isinstance(v, (str, float)):
            return None
        try:
            items = list(v)
        except TypeError:
            return None
        return items[n] if len(items) > n else None

    return values.map(pick).astype(object)


FEAST_COLUMNS = {
    "top_genre": "user_genre_affinity__top_genres",
    "second_genre": "user_genre_affinity__top_genres",
    "engagement_level": "user_engagement__lifetime_interactions",
    "activity_30d": "user_engagement__interactions_30d",
    "primary_device": "user_engagement__primary_device_30d",
}
"""The Feast training-set column each of `FEAST_USER_FIELDS` is derived from."""


def feast_user_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """`FEAST_USER_FIELDS` of each row of a Feast training set (columns named
    ``view__feature``): first / second of the top genres, lifetime engagement bucket, last-30-day
    activity bucket, primary device. A column the set lacks gives None (unknown)."""
    out = pd.DataFrame(index=frame.index)
    for name, column in FEAST_COLUMNS.items():
        if column not in frame:
            out[name] = None
        elif name == "top_genre":
            out[name] = _nth(frame[column], 0)
        elif name == "second_genre":
            out[name] = _nth(frame[column], 1)
        elif name == "engagement_level":
            out[name] = _bucket(frame[column], ENGAGEMENT_EDGES)
        elif name == "activity_30d":
            out[name] = _bucket(frame[column], ACTIVITY_EDGES)
        else:
            out[name] = frame[column].astype(object)
    for name in FEAST_USER_FIELDS:
        out[name] = out[name].map(clean_category).astype(object)
    return out


def _as_genres(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.split("|")
    else:
        try:
            parts = list(value)
        except TypeError:
            return []
    out: list[str] = []
    for p in parts:
        c = clean_category(p)
        if c is not None and c not in out:
            out.append(c)
    return out


def fingerprint(interactions: pd.DataFrame) -> str:
    """Content hash of (user_id, title_id, ts): identifies the data snapshot a model saw."""
    h = hashlib.sha256()
    if len(interactions):
        hashed = pd.util.hash_pandas_object(
            interactions[["user_id", "title_id", "ts"]], index=False
        ).to_numpy()
        h.update(hashed.tobytes())
    return h.hexdigest()[:16]


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def _read_side_tables(
    con: duckdb.DuckDBPyConnection,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(users with `DEMOGRAPHIC_FIELDS`, titles, device_days or None) from the marts."""
    ucols = _columns(con, "marts", "dim_users")
    select = ", ".join(
        f"{c}::varchar as {c}" if c in ucols else f"null::varchar as {c}"
        for c in DEMOGRAPHIC_FIELDS
    )
    users = con.execute(f"select user_id::varchar as user_id, {select} from marts.dim_users").df()
    tcols = _columns(con, "marts", "dim_titles")
    language = "language::varchar" if "language" in tcols else "null::varchar"
    titles = con.execute(
        f"""
        select title_id::varchar as title_id, genres, release_year, kind,
               {language} as language, in_catalogue
        from marts.dim_titles
        """
    ).df()
    device_days = None
    if "device" in _columns(con, "staging", "stg_events"):
        device_days = con.execute(
            """
            select user_id::varchar as user_id, device, event_date::timestamp as day,
                   count(*) as n_events
            from staging.stg_events where device is not null
            group by all
            """
        ).df()
    return users, titles, device_days


def _open_warehouse(warehouse_path: str | Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    path = Path(warehouse_path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"warehouse not found: {path}")
    return path, duckdb.connect(str(path), read_only=True)


def load_interactions(warehouse_path: str | Path) -> InteractionData:
    """Read the marts a retrieval model needs (read-only connection, closed before returning)."""
    path, con = _open_warehouse(warehouse_path)
    try:
        interactions = con.execute(
            """
            select user_id::varchar as user_id, title_id::varchar as title_id,
                   first_interaction_ts as ts, interaction_strength as strength, is_positive
            from marts.fct_interactions
            """
        ).df()
        users, titles, device_days = _read_side_tables(con)
    finally:
        con.close()
    source = {"kind": "warehouse", "path": str(path)}
    return make_interaction_data(interactions, users, titles, device_days, source)


def interaction_data_from_training_set(
    parquet_path: str | Path,
    warehouse_path: str | Path,
    positives_only: bool = False,
) -> InteractionData:
    """An `InteractionData` from the Feast point-in-time training set
    (``$MARQUEE_HOME/feast/training/interactions.parquet``).

    - interactions: its real rows (``sampled_negative`` false; ``positives_only``: only
      ``label = 1``) as (user_id, title_id, ts = event_timestamp, strength =
      interaction_strength, is_positive = label). Sampled negatives are not used: the two-tower
      model draws its negatives in-batch.
    - users: `FEAST_USER_FIELDS` from the Feast columns, point-in-time: one snapshot per
      (user, event_timestamp) row, kept in ``user_snapshots`` (`InteractionData.as_of` picks
      those before a cutoff); `DEMOGRAPHIC_FIELDS`, which Feast does not hold, from
      ``marts.dim_users``.
    - titles and device_days: from the warehouse, as in `load_interactions`.
    """
    ppath = Path(parquet_path).expanduser().resolve()
    if not ppath.exists():
        raise FileNotFoundError(f"training set not found: {ppath}")
    frame = pd.read_parquet(ppath)
    missing = [c for c in ("user_id", "title_id", "event_timestamp", "label") if c not in frame]
    if missing:
        raise ValueError(f"{ppath} lacks column(s) {missing}")
    ts = pd.to_datetime(frame["event_timestamp"], utc=True).dt.tz_convert(None)
    label = pd.to_numeric(frame["label"], errors="coerce").fillna(0).astype(int)
    sampled = (
        frame["sampled_negative"].fillna(False).astype(bool)
        if "sampled_negative" in frame
        else pd.Series(False, index=frame.index)
    )
    real = (label == 1) if positives_only else ~sampled
    strength = (
        pd.to_numeric(frame["interaction_strength"], errors="coerce").fillna(0.0)
        if "interaction_strength" in frame
        else pd.Series(1.0, index=frame.index)
    )
    interactions = pd.DataFrame(
        {
            "user_id": frame["user_id"].astype(str),
            "title_id": frame["title_id"].astype(str),
            "ts": ts,
            "strength": strength.astype(float),
            "is_positive": label == 1,
        }
    )[real.to_numpy()]
    snapshots = pd.concat(
        [
            pd.DataFrame({"user_id": frame["user_id"].astype(str), "ts": ts}),
            feast_user_fields(frame),
        ],
        axis=1,
    )
    wpath, con = _open_warehouse(warehouse_path)
    try:
        users, titles, device_days = _read_side_tables(con)
    finally:
        con.close()
    source = {
        "kind": "feast_training_set",
        "path": str(ppath),
        "warehouse": str(wpath),
        "training_set_rows": len(frame),
        "positives_only": bool(positives_only),
        "user_fields_from_feast": {
            f: FEAST_COLUMNS[f] for f in FEAST_USER_FIELDS if FEAST_COLUMNS[f] in frame
        },
        "user_fields_from_warehouse": list(DEMOGRAPHIC_FIELDS),
    }
    return make_interaction_data(interactions, users, titles, device_days, source, snapshots)
