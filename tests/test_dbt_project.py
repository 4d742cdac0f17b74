"""The dbt project (dbt_project/) on a small hand-made raw layer, with real `dbt` runs.

One module-scoped fixture runs dbt four times:
  1. `dbt build` on batches 1-5 (snapshot kept for the "initial" assertions),
  2. append batches 6-7 (a late event on an old day, a new day, a title that joins the
     catalogue) and `dbt build` again: the incremental path,
  3. a copy of (2) rebuilt with `dbt run --full-refresh`: must equal (2),
  4. a copy of (1) with a rating of 50 appended: `dbt build -s stg_events` must fail.
Expected values below are computed by hand from the rows in this file.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from dbt_helpers import DbtResult, create_raw, query, run_dbt

LN2 = math.log(2)

# --- the raw layer ---------------------------------------------------------------------------
# Titles: batch 1, then an update file (batch 4) where t1 changes and t2 appears twice (the
# later line wins). t9 is only in events until batch 7 (incremental step).
TITLES_1 = [
    ("t1", "Alpha", "movie", ["Drama"], 2001, 100, "PG", "en"),
    ("t2", "Beta", "series", ["Comedy"], 2019, 50, "TV-14", "en"),
    ("t3", "Gamma", "movie", ["Horror"], 1990, None, "R", "fr"),
]
TITLES_4 = [
    (
        "t1",
        "Alpha (Remastered)",
        " Movie ",
        [" Drama", "Comedy", "Drama", ""],
        2001,
        120,
        "PG",
        "en",
    ),
    ("t2", "Beta v1", "series", ["Comedy"], 2019, 50, "TV-14", "en"),
    ("t2", "Beta v2", "series", ["Comedy", "Family"], 2019, 60, "TV-14", "en"),
]
TITLES_7 = [("t9", "Delta", "movie", ["Action"], 2024, 20, "PG-13", "en")]
# Users: u3 never appears in the users catalogue; u1 changes plan in batch 5.
USERS_2 = [
    ("u1", "2023-05-01", "us", "Basic", 30, "F", "engineer"),
    ("u2", None, "GB", "standard", 17, "M", "student"),
]
USERS_5 = [("u1", "2023-05-01", "us", "Premium", 30, "F", "engineer")]
# Events: (event_id, user, title, type, ts, watch_seconds, rating, device, country)
EVENTS_3 = [
    # u1: sessions 10:00-10:01, 11:31-11:32 (a 90-minute gap), 14:00-14:05
    ("e01", "u1", "t1", "impression", "2024-01-01T10:00:00Z", None, None, " TV ", "us"),
    ("e02", "u1", "t1", "play_start", "2024-01-01T10:01:00Z", None, None, "tv", "US"),
    ("e03", "u1", "t1", "play_stop", "2024-01-01T11:31:00Z", 5400, None, "tv", "US"),
    ("e04", "u1", "t1", "rating", "2024-01-01T11:32:00Z", None, 4.5, "tv", "US"),
    ("e05", "u1", "t2", "impression", "2024-01-01T14:00:00Z", None, None, "web", "US"),
    ("e06", "u1", "t2", "thumbs_down", "2024-01-01T14:05:00Z", None, None, "web", "US"),
    ("e07", "u1", "t3", "impression", "2024-01-02T20:00:00Z", None, None, "web", "US"),
    ("e08", "u1", "t3", "impression", "2024-01-02T20:00:30Z", None, None, "web", "US"),
    ("e09", "u1", "t3", "add_to_list", "2024-01-03T09:00:00Z", None, None, "web", "US"),
    # u2: a rating changed from 2 to 4, a thumbs up then down, a play of t9 (no catalogue row)
    ("e10", "u2", "t1", "rating", "2024-01-02T08:00:00Z", None, 2.0, "mobile", "GB"),
    ("e11", "u2", "t2", "thumbs_up", "2024-01-02T08:10:00Z", None, None, "mobile", "GB"),
    ("e12", "u2", "t9", "play_start", "2024-01-02T08:20:00Z", None, None, "mobile", "GB"),
    ("e13", "u2", "t9", "play_stop", "2024-01-02T08:30:00Z", 600, None, "mobile", "GB"),
    ("e14", "u2", "t2", "thumbs_down", "2024-01-04T12:00:00Z", None, None, "mobile", "GB"),
    ("e15", "u2", "t1", "rating", "2024-01-05T12:00:00Z", None, 4.0, "mobile", "GB"),
    # u3 (not in the users catalogue): 23:30 New York time is 04:30 UTC the next day
    ("e16", "u3", "t2", "play_start", "2024-01-01T23:30:00-05:00", None, None, " Mobile ", " fr "),
    ("e17", "u3", "t2", "play_stop", "2024-01-02T05:30:00Z", 7200, None, "mobile", "FR"),
    ("e18", "u3", "t2", "rating", "2024-01-10T09:00:00Z", None, 1.0, "mobile", "FR"),
    ("e19", "u3", "t1", "impression", "2024-02-15T09:00:00Z", None, None, "mobile", "FR"),
]
EVENTS_6 = [
    ("e20", "u1", "t2", "play_start", "2024-01-03T21:00:00Z", None, None, "tv", "US"),
    ("e21", "u2", "t3", "rating", "2024-02-20T10:00:00Z", None, 5.0, "mobile", "GB"),
]

MARTS = [
    "fct_interactions",
    "dim_users",
    "dim_titles",
    "fct_user_daily_features",
    "fct_title_daily_features",
]
COMPARED = [
    *(f"marts.{m}" for m in MARTS),
    "staging.stg_events",
    "staging.stg_titles",
    "staging.stg_users",
    "intermediate.int_sessions",
    "intermediate.int_user_title_interactions",
    "intermediate.int_user_daily_activity",
    "intermediate.int_title_daily_activity",
]


def _ingested_at(batch: int) -> str:
    return f"2024-03-01 {batch:02d}:00:00+00"


def add_titles(con: duckdb.DuckDBPyConnection, batch: int, rows: list[tuple]) -> None:
    con.executemany(
        "INSERT INTO raw.titles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (*row, f"titles-{batch}.jsonl", line, batch, _ingested_at(batch))
            for line, row in enumerate(rows, start=1)
        ],
    )


def add_users(con: duckdb.DuckDBPyConnection, batch: int, rows: list[tuple]) -> None:
    con.executemany(
        "INSERT INTO raw.users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (*row, f"users-{batch}.csv", line, batch, _ingested_at(batch))
            for line, row in enumerate(rows, start=1)
        ],
    )


def add_events(con: duckdb.DuckDBPyConnection, batch: int, rows: list[tuple]) -> None:
    con.executemany(
        "INSERT INTO raw.events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                *row,
                "row-1" if row[3] == "impression" else None,
                0 if row[3] == "impression" else None,
                f"events-{batch}.jsonl",
                line,
                batch,
                _ingested_at(batch),
            )
            for line, row in enumerate(rows, start=1)
        ],
    )


@dataclass
class Built:
    initial: Path  # after `dbt build` of batches 1-5
    incremental: Path  # + batches 6-7, incremental `dbt build`
    full_refresh: Path  # copy of `incremental` rebuilt with --full-refresh
    runs: dict[str, DbtResult]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("dbt_project")
    # Every run uses the same warehouse path and target/: dbt's partial parsing is only reused
    # when the profile (which includes the path) is unchanged. Results are kept as copies.
    work = root / "dbt"
    warehouse = root / "warehouse.duckdb"
    create_raw(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        add_titles(con, 1, TITLES_1)
        add_users(con, 2, USERS_2)
        add_events(con, 3, EVENTS_3)
        add_titles(con, 4, TITLES_4)
        add_users(con, 5, USERS_5)
    runs = {"initial": run_dbt(["build"], warehouse, work, check=False)}
    assert runs["initial"].ok, runs["initial"].output
    initial = root / "initial.duckdb"
    shutil.copy(warehouse, initial)

    with duckdb.connect(str(warehouse)) as con:
        add_events(con, 6, EVENTS_6)
        add_titles(con, 7, TITLES_7)
    runs["incremental"] = run_dbt(["build"], warehouse, work, check=False)
    assert runs["incremental"].ok, runs["incremental"].output
    incremental = root / "incremental.duckdb"
    shutil.copy(warehouse, incremental)

    runs["full_refresh"] = run_dbt(["run", "--full-refresh"], warehouse, work, check=False)
    assert runs["full_refresh"].ok, runs["full_refresh"].output
    full_refresh = root / "full_refresh.duckdb"
    shutil.copy(warehouse, full_refresh)

    shutil.copy(initial, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        add_events(
            con, 8, [("e99", "u1", "t1", "rating", "2024-01-06T10:00:00Z", None, 50.0, "tv", "US")]
        )
    runs["bad"] = run_dbt(["build", "--select", "stg_events"], warehouse, work, check=False)
    return Built(initial, incremental, full_refresh, runs)


def one(path: Path, sql: str, params: list | None = None) -> tuple:
    rows = query(path, sql, params)
    assert len(rows) == 1, rows
    return rows[0]


def interaction(path: Path, user: str, title: str) -> dict:
    cols = [r[0] for r in query(path, "SELECT column_name FROM (DESCRIBE marts.fct_interactions)")]
    row = one(
        path,
        "SELECT * FROM marts.fct_interactions WHERE user_id = ? AND title_id = ?",
        [user, title],
    )
    return dict(zip(cols, row, strict=True))


def user_feature(path: Path, user: str, day: str, column: str):
    return one(
        path,
        f"SELECT {column} FROM marts.fct_user_daily_features WHERE user_id = ? AND feature_date = ?",
        [user, day],
    )[0]


# --- runs ------------------------------------------------------------------------------------


def test_builds_pass_every_dbt_test(built: Built) -> None:
    for name in ("initial", "incremental"):
        out = built.runs[name].output
        assert "ERROR=0" in out and "WARN=0" in out, out
    # sources, staging, intermediate and marts all ran; no test was skipped
    assert "SKIP=0" in built.runs["incremental"].output


def test_a_dbt_test_fails_on_bad_data(built: Built) -> None:
    bad = built.runs["bad"]
    assert not bad.ok
    assert "between_stg_events_rating" in bad.output
    assert "FAIL 1" in bad.output


def test_schemas_are_not_prefixed(built: Built) -> None:
    schemas = {
        r[0]
        for r in query(built.initial, "SELECT DISTINCT table_schema FROM information_schema.tables")
    }
    assert {"raw", "staging", "intermediate", "marts"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)


# --- staging ---------------------------------------------------------------------------------


def test_stg_events_normalises(built: Built) -> None:
    ts, day, device, country = one(
        built.initial,
        "SELECT event_ts, event_date, device, country FROM staging.stg_events WHERE event_id = 'e16'",
    )
    assert str(ts) == "2024-01-02 04:30:00"  # 23:30 at -05:00, as naive UTC
    assert str(day) == "2024-01-02"
    assert (device, country) == ("mobile", "FR")
    assert (
        one(built.initial, "SELECT typeof(event_ts) FROM staging.stg_events LIMIT 1")[0]
        == "TIMESTAMP"
    )
    assert one(built.initial, "SELECT count(*) FROM staging.stg_events")[0] == len(EVENTS_3)
    assert (
        one(built.incremental, "SELECT count(*), count(DISTINCT event_id) FROM staging.stg_events")
        == (len(EVENTS_3) + len(EVENTS_6),) * 2
    )


def test_stg_titles_latest_version_wins(built: Built) -> None:
    rows = query(
        built.initial,
        "SELECT title_id, title, kind, genres, runtime_minutes FROM staging.stg_titles ORDER BY 1",
    )
    assert rows == [
        ("t1", "Alpha (Remastered)", "movie", ["Drama", "Comedy"], 120),
        ("t2", "Beta v2", "series", ["Comedy", "Family"], 60),
        ("t3", "Gamma", "movie", ["Horror"], None),
    ]


def test_stg_users_latest_version_wins(built: Built) -> None:
    assert query(
        built.initial, "SELECT user_id, country, plan FROM staging.stg_users ORDER BY 1"
    ) == [
        ("u1", "US", "premium"),
        ("u2", "GB", "standard"),
    ]


# --- intermediate ----------------------------------------------------------------------------


def test_sessions_split_after_30_minutes(built: Built) -> None:
    rows = query(
        built.initial,
        "SELECT user_id, session_number, session_start_ts::VARCHAR, session_end_ts::VARCHAR, "
        "n_events, n_plays, device FROM intermediate.int_sessions ORDER BY user_id, session_number",
    )
    u1 = [r for r in rows if r[0] == "u1"]
    # the 90 minutes between play_start and play_stop are a gap as well
    assert u1 == [
        ("u1", 1, "2024-01-01 10:00:00", "2024-01-01 10:01:00", 2, 1, "tv"),
        ("u1", 2, "2024-01-01 11:31:00", "2024-01-01 11:32:00", 2, 0, "tv"),
        ("u1", 3, "2024-01-01 14:00:00", "2024-01-01 14:05:00", 2, 0, "web"),
        ("u1", 4, "2024-01-02 20:00:00", "2024-01-02 20:00:30", 2, 0, "web"),
        ("u1", 5, "2024-01-03 09:00:00", "2024-01-03 09:00:00", 1, 0, "web"),
    ]
    u2 = [r[2:6] for r in rows if r[0] == "u2"]
    assert u2[0] == ("2024-01-02 08:00:00", "2024-01-02 08:30:00", 4, 1)
    assert len(u2) == 3
    # u3: 04:30 and 05:30 are 60 minutes apart: two sessions
    assert [r[4] for r in rows if r[0] == "u3"] == [1, 1, 1, 1]
    assert one(built.initial, "SELECT sum(n_events) FROM intermediate.int_sessions")[0] == len(
        EVENTS_3
    )


# --- fct_interactions ------------------------------------------------------------------------


def test_interactions_one_row_per_engaged_pair(built: Built) -> None:
    pairs = query(
        built.initial, "SELECT user_id, title_id FROM marts.fct_interactions ORDER BY 1, 2"
    )
    assert pairs == [
        ("u1", "t1"),
        ("u1", "t2"),
        ("u1", "t3"),
        ("u2", "t1"),
        ("u2", "t2"),
        ("u2", "t9"),
        ("u3", "t2"),
    ]  # (u3, t1) is an impression only
    iid = one(
        built.initial,
        "SELECT interaction_id = md5('u1|t1') FROM marts.fct_interactions "
        "WHERE user_id = 'u1' AND title_id = 't1'",
    )[0]
    assert iid is True


def test_interaction_values(built: Built) -> None:
    w = built.initial
    u1t1 = interaction(w, "u1", "t1")
    assert u1t1["n_events"] == 3 and u1t1["n_impressions"] == 1
    assert (u1t1["n_play_starts"], u1t1["n_play_stops"], u1t1["total_watch_seconds"]) == (
        1,
        1,
        5400,
    )
    assert u1t1["max_completion"] == pytest.approx(5400 / (120 * 60))  # runtime of the update
    assert u1t1["latest_rating"] == 4.5 and u1t1["latest_thumbs"] is None
    assert u1t1["interaction_strength"] == pytest.approx(0.75 + 0.5 * LN2 + 0.75, abs=1e-6)
    assert u1t1["is_positive"] is True
    assert str(u1t1["first_interaction_ts"]) == "2024-01-01 10:01:00"

    u1t2 = interaction(w, "u1", "t2")  # thumbs down
    assert (u1t2["latest_thumbs"], u1t2["interaction_strength"], u1t2["is_positive"]) == (
        -1,
        -1,
        False,
    )

    u1t3 = interaction(w, "u1", "t3")  # added to list, two impressions before
    assert (u1t3["added_to_list"], u1t3["n_impressions"], u1t3["is_positive"]) == (True, 2, True)
    assert u1t3["interaction_strength"] == pytest.approx(0.5)

    u2t1 = interaction(w, "u2", "t1")  # rated 2 then 4: the latest rating counts
    assert (u2t1["n_ratings"], u2t1["latest_rating"], u2t1["is_positive"]) == (2, 4.0, True)
    assert u2t1["interaction_strength"] == pytest.approx(0.5)

    u2t2 = interaction(w, "u2", "t2")  # thumbs up, then down
    assert (u2t2["latest_thumbs"], u2t2["is_positive"]) == (-1, False)

    u2t9 = interaction(w, "u2", "t9")  # title not in the catalogue: completion unknown
    assert u2t9["max_completion"] is None and u2t9["total_watch_seconds"] == 600
    assert u2t9["interaction_strength"] == pytest.approx(0.5 * LN2, abs=1e-6)
    assert u2t9["is_positive"] is False

    u3t2 = interaction(w, "u3", "t2")  # watched 2x the runtime (capped) but rated 1
    assert u3t2["max_completion"] == 1.0
    assert u3t2["interaction_strength"] == pytest.approx(1 + 0.5 * LN2 - 1, abs=1e-6)
    assert u3t2["is_positive"] is False


# --- dimensions ------------------------------------------------------------------------------


def test_dim_users_catalogue_union_events(built: Built) -> None:
    rows = query(
        built.initial,
        "SELECT user_id, in_catalogue, country, plan, age_bucket, primary_device, n_titles, "
        "first_event_ts::VARCHAR FROM marts.dim_users ORDER BY 1",
    )
    assert rows == [
        ("u1", True, "US", "premium", "25-34", "web", 3, "2024-01-01 10:00:00"),
        ("u2", True, "GB", "standard", "<18", "mobile", 3, "2024-01-02 08:00:00"),
        ("u3", False, "FR", None, "unknown", "mobile", 1, "2024-01-02 04:30:00"),
    ]


def test_dim_titles_catalogue_union_events(built: Built) -> None:
    rows = query(
        built.initial,
        "SELECT title_id, in_catalogue, title, primary_genre, n_users, n_interactions, "
        "popularity_rank FROM marts.dim_titles ORDER BY 1",
    )
    assert rows == [
        ("t1", True, "Alpha (Remastered)", "Drama", 2, 5, 2),
        ("t2", True, "Beta v2", "Comedy", 3, 6, 1),
        ("t3", True, "Gamma", "Horror", 1, 1, 4),
        ("t9", False, None, None, 1, 2, 3),
    ]
    assert one(
        built.incremental, "SELECT in_catalogue FROM marts.dim_titles WHERE title_id = 't9'"
    ) == (True,)


# --- daily feature snapshots -----------------------------------------------------------------


def test_user_snapshots_are_sparse_and_valid_next_day(built: Built) -> None:
    rows = query(
        built.initial,
        "SELECT feature_date::VARCHAR, event_timestamp::VARCHAR, interactions_1d, interactions_7d, "
        "interactions_30d, active_days_30d, lifetime_interactions "
        "FROM marts.fct_user_daily_features WHERE user_id = 'u1' ORDER BY feature_date",
    )
    # active 01-01 (4 engagement events) and 01-03 (1); +1, +7, +30 days; data ends 02-15
    assert rows == [
        ("2024-01-01", "2024-01-02 00:00:00", 4, 4, 4, 1, 4),
        ("2024-01-02", "2024-01-03 00:00:00", 0, 4, 4, 1, 4),
        ("2024-01-03", "2024-01-04 00:00:00", 1, 5, 5, 2, 5),
        ("2024-01-04", "2024-01-05 00:00:00", 0, 5, 5, 2, 5),
        ("2024-01-08", "2024-01-09 00:00:00", 0, 1, 5, 2, 5),  # 01-01 left the 7-day window
        ("2024-01-10", "2024-01-11 00:00:00", 0, 0, 5, 2, 5),  # 01-03 left it too
        ("2024-01-31", "2024-02-01 00:00:00", 0, 0, 1, 1, 5),  # 01-01 left the 30-day window
        ("2024-02-02", "2024-02-03 00:00:00", 0, 0, 0, 0, 5),
    ]
    w = built.initial
    assert user_feature(w, "u1", "2024-01-01", "completion_rate_30d") == pytest.approx(0.75)
    assert user_feature(w, "u1", "2024-01-01", "watch_seconds_30d") == 5400
    assert user_feature(w, "u1", "2024-01-01", "mean_rating_30d") == 4.5
    assert user_feature(w, "u1", "2024-01-10", "days_since_first_event") == 9
    assert user_feature(w, "u2", "2024-01-05", "mean_rating_30d") == pytest.approx(3.0)
    assert user_feature(w, "u2", "2024-01-02", "completion_rate_30d") is None  # t9 runtime unknown
    # the last snapshot: 30 days after u3's last engagement (01-10), within the data (02-15)
    assert (
        one(w, "SELECT max(feature_date)::VARCHAR FROM marts.fct_user_daily_features")[0]
        == "2024-02-09"
    )


def test_title_snapshots_trend(built: Built) -> None:
    rows = {
        r[0]: r[1:]
        for r in query(
            built.initial,
            "SELECT feature_date::VARCHAR, interactions_7d, users_7d, trend_7d, rating_count_30d "
            "FROM marts.fct_title_daily_features WHERE title_id = 't2'",
        )
    }
    # t2 engagement: 01-01 u1 (1), 01-02 u2 + u3 (3), 01-04 u2 (1), 01-10 u3 (1)
    assert rows["2024-01-04"] == (5, 4, 5.0, 0)
    assert rows["2024-01-09"] == (1, 1, 0.25, 0)  # 7d = [01-03, 01-09], previous = [12-27, 01-02]
    assert rows["2024-01-10"] == (2, 2, 0.5, 1)
    assert rows["2024-01-16"][0:2] == (1, 1)  # +14 after 01-02: the previous window empties
    assert rows["2024-01-17"][0] == 0
    assert "2024-01-05" in rows and "2024-01-06" not in rows  # sparse


# --- incremental runs ------------------------------------------------------------------------


def test_incremental_picks_up_late_events_and_catalogue_changes(built: Built) -> None:
    w = built.incremental
    # a late event on 01-03 re-computes that day and every window that covers it
    assert user_feature(w, "u1", "2024-01-03", "interactions_1d") == 2
    assert user_feature(w, "u1", "2024-01-08", "interactions_7d") == 2
    # t9 joined the catalogue (runtime 20 min): u2's 600 s play of 01-02 is now 50% complete
    assert user_feature(w, "u2", "2024-01-02", "completion_rate_30d") == pytest.approx(0.5)
    assert interaction(w, "u2", "t9")["max_completion"] == pytest.approx(0.5)
    u1t2 = interaction(w, "u1", "t2")
    assert u1t2["n_events"] == 2
    assert u1t2["interaction_strength"] == pytest.approx(0.5 * LN2 - 1, abs=1e-6)
    assert interaction(w, "u2", "t3")["is_positive"] is True
    # data now ends 02-20 (u2 active that day): snapshots stop there, no 02-21 "day after" row
    assert (
        one(w, "SELECT max(feature_date)::VARCHAR FROM marts.fct_user_daily_features")[0]
        == "2024-02-20"
    )


def _table(path: Path, relation: str) -> tuple[list[str], list[tuple]]:
    cols = [
        r[0]
        for r in query(path, f"SELECT column_name FROM (DESCRIBE {relation})")
        if not r[0].endswith("_watermark")  # bookkeeping: legitimately differs
    ]
    col_list = ", ".join(f'"{c}"' for c in cols)
    return cols, query(path, f"SELECT {col_list} FROM {relation} ORDER BY ALL")


@pytest.mark.parametrize("relation", COMPARED)
def test_incremental_equals_full_refresh(built: Built, relation: str) -> None:
    cols, incremental = _table(built.incremental, relation)
    _, full = _table(built.full_refresh, relation)
    assert len(incremental) == len(full) > 0
    for a, b in zip(incremental, full, strict=True):
        for col, x, y in zip(cols, a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-9), (relation, col, a, b)
            else:
                assert x == y, (relation, col, a, b)
