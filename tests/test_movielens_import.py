"""`marquee import-movielens`: every MovieLens layout into the landing zone.

The fixtures under tests/fixtures/movielens/ are tiny hand-made data sets in each layout (not
MovieLens data). One test reads the real ml-100k from the shared data folder when present.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError
from marquee.importers.movielens import ImportSummary, import_movielens

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "movielens"
REAL_ML100K = Path(__file__).resolve().parents[1].parent / "shared/data/movielens/ml-100k"


def _rows(path: Path, key: str) -> dict[str, dict]:
    return {row[key]: row for row in pq.read_table(path).to_pylist()}


def _import(name: str, tmp_path: Path) -> tuple[ImportSummary, MarqueeHome]:
    home = MarqueeHome(tmp_path / "home")
    return import_movielens(FIXTURES / name, home), home


def _landing_files(home: MarqueeHome) -> list[str]:
    return sorted(str(p.relative_to(home.landing)) for p in home.landing.rglob("*") if p.is_file())


def test_ml100k_layout(tmp_path: Path) -> None:
    summary, home = _import("ml-100k", tmp_path)
    assert (summary.format, summary.dataset) == ("ml-100k", "ml-100k")
    assert (summary.events, summary.titles, summary.users) == (6, 4, 3)
    assert _landing_files(home) == [
        "events/movielens-ml-100k-ratings.parquet",
        "titles/movielens-ml-100k-titles.parquet",
        "users/movielens-ml-100k-users.parquet",
    ]
    assert (
        summary.files["events"] == home.landing_dir("events") / "movielens-ml-100k-ratings.parquet"
    )

    events_table = pq.read_table(summary.files["events"])
    assert events_table.column_names == [
        "event_id",
        "user_id",
        "title_id",
        "event_type",
        "event_ts",
        "rating",
    ]
    assert events_table.schema.field("event_ts").type == pa.string()
    events = _rows(summary.files["events"], "event_id")
    assert events["ml-1-10-881250949"] == {
        "event_id": "ml-1-10-881250949",
        "user_id": "1",
        "title_id": "10",
        "event_type": "rating",
        "event_ts": "1997-12-04T15:55:49Z",
        "rating": 4.0,
    }

    titles_table = pq.read_table(summary.files["titles"])
    assert titles_table.schema.field("genres").type == pa.list_(pa.string())
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["10"] == {
        "title_id": "10",
        "title": "Paper Lanterns (1995)",
        "kind": "movie",
        "genres": ["Animation", "Children's", "Comedy"],
        "release_year": 1995,
    }
    # latin-1 decoded; the title's year wins over u.item's (re-)release date.
    assert titles["20"]["title"] == "Café Mécanique (1963)"
    assert titles["20"]["genres"] == ["Drama", "Film-Noir"]
    assert titles["20"]["release_year"] == 1963
    assert titles["30"]["genres"] == []  # "unknown" only
    assert titles["30"]["release_year"] is None
    assert titles["40"]["release_year"] == 1994  # no year in the title: the release date's

    users = _rows(summary.files["users"], "user_id")
    assert users["1"] == {"user_id": "1", "age": 24, "gender": "M", "occupation": "technician"}
    assert users["3"]["occupation"] == "writer"


def test_ml100k_without_genre_file_uses_builtin_names(tmp_path: Path) -> None:
    source = tmp_path / "ml-100k"
    shutil.copytree(FIXTURES / "ml-100k", source)
    (source / "u.genre").unlink()
    summary = import_movielens(source, MarqueeHome(tmp_path / "home"))
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["10"]["genres"] == ["Animation", "Children's", "Comedy"]


def test_ml1m_layout_latin1_and_demographics(tmp_path: Path) -> None:
    summary, _ = _import("ml-1m", tmp_path)
    assert summary.format == "ml-1m"
    assert (summary.events, summary.titles, summary.users) == (4, 3, 3)
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["100"]["title"] == "Misérables de Papier, Les (1995)"
    assert titles["100"]["genres"] == ["Drama", "Musical"]
    assert titles["200"]["genres"] == ["Action", "Adventure", "Sci-Fi"]
    assert titles["200"]["release_year"] == 1998
    assert titles["300"]["title"] == 'Tiny "Quoted" Show (2000)'
    users = _rows(summary.files["users"], "user_id")
    assert users["1"] == {"user_id": "1", "age": 1, "gender": "F", "occupation": "K-12 student"}
    assert users["2"]["occupation"] == "self-employed"
    assert users["6040"]["occupation"] == "doctor/health care"
    events = _rows(summary.files["events"], "event_id")
    assert events["ml-6040-300-956703932"]["event_ts"] == "2000-04-25T23:05:32Z"
    assert events["ml-1-100-978300760"]["rating"] == 5.0


def test_ml10m_layout_half_stars_and_ids_only_users(tmp_path: Path) -> None:
    summary, _ = _import("ml-10m", tmp_path)
    assert summary.format == "ml-10m"
    assert (summary.events, summary.titles, summary.users) == (3, 2, 2)
    events = _rows(summary.files["events"], "event_id")
    assert sorted(e["rating"] for e in events.values()) == [0.5, 3.0, 4.5]
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["185"]["genres"] == []
    users_table = pq.read_table(summary.files["users"])
    assert users_table.column_names == ["user_id"]  # no users.dat: demographics absent
    assert users_table.column("user_id").to_pylist() == ["1", "2"]


def test_ml_latest_csv_layout(tmp_path: Path) -> None:
    summary, _ = _import("ml-latest-small", tmp_path)
    assert (summary.format, summary.dataset) == ("ml-latest", "ml-latest-small")
    assert (summary.events, summary.titles, summary.users) == (4, 5, 2)
    assert summary.files["events"].name == "movielens-ml-latest-small-ratings.parquet"
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["2"]["title"] == "Heist, The Long Way (2001)"
    assert titles["2"]["genres"] == ["Action", "Crime"]
    assert titles["3"]["title"] == 'Short "Quoted" Film (2010)'
    assert titles["3"]["genres"] == []  # "(no genres listed)"
    assert titles["4"]["release_year"] is None
    assert titles["5"]["release_year"] == 2006
    events = _rows(summary.files["events"], "event_id")
    assert events["ml-2-1-1445714835"]["rating"] == 0.5
    assert events["ml-2-1-1445714835"]["event_ts"] == "2015-10-24T19:27:15Z"
    assert pq.read_table(summary.files["users"]).column_names == ["user_id"]


def test_reimport_is_byte_identical(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home")
    first = import_movielens(FIXTURES / "ml-100k", home)
    before = {e: p.read_bytes() for e, p in first.files.items()}
    second = import_movielens(FIXTURES / "ml-100k", home)
    assert second.files == first.files
    assert {e: p.read_bytes() for e, p in second.files.items()} == before
    other = import_movielens(FIXTURES / "ml-100k", MarqueeHome(tmp_path / "other"))
    assert {e: p.read_bytes() for e, p in other.files.items()} == before
    # Only the three finished files: no temporary leftovers in landing/ or the home.
    assert len(_landing_files(home)) == 3
    assert sorted(p.name for p in home.root.iterdir()) == ["landing"]


def test_timestamps_do_not_depend_on_local_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        summary, _ = _import("ml-100k", tmp_path)
    finally:
        monkeypatch.undo()
        time.tzset()
    events = _rows(summary.files["events"], "event_id")
    assert events["ml-1-10-881250949"]["event_ts"] == "1997-12-04T15:55:49Z"


def test_repeated_rating_lines_are_all_kept_with_distinct_ids(tmp_path: Path) -> None:
    source = tmp_path / "ml-dup"
    source.mkdir()
    (source / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,1,4.0,100\n1,2,3.0,100\n"
    )
    summary = import_movielens(source, MarqueeHome(tmp_path / "home"))
    assert summary.events == 3
    ids = pq.read_table(summary.files["events"]).column("event_id").to_pylist()
    assert ids == ["ml-1-1-100", "ml-1-1-100-2", "ml-1-2-100"]
    # No movies.csv: the titles are the rated ids.
    assert pq.read_table(summary.files["titles"]).to_pylist() == [
        {"title_id": "1", "kind": "movie"},
        {"title_id": "2", "kind": "movie"},
    ]


def test_parent_folder_with_one_data_set_is_accepted(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "ml-1m", tmp_path / "downloads" / "ml-1m")
    summary = import_movielens(tmp_path / "downloads", MarqueeHome(tmp_path / "home"))
    assert summary.format == "ml-1m"
    assert summary.source == tmp_path / "downloads" / "ml-1m"


def _one_line_error(path: Path, home: MarqueeHome) -> str:
    with pytest.raises(MarqueeUserError) as caught:
        import_movielens(path, home)
    message = str(caught.value)
    assert message and "\n" not in message
    return message


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    home = MarqueeHome(tmp_path / "home")
    missing = tmp_path / "nope"
    assert str(missing) in _one_line_error(missing, home)

    empty = tmp_path / "empty"
    empty.mkdir()
    message = _one_line_error(empty, home)
    assert "no MovieLens data found" in message
    assert "u.data" in message and "ratings.dat" in message and "ratings.csv" in message

    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(b"PK")
    assert "not a directory" in _one_line_error(archive, home)

    assert "several MovieLens data sets" in _one_line_error(FIXTURES, home)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "u.data").write_text("1\t2\tthree\t4\n")
    assert "u.data" in _one_line_error(broken, home)
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    (swapped / "ratings.csv").write_text("movieId,userId,rating,timestamp\n1,2,3.0,4\n")
    assert "unexpected header" in _one_line_error(swapped, home)
    # Nothing half-written was left behind by the failures.
    assert not home.landing.exists() or _landing_files(home) == []


@pytest.mark.skipif(not REAL_ML100K.is_dir(), reason="real ml-100k not available")
def test_real_ml100k(tmp_path: Path) -> None:
    summary = import_movielens(REAL_ML100K, MarqueeHome(tmp_path / "home"))
    assert summary.format == "ml-100k"
    assert (summary.events, summary.titles, summary.users) == (100_000, 1_682, 943)
    events = pq.read_table(summary.files["events"])
    assert len(set(events.column("event_id").to_pylist())) == 100_000
    assert set(events.column("event_type").to_pylist()) == {"rating"}
    assert all(ts.endswith("Z") for ts in events.column("event_ts").to_pylist()[:100])
    titles = _rows(summary.files["titles"], "title_id")
    assert titles["1"]["title"] == "Toy Story (1995)"
    assert titles["1"]["genres"] == ["Animation", "Children's", "Comedy"]
    assert titles["1"]["release_year"] == 1995
    assert titles["543"]["title"] == "Misérables, Les (1995)"
    users = _rows(summary.files["users"], "user_id")
    assert users["1"] == {"user_id": "1", "age": 24, "gender": "M", "occupation": "technician"}
    assert os.path.getsize(summary.files["events"]) > 0
