"""Offline -> online: materialize every feature view, windows in data time.

Feast's ``materialize-incremental`` starts a never-materialized view at now - TTL, which loads
nothing for data from the past (MovieLens 1998). So, per feature view:

``full``
    The first time (no materialization recorded in the registry), or when the view's features
    or source changed: an explicit window from the earliest to the latest
    ``event_timestamp`` of the view's source (the data's own time).
``incremental``
    Afterwards: ``materialize_incremental`` up to the latest ``event_timestamp``, from where
    the previous run ended.
``replay``
    Rows can arrive late (files land in any order; dbt recomputes the days they touch). Rows
    whose ``created_timestamp`` is newer than what the previous run saw, but whose
    ``event_timestamp`` is older than where it ended, are replayed with an explicit window
    from the earliest such row.
``up_to_date``
    Nothing new.

Views without a created timestamp (the catalogue) are always re-materialized in full: one
row per title. What each run saw is kept in ``$MARQUEE_HOME/feast/materialization.json``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
from feast import FeatureStore, FeatureView

from marquee.config import MarqueeHome
from marquee.features.exports import sql_string

# Feast's window filter is inclusive; one second past the newest row keeps it in.
END_MARGIN = dt.timedelta(seconds=1)


@dataclass
class ViewMaterialization:
    feature_view: str
    mode: str  # full | incremental | replay | up_to_date | empty
    start: str | None
    end: str | None
    rows_in_window: int
    entities_in_window: int
    seconds: float


def state_path(home: MarqueeHome) -> Path:
    return home.feast / "materialization.json"


def _load_state(home: MarqueeHome) -> dict:
    path = state_path(home)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def _save_state(home: MarqueeHome, state: dict) -> None:
    path = state_path(home)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def _utc(value) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _definition(fv: FeatureView) -> str:
    """What the online rows of a view are made of: a change means they must all be rewritten."""
    fields = ",".join(f"{f.name}:{f.dtype}" for f in fv.features)
    return f"{fv.batch_source.path}|{fields}"


def _source_profile(fv: FeatureView, since_created: dt.datetime | None) -> dict:
    """min/max event time, newest created time, earliest event time of rows created after
    ``since_created`` -- read straight from the view's Parquet source."""
    source = fv.batch_source
    path = source.path
    ts = source.timestamp_field
    created = source.created_timestamp_column or None
    if not Path(path).exists():
        return {"rows": 0}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        cols = f'count(*), min("{ts}"), max("{ts}")'
        if created:
            late = "NULL"
            if since_created is not None:
                late = f"min(\"{ts}\") FILTER (WHERE \"{created}\" > $since)"
            cols += f', max("{created}"), {late}'
        params = {"since": since_created} if created and since_created is not None else {}
        row = con.execute(f"SELECT {cols} FROM read_parquet({sql_string(path)})", params).fetchone()
    finally:
        con.close()
    profile = {"rows": int(row[0]), "min": _utc(row[1]), "max": _utc(row[2])}
    if created:
        profile["max_created"] = _utc(row[3])
        profile["late_min"] = _utc(row[4])
    return profile


