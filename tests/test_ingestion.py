"""Landing → raw: bad input is quarantined with a reason, nothing else is lost, and the
accounting reconciles (SPEC §3)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from marquee.config import MarqueeHome
from marquee.ingestion.accounting import unreconciled_files
from marquee.ingestion.ingest import connect, ingest_entity


def ev(event_id: str, **over) -> dict:
    base = {
        "event_id": event_id,
        "user_id": "u1",
        "title_id": "t1",
        "event_type": "play_start",
        "event_ts": "2026-03-01T20:15:00Z",
    }
    base.update(over)
    return base


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture()
def home(tmp_path: Path) -> MarqueeHome:
    return MarqueeHome(tmp_path / "home").ensure()


def _quarantine(home: MarqueeHome) -> dict[tuple[str, int | None], str]:
    con = connect(home, read_only=True)
    try:
        rows = con.execute("SELECT source_file, line_number, reason FROM raw.quarantine").fetchall()
    finally:
        con.close()
    return {(src, ln): reason for src, ln, reason in rows}


def _accepted_ids(home: MarqueeHome) -> list[str]:
    con = connect(home, read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT event_id FROM raw.events ORDER BY event_id").fetchall()]
    finally:
        con.close()


def test_mixed_jsonl_each_bad_row_quarantined_with_reason(home: MarqueeHome) -> None:
    lines = [
        line(ev("ok-1")),                                                   # 1
        b'{"event_id": "broken", ',                                         # 2 invalid JSON
        line({k: v for k, v in ev("no-user").items() if k != "user_id"}),   # 3 missing field
        line(ev("wrong-type", user_id=42)),                                 # 4 wrong type
        line(ev("bad-type", event_type="binge")),                           # 5 unknown event_type
        line(ev("bad-rating", event_type="rating", rating=50)),             # 6 rating out of range
        line(ev("future", event_ts="2999-01-01T00:00:00Z")),                # 7 future
        line(ev("no-offset", event_ts="2026-03-01T20:15:00")),              # 8 offset-less
        line(ev("ok-1")),                                                   # 9 duplicate id
        b"\xff\xfe not utf-8 at all",                                       # 10 non-UTF-8
        b"",                                                                # 11 blank: not a row
        line(ev("ok-2", event_type="play_stop", watch_seconds=1200.5, device="tv",
                country="gb", row="Top Picks", position=3)),                # 12
        line(ev("ok-3", event_type="rating", rating=4.5, event_ts="2026-03-01T22:15:00+02:00")),  # 13
        b"[1, 2, 3]",                                                       # 14 not an object
        line(ev("stop-no-watch", event_type="play_stop")),                  # 15 missing watch_seconds
        line(ev("watch-on-start", watch_seconds=10)),                       # 16 field not allowed
        line(ev("bad-country", country="Narnia")),                          # 17
        line(ev("neg-pos", position=-1)),                                   # 18
    ]
    path = home.landing_dir("events") / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = ingest_entity(home, "events")
    (outcome,) = result.files
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_quarantined, outcome.rows_duplicate) == (
        17, 3, 13, 1,
    )
    assert _accepted_ids(home) == ["ok-1", "ok-2", "ok-3"]
    q = _quarantine(home)
    src = "events/mixed.jsonl"
    expected = {
        2: "invalid JSON",
        3: "missing required field user_id",
        4: "user_id is not a string",
        5: "unknown event_type binge",
        6: "rating out of range",
        7: "event_ts is in the future",
        8: "event_ts is not an RFC 3339 timestamp with offset",
        10: "invalid UTF-8",
        14: "not a JSON object",
        15: "watch_seconds is required on play_stop",
        16: "watch_seconds is only allowed on play_stop",
        17: "country is not an ISO 3166 alpha-2 code",
        18: "position is negative",
    }
    for line_no, reason in expected.items():
        assert reason in q[(src, line_no)], (line_no, q.get((src, line_no)))
    assert len([k for k in q if k[0] == src]) == len(expected)

    con = connect(home, read_only=True)
    try:
        ts, rating = con.execute("SELECT event_ts, rating FROM raw.events WHERE event_id = 'ok-3'").fetchone()
        assert (ts.hour, rating) == (20, 4.5)  # +02:00 normalised to UTC
        dup = con.execute("SELECT key, line_number FROM raw.duplicates").fetchall()
        assert dup == [("ok-1", 9)]
        assert unreconciled_files(con) == []
    finally:
        con.close()


def test_second_run_ingests_nothing_new_and_same_content_is_skipped(home: MarqueeHome) -> None:
    folder = home.landing_dir("events")
    (folder / "a.jsonl").write_bytes(line(ev("a1")) + b"\n" + line(ev("a2")) + b"\n")
    first = ingest_entity(home, "events")
    assert first.total("rows_accepted") == 2
    (folder / "copy-of-a.jsonl").write_bytes((folder / "a.jsonl").read_bytes())
    second = ingest_entity(home, "events")
    assert second.files == [] and len(second.skipped_known) == 2
    # A new file repeating an old event_id: counted as a duplicate, not re-accepted.
    (folder / "b.jsonl").write_bytes(line(ev("a1")) + b"\n" + line(ev("b1")) + b"\n")
    third = ingest_entity(home, "events")
    (b,) = third.files
    assert (b.rows_accepted, b.rows_duplicate) == (1, 1)
    assert _accepted_ids(home) == ["a1", "a2", "b1"]


def test_empty_truncated_gzip_and_unsupported_files(home: MarqueeHome) -> None:
    folder = home.landing_dir("events")
    (folder / "empty.jsonl").write_bytes(b"")
    payload = b"".join(line(ev(f"g{i}")) + b"\n" for i in range(5000))
    blob = gzip.compress(payload, mtime=0)
    (folder / "cut.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (folder / "notes.txt").write_text("hello")
    result = {f.source_file: f for f in ingest_entity(home, "events").files}

    assert result["events/empty.jsonl"].file_error == "empty file"
    assert "unsupported file type" in result["events/notes.txt"].file_error
    cut = result["events/cut.jsonl.gz"]
    assert cut.file_error is None
    assert 0 < cut.rows_accepted < 5000
    assert cut.rows_quarantined == 1  # the damaged tail, with its reason
    q = _quarantine(home)
    assert any("truncated gzip" in r for (src, _), r in q.items() if src == "events/cut.jsonl.gz")
    assert q[("events/empty.jsonl", None)] == "file rejected: empty file"
    con = connect(home, read_only=True)
    try:
        assert unreconciled_files(con) == []
    finally:
        con.close()


def test_csv_rows_and_missing_columns(home: MarqueeHome) -> None:
    folder = home.landing_dir("events")
    (folder / "good.csv").write_text(
        "event_id,user_id,title_id,event_type,event_ts,rating,position\n"
        "c1,u1,t1,rating,2026-03-01T20:15:00Z,3.5,\n"
        "c2,u1,t1,rating,2026-03-01T20:15:00Z,abc,\n"
        "c3,u1\n"
        '"c4","u2","t2","impression","2026-03-01T20:15:00Z",,7\n'
    )
    (folder / "bad.csv").write_text("event_id,user_id\n1,2\n")
    result = {f.source_file: f for f in ingest_entity(home, "events").files}
    good = result["events/good.csv"]
    assert (good.rows_read, good.rows_accepted, good.rows_quarantined) == (4, 2, 2)
    assert "missing required columns: title_id, event_type, event_ts" in result["events/bad.csv"].file_error
    q = _quarantine(home)
    assert "rating is not a number" in q[("events/good.csv", 3)]
    assert "malformed row" in q[("events/good.csv", 4)]
    assert _accepted_ids(home) == ["c1", "c4"]


def test_parquet_and_titles_users_updates(home: MarqueeHome, tmp_path: Path) -> None:
    con = duckdb.connect()
    titles_pq = home.landing_dir("titles") / "titles-1.parquet"
    con.execute(
        f"""COPY (SELECT * FROM (VALUES ('t1', 'Old name', 'movie', ['Drama', 'Crime'], 1999),
                                      ('t2', 'Two', 'series', [], 2020),
                                      ('t3', 'Bad kind', 'podcast', ['Talk'], 2021))
                  v(title_id, title, kind, genres, release_year)) TO '{titles_pq}' (FORMAT parquet)"""
    )
    con.close()
    ingest_entity(home, "titles")
    (home.landing_dir("titles") / "titles-2.jsonl").write_text(
        json.dumps({"title_id": "t1", "title": "New name", "kind": "movie", "genres": ["Drama"]}) + "\n"
    )
    (home.landing_dir("users") / "users.csv").write_text(
        "user_id,age,gender,country\nu1,34,F,DE\nu2,200,M,US\nu3,,,\n"
    )
    (home.landing_dir("titles") / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    ingest_entity(home, "titles")
    users = ingest_entity(home, "users")
    assert users.total("rows_accepted") == 2 and users.total("rows_quarantined") == 1
    con = connect(home, read_only=True)
    try:
        titles = con.execute(
            "SELECT title_id, title, genres, _batch_id FROM raw.titles ORDER BY _batch_id, title_id"
        ).fetchall()
        assert [(t[0], t[1], t[2]) for t in titles] == [
            ("t1", "Old name", ["Drama", "Crime"]),
            ("t2", "Two", []),
            ("t1", "New name", ["Drama"]),
        ]
        reasons = dict(con.execute("SELECT source_file, reason FROM raw.quarantine").fetchall())
        assert reasons["titles/titles-1.parquet"] == "kind must be movie or series"
        assert reasons["titles/corrupt.parquet"].startswith("file rejected: cannot read as Parquet")
        assert reasons["users/users.csv"] == "age out of range [0, 120]"
        assert unreconciled_files(con) == []
    finally:
        con.close()


def test_hidden_files_are_in_flight_and_ignored(home: MarqueeHome) -> None:
    folder = home.landing_dir("events")
    (folder / ".partial.jsonl.tmp").write_bytes(line(ev("x")) + b"\n")
    assert ingest_entity(home, "events").files == []
