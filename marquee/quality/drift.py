"""Distribution drift and volume of the marts against the previous materialization.

A *profile* summarises one materialization of the marts (row counts, genre shares of
interactions, interactions per user, concentration, mean rating). Profiles are kept as JSON
in ``$MARQUEE_HOME/reports/data_quality/state/marts_profile.json``: the current one and the
one before. Checking a materialization compares its profile with the previous one; checking
the same materialization again (a re-executed check) compares with the same baseline.

Statistics (thresholds in `QualityConfig`):

- ``genre_psi``: population stability index of the share of fct_interactions rows per primary
  genre of the title: sum((p - q) * ln(p / q)), shares floored at 1e-4.
- ``interactions_per_user_psi``: PSI of engaged users' interaction counts (dim_users.
  n_interactions > 0), binned at the previous materialization's deciles.
- ``top_users_share_change``: absolute change of the share of engagement events
  (sum of fct_interactions.n_events) held by the top 1% of engaged users (at least one).
- ``rating_mean_shift``: absolute change of the mean latest rating of fct_interactions.
- ``row_count_change`` per mart: (rows - previous rows) / previous rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marquee.quality.data import MARTS, mart, row_counts

if TYPE_CHECKING:
    import duckdb

EPSILON = 1e-4
STATE_FILE = "marts_profile.json"


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index of two share distributions over the same categories."""
    keys = set(expected) | set(actual)
    total = 0.0
    for k in keys:
        p = max(actual.get(k, 0.0), EPSILON)
        q = max(expected.get(k, 0.0), EPSILON)
        total += (p - q) * math.log(p / q)
    return total


def total_variation(expected: dict[str, float], actual: dict[str, float]) -> float:
    keys = set(expected) | set(actual)
    return 0.5 * sum(abs(actual.get(k, 0.0) - expected.get(k, 0.0)) for k in keys)


def decile_edges(values: np.ndarray) -> list[float]:
    if len(values) == 0:
        return []
    return sorted({float(v) for v in np.quantile(values, np.linspace(0.1, 0.9, 9))})


def bin_shares(values: np.ndarray, edges: list[float]) -> dict[str, float]:
    """Shares of values in (-inf, e1], (e1, e2], ..., (ek, inf)."""
    if len(values) == 0:
        return {}
    idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return {f"bin{i}": float(c) / len(values) for i, c in enumerate(counts)}


def mart_profile(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    genres = con.execute(
        f"""
        SELECT coalesce(t.primary_genre, '(unknown)') AS genre, count(*) AS n
        FROM {mart('fct_interactions')} f LEFT JOIN {mart('dim_titles')} t USING (title_id)
        GROUP BY 1
        """
    ).fetchall()
    total = sum(n for _, n in genres)
    per_user = con.execute(
        f"SELECT n_interactions::DOUBLE AS n FROM {mart('dim_users')} WHERE n_interactions > 0"
    ).fetchnumpy()["n"]
    per_user = np.asarray(per_user, dtype=float)
    user_events = con.execute(
        f"SELECT sum(n_events)::DOUBLE AS n FROM {mart('fct_interactions')} GROUP BY user_id ORDER BY n DESC"
    ).fetchnumpy()["n"]
    user_events = np.asarray(user_events, dtype=float)
    top_k = max(1, math.ceil(0.01 * len(user_events)))
    top_share = float(user_events[:top_k].sum() / user_events.sum()) if user_events.sum() else 0.0
    (rating_mean,) = con.execute(f"SELECT avg(latest_rating) FROM {mart('fct_interactions')}").fetchone()
    quantiles = (
        {f"p{int(q * 100)}": float(np.quantile(per_user, q)) for q in (0.5, 0.9, 0.99)}
        | {"max": float(per_user.max())}
        if len(per_user)
        else {}
    )
    edges = decile_edges(per_user)
    return {
        "row_counts": row_counts(con),
        "genre_shares": {g: n / total for g, n in genres} if total else {},
        "engaged_users": len(per_user),
        "interactions_per_user_quantiles": quantiles,
        "interactions_per_user_edges": edges,
        "interactions_per_user_bins": bin_shares(per_user, edges),
        "top_users": top_k,
        "top_users_share": top_share,
        "rating_mean": None if rating_mean is None else float(rating_mean),
        "_per_user": per_user,  # not persisted: used to bin against the previous edges
    }


def compare(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """Drift and volume statistics of ``current`` against ``previous`` (None: no baseline)."""
    out: dict[str, Any] = {"row_count_change": {}, "drift": {}}
    if previous is None:
        return out
    for m in MARTS:
        before = previous.get("row_counts", {}).get(m)
        now = current["row_counts"].get(m)
        if before and now is not None:
            out["row_count_change"][m] = (now - before) / before
    drift = out["drift"]
    if previous.get("genre_shares") and current["genre_shares"]:
        drift["genre_psi"] = psi(previous["genre_shares"], current["genre_shares"])
        drift["genre_tvd"] = total_variation(previous["genre_shares"], current["genre_shares"])
    if previous.get("interactions_per_user_bins") and len(current["_per_user"]):
        now_bins = bin_shares(current["_per_user"], previous["interactions_per_user_edges"])
        drift["interactions_per_user_psi"] = psi(previous["interactions_per_user_bins"], now_bins)
    if previous.get("engaged_users"):
        drift["top_users_share_change"] = abs(current["top_users_share"] - previous["top_users_share"])
    if previous.get("rating_mean") is not None and current["rating_mean"] is not None:
        drift["rating_mean_shift"] = abs(current["rating_mean"] - previous["rating_mean"])
    return out


def persistable(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in profile.items() if not k.startswith("_")}


class ProfileState:
    """``{"current": {id, profile, at}, "previous": {...}}`` in one JSON file."""

    def __init__(self, directory: Path):
        self.path = directory / STATE_FILE

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def baseline_for(self, materialization_id: str) -> dict[str, Any] | None:
        """The profile to compare materialization ``materialization_id`` with."""
        state = self.load()
        current = state.get("current")
        if current and current.get("id") == materialization_id:
            entry = state.get("previous")
        else:
            entry = current
        return entry.get("profile") if entry else None

    def record(self, materialization_id: str, profile: dict[str, Any]) -> None:
        state = self.load()
        current = state.get("current")
        entry = {
            "id": materialization_id,
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "profile": persistable(profile),
        }
        if current and current.get("id") == materialization_id:
            new = {"current": entry, "previous": state.get("previous")}
        else:
            new = {"current": entry, "previous": current}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(new, indent=1, sort_keys=True))
        tmp.replace(self.path)
