"""Feast feature store (issue 4): real registry, DuckDB offline store, SQLite online store.

The warehouse is written by hand (tables shaped like the dbt marts and staging.stg_events)
so every expected value is known, and dated 1998 so Feast's now - TTL trap would bite.
The store is built by the Dagster assets themselves (``dg.materialize``).

u1 engages with t1 (Drama, Comedy) on 1998-03-01 on the TV and with t2 (Action) on
1998-03-05 on a phone. Each daily snapshot of day D becomes valid at D + 1 day 00:00 UTC, so
at 1998-03-05 21:00 -- after the t2 play, before midnight -- the features must still show
only the 1998-03-01 activity; any leak of the same day's events changes every value checked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from marquee.config import REPO_ROOT, MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.features import names as N
from marquee.features.config import render_feature_store_yaml

UTC = dt.UTC


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# ----------------------------------------------------------------- hand-made warehouse

EVENTS = [
    # user, title, type, time, device, rating
    ("u1", "t1", "play_start", "1998-03-01 10:00:00", "tv", None),
    ("u1", "t1", "rating", "1998-03-01 10:30:00", "tv", 4.0),
    ("u2", "t2", "play_start", "1998-03-02 09:00:00", "tv", None),
    ("u1", "t3", "impression", "1998-03-05 19:59:00", "mobile", None),
    ("u1", "t2", "play_start", "1998-03-05 20:00:00", "mobile", None),
]
INGESTED = "2026-01-01 00:00:00"

TITLES = [
    ("t1", ["Drama", "Comedy"], "movie", 1994, 120, "PG", "en"),
    ("t2", ["Action"], "series", 2001, 45, "TV-14", "en"),
    ("t3", ["Drama"], "movie", 1988, 95, "R", "fr"),
]

USER_COLUMNS = [
    "interactions_1d", "interactions_7d", "interactions_30d", "plays_7d", "plays_30d",
    "watch_seconds_30d", "completion_rate_30d", "ratings_count_30d", "mean_rating_30d",
    "active_days_30d", "lifetime_interactions", "lifetime_mean_rating", "days_since_first_event",
]
# (user, feature_date, interactions 1d/7d/30d, plays 7d/30d, ratings_count_30d, mean_rating_30d,
#  active_days_30d, lifetime_interactions)
USER_DAYS = [
    ("u1", "1998-03-01", 2, 2, 2, 1, 1, 1, 4.0, 1, 2),
    ("u1", "1998-03-02", 0, 2, 2, 1, 1, 1, 4.0, 1, 2),
    ("u1", "1998-03-05", 1, 3, 3, 2, 2, 1, 4.0, 2, 3),
    ("u2", "1998-03-02", 1, 1, 1, 1, 1, 0, None, 1, 1),
    ("u2", "1998-03-03", 0, 1, 1, 1, 1, 0, None, 1, 1),
]
# (title, feature_date, interactions_7d, lifetime_interactions)
TITLE_DAYS = [
    ("t1", "1998-03-01", 2, 2),
    ("t2", "1998-03-02", 1, 1),
    ("t2", "1998-03-05", 2, 2),
]


def _user_rows(days) -> pd.DataFrame:
    rows = []
    for user, day, i1, i7, i30, p7, p30, rc, rm, active, life in days:
        d = dt.date.fromisoformat(day)
        rows.append({
            "user_id": user, "feature_date": d,
            "event_timestamp": dt.datetime.combine(d + dt.timedelta(days=1), dt.time()),
            "created_timestamp": dt.datetime.fromisoformat(INGESTED),
            "interactions_1d": i1, "interactions_7d": i7, "interactions_30d": i30,
            "plays_7d": p7, "plays_30d": p30, "watch_seconds_30d": 0.0,
            "completion_rate_30d": None, "ratings_count_30d": rc, "mean_rating_30d": rm,
            "active_days_30d": active, "lifetime_interactions": life,
            "lifetime_mean_rating": rm, "days_since_first_event": 0,
        })
    return pd.DataFrame(rows)


def _title_rows(days) -> pd.DataFrame:
    rows = []
    for title, day, i7, life in days:
        d = dt.date.fromisoformat(day)
        rows.append({
            "title_id": title, "feature_date": d,
            "event_timestamp": dt.datetime.combine(d + dt.timedelta(days=1), dt.time()),
            "created_timestamp": dt.datetime.fromisoformat(INGESTED),
            "interactions_1d": 0, "interactions_7d": i7, "interactions_30d": i7,
            "users_7d": 1, "users_30d": 1, "plays_7d": i7, "plays_30d": i7,
            "completion_rate_30d": None, "rating_count_30d": 0, "rating_mean_30d": None,
            "lifetime_interactions": life, "lifetime_rating_mean": 4.0, "trend_7d": float(i7),
        })
    return pd.DataFrame(rows)


def write_warehouse(home: MarqueeHome) -> None:
    con = duckdb.connect(str(home.warehouse))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA staging; CREATE SCHEMA marts")
        events = pd.DataFrame(
            [
                {"user_id": u, "title_id": t, "event_type": e,
                 "event_ts": dt.datetime.fromisoformat(when),
                 "event_date": dt.date.fromisoformat(when[:10]), "device": dev, "rating": r,
                 "_ingested_at": dt.datetime.fromisoformat(INGESTED)}
                for u, t, e, when, dev, r in EVENTS
            ]
        )
        con.register("events_df", events)
        con.execute("CREATE TABLE staging.stg_events AS SELECT * FROM events_df")
        titles = pd.DataFrame(
            [
                {"title_id": t, "in_catalogue": True, "genres": g, "primary_genre": g[0], "kind": k,
                 "release_year": y, "runtime_minutes": rt, "maturity_rating": m, "language": lang}
                for t, g, k, y, rt, m, lang in TITLES
            ]
        )
        con.register("titles_df", titles)
        con.execute(
            "CREATE TABLE marts.dim_titles AS SELECT title_id, in_catalogue, "
            "CAST(genres AS VARCHAR[]) AS genres, primary_genre, kind, "
            "CAST(release_year AS INTEGER) AS release_year, "
            "CAST(runtime_minutes AS INTEGER) AS runtime_minutes, maturity_rating, language "
            "FROM titles_df"
        )
        for name, df in (
            ("fct_user_daily_features", _user_rows(USER_DAYS)),
            ("fct_title_daily_features", _title_rows(TITLE_DAYS)),
        ):
            con.register("df", df)
            con.execute(f"CREATE TABLE marts.{name} AS SELECT * FROM df")
            con.unregister("df")
        con.execute(
            """
            CREATE TABLE marts.fct_interactions AS
            SELECT md5(user_id || '|' || title_id) AS interaction_id, user_id, title_id,
                   min(event_ts) AS first_interaction_ts, true AS is_positive,
                   1.0 AS interaction_strength
            FROM staging.stg_events WHERE event_type <> 'impression' GROUP BY user_id, title_id
            """
        )
    finally:
        con.close()


def add_user_days(home: MarqueeHome, days, ingested: str) -> None:
    df = _user_rows(days)
    df["created_timestamp"] = dt.datetime.fromisoformat(ingested)
    con = duckdb.connect(str(home.warehouse))
    try:
        con.register("df", df)
        con.execute("INSERT INTO marts.fct_user_daily_features SELECT * FROM df")
    finally:
        con.close()


# ----------------------------------------------------------------- the store, via Dagster


@dataclass
class Built:
    home: MarqueeHome
    store: object
    metadata: dict[str, dict]


def run_feature_assets(home: MarqueeHome, selection: list[str] | None = None) -> dict[str, dict]:
    from orchestration.assets.features import ASSETS, CHECKS, feast_resources
    from orchestration.resources import WarehouseResource

    assets = [a for a in ASSETS if selection is None or a.key.to_user_string() in selection]
    result = dg.materialize(
        [*assets, *CHECKS],
        resources={"warehouse": WarehouseResource(home=str(home.root)), **feast_resources(home)},
        raise_on_error=True,
    )
    assert result.success
    metadata = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    for evaluation in result.get_asset_check_evaluations():
        metadata[evaluation.check_name] = {"passed": evaluation.passed, **{
            k: v.value for k, v in evaluation.metadata.items()
        }}
    return metadata


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    from marquee.features.config import feature_store

    home = MarqueeHome(tmp_path_factory.mktemp("features") / "home").ensure()
    write_warehouse(home)
    metadata = run_feature_assets(home)
    return Built(home, feature_store(home), metadata)


@pytest.fixture(scope="module")
def reader(built):
    from marquee.features.online import OnlineFeatureReader

    r = OnlineFeatureReader(built.store)
    yield r
    r.close()


# ----------------------------------------------------------------- configuration


def test_committed_feature_store_yaml_is_the_local_rendering() -> None:
    committed = (REPO_ROOT / "feature_repo" / "feature_store.yaml").read_text()
    assert committed == render_feature_store_yaml("local", placeholder=True)
    config = yaml.safe_load(committed)
    assert config["registry"]["path"] == "${MARQUEE_HOME}/feast/registry.db"
    assert config["online_store"] == {"type": "sqlite", "path": "${MARQUEE_HOME}/feast/online.db"}
    assert config["offline_store"] == {"type": "duckdb"}


def test_rendering_per_environment(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "h")
    local = yaml.safe_load(render_feature_store_yaml("local", home))
    assert local["online_store"]["path"] == str(home.feast / "online.db")
    assert local["registry"]["path"] == str(home.feast / "registry.db")

    scaled = yaml.safe_load(
        render_feature_store_yaml("scaled", home, redis_url="rediss://:p%40ss@cache.internal:6380/2")
    )
    assert scaled["online_store"] == {
        "type": "redis",
        "redis_type": "redis",
        "connection_string": "cache.internal:6380,db=2,ssl=true,password=p@ss",
    }
    assert scaled["offline_store"] == local["offline_store"]
    assert scaled["registry"] == local["registry"]

    os.environ.pop("MARQUEE_REDIS_URL", None)
    with pytest.raises(MarqueeUserError, match="MARQUEE_REDIS_URL"):
        render_feature_store_yaml("scaled", home)
    with pytest.raises(MarqueeUserError, match="redis://"):
        render_feature_store_yaml("scaled", home, redis_url="http://cache:6379")
    with pytest.raises(MarqueeUserError, match="unknown environment"):
        render_feature_store_yaml("cloud", home)


# ----------------------------------------------------------------- assets and registry


def test_assets_report_what_they_did(built: Built) -> None:
    md = built.metadata
    assert md["feast_registry"]["changed"] is True
    assert md["feast_registry"]["feature_views"] == sorted(N.FEATURE_VIEWS)
    assert md["feast_registry"]["feature_services"] == [N.RANKING, N.RETRIEVAL]
    assert md["feature_exports"]["rows_user_activity"] == len(USER_DAYS)
    assert md["feature_exports"]["rows_title_content"] == len(TITLES)
    # 1998 data: a first window in data time, never Feast's now - TTL.
    assert set(md["online_features"]["modes"].values()) == {"full"}
    assert "1998-03-02" in md["online_features"]["feature_views"]
    assert md["training_dataset"]["dagster/row_count"] >= 3
    check = md["online_matches_latest_offline"]
    # users u1, u2 in three user views; titles t1, t2 with snapshots, t1-t3 in the catalogue
    assert check["passed"] and check["entities_checked"] == 3 * 2 + 2 + 3


def test_registry_apply_is_idempotent_and_keeps_materialization(built: Built) -> None:
    from marquee.features.repo import apply_repo

    before = {fv.name: fv.most_recent_end_time for fv in built.store.list_feature_views()}
    summary = apply_repo(built.store, built.home)
    assert not summary.changed and not summary.infra_changed
    built.store.refresh_registry()
    after = {fv.name: fv.most_recent_end_time for fv in built.store.list_feature_views()}
    assert after == before and all(after.values())


def test_feast_cli_sees_the_same_repo(built: Built) -> None:
    env = {**os.environ, "MARQUEE_HOME": str(built.home.root)}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "feast"), "-c", "feature_repo", "plan"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Same objects, same tables. (After a materialization `feast plan` lists the views as
    # "Updated": only their sources' creation stamps differ -- see marquee.features.repo.)
    assert "No changes to infrastructure" in proc.stdout
    assert "Created " not in proc.stdout and "Deleted " not in proc.stdout
    assert not list((REPO_ROOT / "feature_repo").rglob("__pycache__"))


# ----------------------------------------------------------------- offline: point in time


def test_point_in_time_uses_only_earlier_events(built: Built) -> None:
    from marquee.features.training import historical_features

    entity = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u9", "u1", "u2"],
            "title_id": ["t2", "t2", "t2", "t1", "t2", "zz"],
            "event_timestamp": [
                ts("1998-03-05 21:00"),  # after the t2 play, same day: only 03-01 known
                ts("1998-03-06 00:00"),  # the 03-05 snapshot is valid from here
                ts("1998-03-01 23:59"),  # before the first snapshot: nothing
                ts("1998-03-10 00:00"),  # unknown user
                ts("1998-03-05 21:00"),  # a duplicate row stays a row
                ts("1998-03-02 12:00"),  # unknown title
            ],
            "label": [1, 2, 3, 4, 5, 6],
        }
    )
    df = historical_features(built.store, entity, N.RANKING).to_pandas()
    assert df["label"].tolist() == [1, 2, 3, 4, 5, 6]  # every row, in order
    eng = "user_engagement__interactions_7d"
    assert df[eng].tolist()[:2] == [2, 3]
    assert df[eng].isna().tolist() == [False, False, True, True, False, True]
    def as_json(i: int) -> str:
        return json.dumps(df.drop(columns="label").iloc[i].to_dict(), default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v))

    assert as_json(0) == as_json(4)

    recent = df["user_recent_history__recent_titles"]
    assert list(recent[0]) == ["t1"]  # a leak would put t2 in front
    assert list(recent[1]) == ["t2", "t1"]
    assert df["user_engagement__device_mix_30d"][0] == '{"tv":1.0}'
    assert json.loads(df["user_engagement__device_mix_30d"][1]) == {"tv": 0.6667, "mobile": 0.3333}
    assert list(df["user_genre_affinity__top_genres"][0]) == ["Comedy", "Drama"]
    assert json.loads(df["user_genre_affinity__genre_shares"][1]) == {
        "Comedy": 0.4, "Drama": 0.4, "Action": 0.2
    }
    # title t2's 03-05 snapshot (2 interactions) is not yet valid at 21:00 on 03-05
    assert df["title_popularity__interactions_7d"].tolist()[:2] == [1, 2]
    assert df["title_content__kind"].tolist()[:2] == ["series", "series"]
    assert df.loc[5].filter(regex="^title_.*__").isna().all()
    assert df.loc[3].filter(regex="^user_.*__").isna().all()


def test_training_dataset_is_point_in_time(built: Built) -> None:
    from marquee.features.paths import training_dir

    table = pq.read_table(training_dir(built.home) / "interactions.parquet").to_pandas()
    row = table[(table.user_id == "u1") & (table.title_id == "t2")].iloc[0]
    # the t2 play at 1998-03-05 20:00 sees u1 as of the end of 03-01 (2 interactions, t1 only)
    assert row["user_engagement__interactions_7d"] == 2
    assert list(row["user_recent_history__recent_titles"]) == ["t1"]
    assert row["label"] == 1
    negatives = table[table.sampled_negative]
    assert negatives["label"].eq(0).all()
    engaged = {("u1", "t1"), ("u1", "t2"), ("u2", "t2")}
    assert not engaged & set(zip(negatives.user_id, negatives.title_id, strict=True))
    assert not table.duplicated(["user_id", "title_id", "event_timestamp"]).any()


# ----------------------------------------------------------------- online


def _latest_offline(built: Built, users: list[str], titles: list[str]) -> pd.DataFrame:
    from marquee.features.training import historical_features

    entity = pd.DataFrame(
        [(u, t) for u in users for t in titles], columns=["user_id", "title_id"]
    ).assign(event_timestamp=ts("1998-06-01 00:00"))  # after all data, within the TTL
    return historical_features(built.store, entity, N.RANKING).to_pandas()


def _same(a, b) -> bool:
    if a is None or (isinstance(a, float) and pd.isna(a)):
        return b is None or (isinstance(b, float) and pd.isna(b))
    if hasattr(a, "tolist"):
        a = a.tolist()
    return a == b


def test_online_equals_latest_offline(built: Built, reader) -> None:
    users, titles = ["u1", "u2", "nobody"], ["t1", "t2", "t3", "nothing"]
    offline = _latest_offline(built, users, titles)
    for i, (user, title) in enumerate(zip(offline.user_id, offline.title_id, strict=True)):
        online = reader.ranking_features(user, [title]).to_dict()
        for column in offline.columns:
            if "__" in column:
                assert _same(offline[column][i], online[column][0]), (user, title, column)
    # the direct SQLite read is exactly Feast's own get_online_features
    rows = [{"user_id": u, "title_id": t} for u in users for t in titles]
    feast = built.store.get_online_features(
        features=built.store.get_feature_service(N.RANKING), entity_rows=rows, full_feature_names=True
    ).to_dict()
    for user in users:
        mine = reader.ranking_features(user, titles).to_dict()
        start = users.index(user) * len(titles)
        for column, values in mine.items():
            assert values == feast[column][start : start + len(titles)], column


def test_unknown_entities_come_back_null(built: Built, reader) -> None:
    features = reader.ranking_features("no-such-user", ["t1", "no-such-title", "t1"])
    assert all(v is None for v in features.user.values())
    titles = features.titles
    assert titles["title_content__kind"] == ["movie", None, "movie"]
    assert all(values[1] is None for values in titles.values())
    assert reader.title_features([]) == {name: [] for name in titles}


def test_incremental_and_late_rows(built: Built, reader) -> None:
    from marquee.features.materialize import materialize_all

    # nothing new: nothing but the catalogue is materialized again
    modes = {r.feature_view: r.mode for r in materialize_all(built.store, built.home)}
    assert modes[N.USER_ENGAGEMENT] == "up_to_date" and modes[N.TITLE_CONTENT] == "full"

    # a new day arrives: incremental from where the last run ended
    add_user_days(built.home, [("u2", "1998-03-09", 3, 4, 4, 1, 2, 0, None, 2, 4)], "2026-02-01")
    md = run_feature_assets(built.home, ["feature_exports", "online_features"])
    assert md["online_features"]["modes"][N.USER_ENGAGEMENT] == "incremental"
    assert reader.user_features("u2")["user_engagement__interactions_7d"] == 4

    # a late row for an earlier day (ingested later): replayed, latest value still wins
    add_user_days(built.home, [("u1", "1998-03-04", 0, 2, 2, 1, 1, 1, 4.0, 1, 2)], "2026-03-01")
    md = run_feature_assets(built.home, ["feature_exports", "online_features"])
    assert md["online_features"]["modes"][N.USER_ENGAGEMENT] == "replay"
    assert reader.user_features("u1")["user_engagement__interactions_7d"] == 3
    offline = _latest_offline(built, ["u1", "u2"], ["t1"])
    assert offline["user_engagement__interactions_7d"].tolist() == [3, 4]


def _activity_row(store, user: str, **overrides) -> dict:
    from marquee.features.online import push_schema

    row = {}
    for column, dtype in push_schema(store).items():
        name = str(dtype)
        row[column] = (
            ts("1998-03-10 08:00") if dtype == "timestamp"
            else user if column == "user_id"
            else ["t3"] if name.startswith("Array")
            else 1 if name == "Int64"
            else 0.5 if name == "Float64"
            else "{}"
        )
    row.update(overrides)
    return row


def test_push_changes_the_next_online_read(built: Built, reader) -> None:
    from marquee.features.online import push_user_activity, record_user_events

    before = reader.user_features("u1")
    updated = record_user_events(
        built.store,
        [
            {"event_id": "e1", "user_id": "u1", "title_id": "t3", "event_type": "impression",
             "event_ts": "1998-03-10T08:00:00Z"},
            {"event_id": "e2", "user_id": "u1", "title_id": "t3", "event_type": "play_start",
             "event_ts": "1998-03-10T08:01:00Z"},
            {"event_id": "e3", "user_id": "u1", "title_id": "t1", "event_type": "rating",
             "event_ts": "1998-03-10T09:00:00Z", "rating": 2.0},
        ],
        reader,
    )
    assert updated == 1
    after = reader.user_features("u1")
    assert after["user_engagement__interactions_7d"] == before["user_engagement__interactions_7d"] + 2
    assert after["user_engagement__plays_7d"] == before["user_engagement__plays_7d"] + 1
    assert after["user_engagement__ratings_count_30d"] == 2
    assert after["user_engagement__mean_rating_30d"] == pytest.approx(3.0)
    assert after["user_recent_history__recent_titles"] == ["t1", "t3", "t2"]
    assert after["user_recent_history__recent_title_count"] == 3
    # other features of the view keep their value
    assert after["user_engagement__device_mix_30d"] == before["user_engagement__device_mix_30d"]

    # a brand-new user becomes known online the moment a row is pushed
    assert reader.user_features("u-new")["user_engagement__interactions_7d"] is None
    push_user_activity(built.store, [_activity_row(built.store, "u-new", interactions_7d=7)])
    fresh = reader.user_features("u-new")
    assert fresh["user_engagement__interactions_7d"] == 7
    assert fresh["user_recent_history__recent_titles"] == ["t3"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "recent_titles"}, "missing column(s) ['recent_titles']"),
        ({"set": {"interactions_7d": "seven"}}, "'interactions_7d' expects an integer"),
        ({"set": {"recent_titles": "t1,t2"}}, "'recent_titles' expects a list of strings"),
        ({"set": {"recent_titles": [1, 2]}}, "'recent_titles' expects a list of strings"),
        ({"set": {"mean_rating_30d": "high"}}, "'mean_rating_30d' expects a number"),
        ({"set": {"favourite_colour": "red"}}, "unexpected column(s) ['favourite_colour']"),
        ({"set": {"user_id": None}}, "'user_id' is the entity key and cannot be null"),
        ({"set": {"event_timestamp": "yesterday-ish"}}, "'event_timestamp' needs a timestamp"),
    ],
)
def test_bad_push_is_rejected_and_changes_nothing(built: Built, reader, change, message) -> None:
    from marquee.features.online import PushSchemaError, push_user_activity

    good = _activity_row(built.store, "u2", interactions_7d=99)
    bad = dict(_activity_row(built.store, "u-bad", interactions_7d=99))
    if "drop" in change:  # a column no row has (one row without a key would be a null)
        good.pop(change["drop"])
        bad.pop(change["drop"])
    bad.update(change.get("set", {}))
    before = {u: reader.user_features(u) for u in ("u2", "u-bad")}
    with pytest.raises(PushSchemaError) as info:
        push_user_activity(built.store, [good, bad])  # one bad row rejects the whole push
    assert message in str(info.value)
    assert "nothing written" in str(info.value)
    assert {u: reader.user_features(u) for u in ("u2", "u-bad")} == before