def _window_counts(fv: FeatureView, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    source = fv.batch_source
    keys = ", ".join(f'"{c.name}"' for c in fv.entity_columns)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows, entities = con.execute(
            f"SELECT count(*), count(DISTINCT ({keys})) FROM read_parquet({sql_string(source.path)}) "
            f'WHERE "{source.timestamp_field}" BETWEEN $start AND $end',
            {"start": start, "end": end},
        ).fetchone()
    finally:
        con.close()
    return int(rows), int(entities)


def materialize_all(
    store: FeatureStore, home: MarqueeHome, feature_views: list[str] | None = None
) -> list[ViewMaterialization]:
    """Bring the online store up to date with the offline exports (see module docstring)."""
    state = _load_state(home)
    results = []
    views = [fv for fv in store.list_feature_views() if fv.online]
    if feature_views is not None:
        views = [fv for fv in views if fv.name in feature_views]
    for fv in sorted(views, key=lambda v: v.name):
        started = time.perf_counter()
        seen = state.get(fv.name, {})
        watermark = _utc(dt.datetime.fromisoformat(seen["max_created"])) if seen.get("max_created") else None
        profile = _source_profile(fv, watermark)
        if not profile["rows"]:
            results.append(ViewMaterialization(fv.name, "empty", None, None, 0, 0, 0.0))
            continue
        end = profile["max"] + END_MARGIN
        previous_end = _utc(fv.most_recent_end_time)
        has_created = "max_created" in profile
        definition = _definition(fv)
        if previous_end is None or not has_created or seen.get("definition") != definition:
            mode, start = "full", profile["min"]
        elif profile.get("late_min") is not None and profile["late_min"] < previous_end:
            mode, start = "replay", profile["late_min"]
        elif end > previous_end:
            mode, start = "incremental", previous_end
        else:
            mode, start = "up_to_date", None

        rows = entities = 0
        # Feast prints its progress on stdout; our caller reports the summary instead.
        if mode in ("full", "replay"):
            rows, entities = _window_counts(fv, start, end)
            with contextlib.redirect_stdout(io.StringIO()):
                store.materialize(start_date=start, end_date=end, feature_views=[fv.name])
        elif mode == "incremental":
            rows, entities = _window_counts(fv, start, end)
            with contextlib.redirect_stdout(io.StringIO()):
                store.materialize_incremental(end_date=end, feature_views=[fv.name])
        state[fv.name] = {
            "definition": definition,
            "max_created": _iso(profile.get("max_created")),
            "max_event_timestamp": _iso(profile["max"]),
            "end": _iso(end),
        }
        results.append(
            ViewMaterialization(
                fv.name, mode, _iso(start), _iso(end) if start else None, rows, entities,
                round(time.perf_counter() - started, 3),
            )
        )
    _save_state(home, state)
    return results


def as_dicts(results: list[ViewMaterialization]) -> list[dict]:
    return [asdict(r) for r in results]


def online_mismatches(store: FeatureStore, home: MarqueeHome, sample: int = 50) -> dict:
    """Compare the online store with the latest offline row of up to ``sample`` entities per
    feature view (deterministic sample). Pushes since the last materialization show up here
    too: live values are newer than the warehouse until the next run."""
    from marquee.features import names as N
    from marquee.features.online import OnlineFeatureReader

    reader = OnlineFeatureReader(store, N.RANKING)  # every feature of every view
    checked = 0
    mismatches: list[dict] = []
    try:
        for fv in sorted(store.list_feature_views(), key=lambda v: v.name):
            if not fv.online or not Path(fv.batch_source.path).exists():
                continue
            (key,) = [c.name for c in fv.entity_columns]
            source = fv.batch_source
            order = f'"{source.timestamp_field}" DESC'
            if source.created_timestamp_column:
                order += f', "{source.created_timestamp_column}" DESC'
            features = [f.name for f in fv.features]
            con = duckdb.connect()
            try:
                # the latest row per entity (nulls included: arg_max would skip them)
                latest = con.execute(
                    f'SELECT "{key}", ' + ", ".join(f'"{f}"' for f in features)
                    + f" FROM read_parquet({sql_string(source.path)}) "
                    f'QUALIFY row_number() OVER (PARTITION BY "{key}" ORDER BY {order}) = 1 '
                    f'ORDER BY hash("{key}") LIMIT {int(sample)}'
                ).to_arrow_table().to_pylist()
            finally:
                con.close()
            ids = [row[key] for row in latest]
            online = reader.read(key, ids)
            if f"{fv.name}__{features[0]}" not in online:
                continue  # a view outside the ranking service
            for i, row in enumerate(latest):
                checked += 1
                for feature in features:
                    got = online[f"{fv.name}__{feature}"][i]
                    if got != row[feature]:
                        mismatches.append({"feature_view": fv.name, key: row[key], "feature": feature,
                                           "offline": row[feature], "online": got})
                        break
    finally:
        reader.close()
    return {"entities_checked": checked, "mismatches": mismatches}

