"""Training data for the retrieval stage, read from the warehouse marts.

`load_interactions(warehouse_path)` is the one place that knows where the data comes from; it
returns an `InteractionData` of plain pandas frames. Swapping the source (e.g. for the Feast
point-in-time training set) means writing another function that returns the same object.

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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

USER_FIELDS = ("age_bucket", "gender", "occupation", "country", "plan")
"""Categorical user attributes used by the user tower (missing ones are simply 'unknown')."""

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
) -> InteractionData:
    """Normalise frames into an `InteractionData` (used by the loader and by tests).

    ``interactions`` needs user_id, title_id, ts; strength / is_positive default to 1 / True.
    Users and titles missing from the side tables are added with unknown attributes, so every
    interaction has a user row and a catalogue row.
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
    return InteractionData(interactions=df, users=u, titles=t, device_days=d, source=info)


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


def load_interactions(warehouse_path: str | Path) -> InteractionData:
    """Read the marts a retrieval model needs (read-only connection, closed before returning)."""
    path = Path(warehouse_path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"warehouse not found: {path}")
    con = duckdb.connect(str(path), read_only=True)
    try:
        interactions = con.execute(
            """
            select user_id::varchar as user_id, title_id::varchar as title_id,
                   first_interaction_ts as ts, interaction_strength as strength, is_positive
            from marts.fct_interactions
            """
        ).df()
        ucols = _columns(con, "marts", "dim_users")
        select = ", ".join(
            f"{c}::varchar as {c}" if c in ucols else f"null::varchar as {c}" for c in USER_FIELDS
        )
        users = con.execute(
            f"select user_id::varchar as user_id, {select} from marts.dim_users"
        ).df()
        tcols = _columns(con, "marts", "dim_titles")
        language = "language::varchar" if "language" in tcols else "null::varchar"
        titles = con.execute(
            f"""
            select title_id::varchar as title_id, genres, release_year, kind,
                   {language} as language, in_catalogue
            from marts.dim_titles
            """
        ).df()
        if "device" in _columns(con, "staging", "stg_events"):
            device_days = con.execute(
                """
                select user_id::varchar as user_id, device, event_date::timestamp as day,
                       count(*) as n_events
                from staging.stg_events where device is not null
                group by all
                """
            ).df()
        else:
            device_days = None
    finally:
        con.close()
    source = {"kind": "warehouse", "path": str(path)}
    return make_interaction_data(interactions, users, titles, device_days, source)
