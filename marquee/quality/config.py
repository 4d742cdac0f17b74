"""Data-quality thresholds: one dataclass with documented defaults.

Precedence, lowest first: the defaults below, then environment variables
``MARQUEE_DQ_<FIELD>`` (e.g. ``MARQUEE_DQ_QUARANTINE_RATE_MAX=0.05``), then Dagster run config
of a check op (``ops: {<check op>: {config: {quarantine_rate_max: 0.05}}}``, see
``orchestration/assets/quality.py``).

Severity: thresholds marked ERROR block downstream assets when crossed; WARN ones show in the
UI and the run goes on.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from marquee.contracts import FUTURE_TOLERANCE_SECONDS

ENV_PREFIX = "MARQUEE_DQ_"


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of every data-quality check (see the module docstring for overrides)."""

    # --- raw layer -------------------------------------------------------------------------
    # ERROR: rows quarantined / rows read, over the files of the latest ingestion of an entity.
    quarantine_rate_max: float = 0.01
    # ERROR: earliest plausible event time. Data-time aware: no recency requirement (MovieLens
    # 1995-2018 passes); catches epoch-0 / unit bugs.
    min_event_ts: str = "1990-01-01T00:00:00+00:00"
    # ERROR: events later than now + this many seconds are "in the future" (contract value).
    future_tolerance_seconds: int = FUTURE_TOLERANCE_SECONDS
    # ERROR: share of NULLs allowed in required fields (event_id, user_id, title_id,
    # event_type, event_ts).
    required_null_rate_max: float = 0.0
    # Tables larger than this are validated on a reservoir sample of this many rows (the
    # metadata says so); aggregates (rates, shares, drift) are always computed on all rows.
    max_rows_validated: int = 500_000

    # --- marts: referential coverage (ERROR) ---------------------------------------------
    # Share of fct_interactions rows whose title / user is not in the catalogue
    # (in_catalogue = false in dim_titles / dim_users).
    missing_title_share_max: float = 0.01
    missing_user_share_max: float = 0.05

    # --- marts: volume against the previous materialization -----------------------------
    # ERROR: relative drop of a mart's row count (0.05 = may lose at most 5% of its rows).
    row_count_drop_max: float = 0.05
    # WARN: relative growth of a mart's row count (1.0 = may at most double).
    row_count_growth_max: float = 1.0

    # --- marts: distribution drift against the previous materialization ------------------
    # ERROR: population stability index of the genre shares of fct_interactions rows
    # (primary genre of the title; 0.1 = small, 0.2 = significant shift).
    genre_psi_max: float = 0.2
    # ERROR: PSI of interactions per user (dim_users.n_interactions of engaged users), binned
    # at the previous materialization's deciles.
    interactions_per_user_psi_max: float = 0.2
    # ERROR: absolute change of the share of engagement events held by the top 1% of users
    # (at least one user) -- catches a flood from a few accounts that PSI over users misses.
    top_users_share_change_max: float = 0.10
    # WARN: absolute change of the mean latest rating (stars).
    rating_mean_shift_max: float = 0.25

    # --- training sets ------------------------------------------------------------------
    # ERROR: share of positive labels must lie in [min, max].
    label_positive_rate_min: float = 0.01
    label_positive_rate_max: float = 0.99
    # ERROR: share of NULLs allowed in each feature column.
    feature_null_rate_max: float = 0.05

    # --- outputs ------------------------------------------------------------------------
    # Render GX Data Docs (static HTML) under reports/data_quality/data_docs/.
    data_docs: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> QualityConfig:
        """Defaults overridden by ``MARQUEE_DQ_<FIELD>`` environment variables."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw.strip() != "":
                values[f.name] = _parse(f, raw.strip())
        return cls(**values)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> QualityConfig:
        """A copy with the non-None ``overrides`` applied (unknown names raise ValueError)."""
        if not overrides:
            return self
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for name, value in overrides.items():
            if name not in known:
                raise ValueError(f"unknown data-quality setting {name!r}")
            if value is not None:
                changes[name] = _parse(known[name], value) if isinstance(value, str) else value
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse(f: dataclasses.Field, raw: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(
            f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {kind}"
        ) from None
    return raw
