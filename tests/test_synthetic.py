"""`marquee generate`: contract, determinism, and structure a model can learn."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import gzip
import json
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from marquee.config import MarqueeHome
from marquee.contracts import EVENT_TYPES, ISO_COUNTRIES, RFC3339_PATTERN, TITLE_KINDS
from marquee.errors import MarqueeUserError
from marquee.synthetic import GenerationConfig, GenerationSummary, generate
from marquee.synthetic import vocabulary as V

SMALL = GenerationConfig(users=200, titles=150, days=10, seed=7)
# Big enough for statistics, still about a second to generate.
MEDIUM = GenerationConfig(users=1500, titles=400, days=28, seed=11)

EVENT_FIELDS = {
    "event_id",
    "user_id",
    "title_id",
    "event_type",
    "event_ts",
    "watch_seconds",
    "rating",
    "device",
    "country",
    "row",
    "position",
}
REQUIRED = {"event_id", "user_id", "title_id", "event_type", "event_ts"}


@dataclasses.dataclass
class Generated:
    home: MarqueeHome
    config: GenerationConfig
    summary: GenerationSummary
    events: list[dict]
    titles: dict[str, dict]
    users: dict[str, dict]
    truth_titles: dict
    truth_users: dict

    def __post_init__(self) -> None:
        self.taste = np.array(self.truth_users["taste"])
        self.genre_vector = np.array(self.truth_titles["genre_vector"])
        assert self.truth_users["user_id"][7] == "u000007"

    def ts(self, event: dict) -> dt.datetime:
        return dt.datetime.fromisoformat(event["event_ts"].replace("Z", "+00:00"))


def _load(home: MarqueeHome, config: GenerationConfig, summary: GenerationSummary) -> Generated:
    events = []
    for path in sorted(home.landing_dir("events").iterdir()):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            events.extend(json.loads(line) for line in f)
    with open(home.landing_dir("titles") / "titles.jsonl", encoding="utf-8") as f:
        titles = [json.loads(line) for line in f]
    with open(home.landing_dir("users") / "users.csv", newline="", encoding="utf-8") as f:
        users = list(csv.DictReader(f))
    truth = home.synthetic / "ground_truth"
    return Generated(
        home=home,
        config=config,
        summary=summary,
        events=events,
        titles={t["title_id"]: t for t in titles},
        users={u["user_id"]: u for u in users},
        truth_titles=pq.read_table(truth / "titles.parquet").to_pydict(),
        truth_users=pq.read_table(truth / "users.parquet").to_pydict(),
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Generated:
    home = MarqueeHome(tmp_path_factory.mktemp("small"))
    return _load(home, SMALL, generate(home, SMALL, progress=False))


@pytest.fixture(scope="module")
def medium(tmp_path_factory) -> Generated:
    home = MarqueeHome(tmp_path_factory.mktemp("medium"))
    return _load(home, MEDIUM, generate(home, MEDIUM, progress=False))


def _landing_bytes(home: MarqueeHome) -> dict[str, bytes]:
    return {
        str(p.relative_to(home.landing)): p.read_bytes()
        for p in sorted(home.landing.rglob("*"))
        if p.is_file()
    }


# --- determinism ------------------------------------------------------------------------


def test_same_config_gives_byte_identical_files(small, tmp_path):
    again = MarqueeHome(tmp_path / "again")
    generate(again, SMALL, progress=False)
    first, second = _landing_bytes(small.home), _landing_bytes(again)
    assert first.keys() == second.keys()
    assert len(first) == SMALL.days + 2
    for name in first:
        assert first[name] == second[name], name
    truth = "synthetic/ground_truth/meta.json"
    assert (small.home.root / truth).read_bytes() == (again.root / truth).read_bytes()


def test_gzip_headers_carry_no_time_or_name(small):
    for path in small.summary.event_files:
        header = path.read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        assert header[3] & 0x08 == 0, "FNAME flag set"
        assert header[4:8] == b"\0\0\0\0", "mtime set"


def test_another_seed_gives_other_data(small, tmp_path):
    other = MarqueeHome(tmp_path / "other")
    generate(other, dataclasses.replace(SMALL, seed=8), progress=False)
    first, second = _landing_bytes(small.home), _landing_bytes(other)
    assert first.keys() == second.keys()
    assert all(first[name] != second[name] for name in first)


# --- the landing contract ------------------------------------------------------------------


def test_files_are_where_the_contract_says(small):
    landing = small.home.landing
    assert (landing / "titles" / "titles.jsonl").is_file()
    assert (landing / "users" / "users.csv").is_file()
    names = sorted(p.name for p in (landing / "events").iterdir())
    days = [SMALL.start_date + dt.timedelta(days=d) for d in range(SMALL.days)]
    assert names == [f"events-{d.isoformat()}.jsonl.gz" for d in days]
    assert SMALL.end_date == days[-1]


def test_every_event_satisfies_the_contract(small):
    rfc3339 = re.compile(RFC3339_PATTERN)
    window_start = dt.datetime.combine(SMALL.start_date, dt.time(), dt.UTC)
    window_end = window_start + dt.timedelta(days=SMALL.days)
    now = dt.datetime.now(dt.UTC)
    ids = set()
    seen_types = set()
    for e in small.events:
        assert REQUIRED <= e.keys() <= EVENT_FIELDS, e
        assert all(isinstance(e[k], str) and e[k] for k in REQUIRED), e
        assert e["event_type"] in EVENT_TYPES
        seen_types.add(e["event_type"])
        assert rfc3339.match(e["event_ts"]) and e["event_ts"].endswith("Z"), e
        ts = small.ts(e)
        assert window_start <= ts < window_end and ts < now, e
        if "watch_seconds" in e:
            assert e["event_type"] == "play_stop", e
            assert isinstance(e["watch_seconds"], int | float) and 0 <= e["watch_seconds"] <= 86_400
        else:
            assert e["event_type"] != "play_stop", e
        if "rating" in e:
            assert e["event_type"] == "rating", e
            assert 0.5 <= e["rating"] <= 5 and (e["rating"] * 2).is_integer(), e
        else:
            assert e["event_type"] != "rating", e
        assert e.get("device", "tv") in V.DEVICES
        assert e.get("country", "US") in ISO_COUNTRIES
        assert isinstance(e.get("row", ""), str)
        position = e.get("position", 0)
        assert isinstance(position, int) and not isinstance(position, bool) and position >= 0
        assert e["user_id"] in small.users, e
        assert e["title_id"] in small.titles, e
        ids.add(e["event_id"])
    assert len(ids) == len(small.events)
    assert seen_types == set(EVENT_TYPES)


def test_events_are_ordered_and_filed_by_utc_day(small):
    for path in small.summary.event_files:
        with gzip.open(path, "rt") as f:
            stamps = [json.loads(line)["event_ts"] for line in f]
        assert stamps == sorted(stamps)
        assert {s[:10] for s in stamps} == {path.name[len("events-") : len("events-") + 10]}


def test_summary_matches_the_files(small):
    s = small.summary
    assert s.users == SMALL.users and s.titles == SMALL.titles
    counts = {t: 0 for t in EVENT_TYPES}
    for e in small.events:
        counts[e["event_type"]] += 1
    assert s.events_by_type == counts
    assert s.events == len(small.events)
    assert s.files_written == 2 + len(s.event_files) == 2 + SMALL.days
    assert (s.start_date, s.end_date) == (SMALL.start_date, SMALL.end_date)


def test_titles_and_users_files(small):
    assert len(small.titles) == SMALL.titles
    for t in small.titles.values():
        assert t["kind"] in TITLE_KINDS
        assert isinstance(t["genres"], list) and 1 <= len(t["genres"]) <= 3
        assert set(t["genres"]) <= set(V.GENRES) and len(set(t["genres"])) == len(t["genres"])
        low, high = (80, 180) if t["kind"] == "movie" else (22, 60)
        assert low <= t["runtime_minutes"] <= high
        assert 1940 <= t["release_year"] <= SMALL.end_date.year
        assert t["maturity_rating"] in V.MATURITY_RATINGS
        assert t["language"] in V.LANGUAGES
        assert isinstance(t["title"], str) and t["title"]
    assert len(small.users) == SMALL.users
    for u in small.users.values():
        assert re.fullmatch(r"u\d{6}", u["user_id"])
        assert u["country"] in ISO_COUNTRIES
        assert u["age"] == "" or 18 <= int(u["age"]) <= 85
        assert dt.date.fromisoformat(u["signup_date"]) <= SMALL.end_date


def test_nothing_happens_before_release_or_signup(medium):
    release = dict(
        zip(medium.truth_titles["title_id"], medium.truth_titles["release_ts"], strict=True)
    )
    for e in medium.events:
        ts = medium.ts(e)
        assert ts >= release[e["title_id"]], e
        assert ts.date() >= dt.date.fromisoformat(medium.users[e["user_id"]]["signup_date"]), e


def test_titles_are_released_during_the_window(medium):
    truth = medium.truth_titles
    window_start = dt.datetime.combine(MEDIUM.start_date, dt.time(), dt.UTC)
    new = [
        (tid, ts)
        for tid, ts, inside in zip(
            truth["title_id"], truth["release_ts"], truth["released_in_window"], strict=True
        )
        if inside
    ]
    assert len(new) >= 0.03 * MEDIUM.titles
    for tid, ts in new:
        assert ts > window_start
        assert medium.titles[tid]["release_year"] == ts.year
    played_new = {e["title_id"] for e in medium.events if e["event_type"] == "play_start"}
    assert played_new & {tid for tid, _ in new}, "no new release was ever played"


def test_ground_truth_is_outside_the_landing_zone(small):
    truth = small.summary.ground_truth_dir
    assert truth == small.home.synthetic / "ground_truth"
    assert {p.name for p in truth.iterdir()} >= {"users.parquet", "titles.parquet", "meta.json"}
    assert small.home.landing not in truth.parents
    assert not (small.home.synthetic / ".staging").exists()
    landing_files = {p.name for p in small.home.landing.rglob("*") if p.is_file()}
    assert not any(
        "truth" in n or n.endswith(".parquet") or n.startswith(".") for n in landing_files
    )


# --- structure a model can learn ----------------------------------------------------------


def _affinity(g: Generated, user_id: str, title_id: str) -> float:
    """Ground-truth taste . genre match (ids are the row numbers of the truth tables)."""
    return float(g.taste[int(user_id[1:])] @ g.genre_vector[int(title_id[1:])])


def test_completion_and_clicks_follow_taste(medium):
    runtime = {tid: t["runtime_minutes"] * 60 for tid, t in medium.titles.items()}
    kind = {tid: t["kind"] for tid, t in medium.titles.items()}
    match, mismatch = [], []
    for e in medium.events:
        if e["event_type"] == "play_stop" and kind[e["title_id"]] == "movie":
            completion = min(e["watch_seconds"] / runtime[e["title_id"]], 1.0)
            a = _affinity(medium, e["user_id"], e["title_id"])
            (match if a > 0.2 else mismatch if a < 0.03 else []).append(completion)
    assert len(match) > 100 and len(mismatch) > 100
    assert np.mean(match) > np.mean(mismatch) + 0.08

    shown = [e for e in medium.events if e["event_type"] == "impression"]
    played = {
        (e["user_id"], e["title_id"], e["row"], e["position"])
        for e in medium.events
        if e["event_type"] == "play_start"
    }
    a = np.array([_affinity(medium, e["user_id"], e["title_id"]) for e in shown])
    clicked = np.array(
        [(e["user_id"], e["title_id"], e["row"], e["position"]) in played for e in shown]
    )
    assert clicked[a > 0.2].mean() > 2 * clicked[a < 0.03].mean()
    # and positions matter: the first slot is clicked more than the fifth
    pos = np.array([e["position"] for e in shown])
    assert clicked[pos == 0].mean() > 1.3 * clicked[pos == 4].mean()


def test_ratings_follow_taste(medium):
    ratings = [e for e in medium.events if e["event_type"] == "rating"]
    assert len(ratings) > 200
    assert {e["rating"] for e in ratings} <= {k / 2 for k in range(1, 11)}
    a = [_affinity(medium, e["user_id"], e["title_id"]) for e in ratings]
    r = [e["rating"] for e in ratings]
    assert np.corrcoef(a, r)[0, 1] > 0.15


def test_popularity_has_a_long_tail(medium):
    plays: dict[str, int] = {}
    for e in medium.events:
        if e["event_type"] == "play_start":
            plays[e["title_id"]] = plays.get(e["title_id"], 0) + 1
    counts = np.sort(np.array(list(plays.values())))[::-1]
    top = counts[: max(1, len(counts) // 10)].sum()
    assert top > 0.35 * counts.sum()  # top 10% of titles: well over 10% of plays


def test_daily_and_weekly_rhythm(medium):
    offset = dict(
        zip(medium.truth_users["user_id"], medium.truth_users["utc_offset_minutes"], strict=True)
    )
    starts = [
        medium.ts(e) + dt.timedelta(minutes=offset[e["user_id"]])
        for e in medium.events
        if e["event_type"] == "impression" and e["position"] == 0
    ]
    hours = np.array([s.hour for s in starts])
    evening = np.isin(hours, [18, 19, 20, 21, 22, 23]).mean()
    early = np.isin(hours, [3, 4, 5, 6, 7, 8]).mean()
    assert evening > 0.4 and evening > 4 * early  # uniform would be 0.25 each
    weekday = np.array([s.weekday() for s in starts])
    days = np.array([s.date() for s in starts])
    per_day = {d: 0 for d in set(days.tolist())}
    for d in days.tolist():
        per_day[d] += 1
    weekend = np.mean([c for d, c in per_day.items() if d.weekday() >= 5])
    midweek = np.mean([c for d, c in per_day.items() if d.weekday() in (0, 1, 2)])
    assert weekend > 1.2 * midweek
    assert len(set(weekday.tolist())) == 7


def test_multi_genre_catalogue_and_demographics(medium):
    genres = [t["genres"] for t in medium.titles.values()]
    assert np.mean([len(g) > 1 for g in genres]) > 0.4
    assert len({g for gs in genres for g in gs}) >= 18
    kinds = {t["kind"] for t in medium.titles.values()}
    assert kinds == {"movie", "series"}
    countries = [u["country"] for u in medium.users.values()]
    assert countries.count("US") > countries.count("SE") * 5


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"users": 0},
        {"titles": -5},
        {"days": 0},
        {"seed": -1},
        {"users": "many"},
        {"days": 2.5},
        {"end_date": dt.date(2999, 1, 1)},
    ],
)
def test_bad_config_is_a_user_error(changes, tmp_path):
    config = dataclasses.replace(GenerationConfig(), **changes)
    with pytest.raises(MarqueeUserError):
        generate(MarqueeHome(tmp_path), config, progress=False)
    assert not (tmp_path / "landing").exists()


def test_default_config_and_progress_bar(tmp_path, capsys):
    default = GenerationConfig()
    assert (default.users, default.titles, default.days, default.seed) == (6000, 2000, 60, 42)
    assert default.end_date == dt.date(2026, 6, 30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.users = 1  # type: ignore[misc]
    tiny = GenerationConfig(users=3, titles=2, days=2, seed=1)
    summary = generate(MarqueeHome(tmp_path), tiny, progress=True)
    assert "generating" in capsys.readouterr().err
    assert summary.users == 3 and summary.titles == 2
    assert all(isinstance(line, str) for line in summary.lines())
