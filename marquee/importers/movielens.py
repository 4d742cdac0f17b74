"""``marquee import-movielens PATH``: a MovieLens folder into the landing zone (SPEC §3, §4).

The layout is detected from the files present:

* ``ml-100k``   — ``u.data`` (tab: user, item, rating, ts), ``u.item`` (``|``, latin-1, 5 fields
  + one 0/1 flag per genre, release dates like ``01-Jan-1995``), ``u.user``
  (``id|age|gender|occupation|zip``), genre names from ``u.genre`` when present;
* ``ml-1m``     — ``ratings.dat``, ``movies.dat``, ``users.dat`` (``::``-separated, latin-1);
* ``ml-10m``    — the same without ``users.dat``;
* ``ml-latest`` — ``ratings.csv``, ``movies.csv`` (ml-20m, ml-25m, ml-32m, ml-latest(-small)).

Every rating becomes one ``rating`` event at its own timestamp; every rating is kept; ids are
the data set's own ids, as strings. Data sets without a users file get a users file holding
only the ``user_id`` of every rater, so demographics are simply absent.

All row work is DuckDB SQL (ml-32m has 32M ratings): ``read_csv`` with explicit columns and
delimiters, ``COPY ... TO ... (FORMAT parquet)``; no Python loop ever touches a row. Output
files have fixed names (``movielens-{dataset}-{ratings,titles,users}.parquet``), are
byte-identical when the same data is imported again (ingestion dedups by content hash), and
are written to a hidden temporary name and renamed into place, so a crashed import never
leaves half a file in ``landing/``.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from marquee.config import MarqueeHome
from marquee.errors import MarqueeUserError

__all__ = ["ImportSummary", "detect_layout", "import_movielens"]

# ml-100k's u.genre, in flag order (used when u.genre is missing).
ML100K_GENRES: tuple[str, ...] = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# ml-1m README, "User Information": occupation codes 0-20.
ML1M_OCCUPATIONS: tuple[str, ...] = (
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
# Placeholder genres that mean "none": dropped, leaving an empty list.
NO_GENRE: tuple[str, ...] = ("unknown", "(no genres listed)")
# "Toy Story (1995)", "Babylon 5 (1994-1998)", "Show (2007– )" -> the first year.
YEAR_IN_TITLE = r"\((\d{4})(?:\s*[-–]\s*(?:\d{4})?\s*)?\)\s*$"

FORMATS: tuple[str, ...] = ("ml-100k", "ml-1m", "ml-10m", "ml-latest")
_PARQUET = "FORMAT parquet, COMPRESSION zstd"


@dataclass(frozen=True)
class ImportSummary:
    """What one import wrote into the landing zone."""

    format: str  # layout detected: ml-100k, ml-1m, ml-10m or ml-latest
    dataset: str  # name used in the file names, e.g. "ml-100k", "ml-32m"
    source: Path  # the folder the data was read from
    events: int  # rating events written
    titles: int
    users: int
    files: dict[str, Path] = field(default_factory=dict)  # entity -> landing file
    seconds: float = 0.0

    def describe(self) -> str:
        """A few human-readable lines for the command line."""
        counts = {"events": self.events, "titles": self.titles, "users": self.users}
        lines = [f"imported MovieLens {self.format} from {self.source} in {self.seconds:.1f}s"]
        for entity, count in counts.items():
            lines.append(f"  {entity:<6} {count:>12,}  -> {self.files.get(entity, '-')}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Layout:
    """The files of one MovieLens data set."""

    format: str
    root: Path
    ratings: Path
    movies: Path | None
    users: Path | None
    genres: Path | None = None  # ml-100k's u.genre

    @property
    def dataset(self) -> str:
        """The folder's own name when it looks like one (ml-32m), else the format."""
        name = self.root.name.lower()
        return name if re.fullmatch(r"ml-[a-z0-9][a-z0-9._-]*", name) else self.format


def _layout_in(folder: Path) -> Layout | None:
    def present(name: str) -> Path | None:
        candidate = folder / name
        return candidate if candidate.is_file() else None

    if ratings := present("u.data"):
        return Layout(
            "ml-100k", folder, ratings, present("u.item"), present("u.user"), present("u.genre")
        )
    if ratings := present("ratings.dat"):
        users = present("users.dat")
        return Layout("ml-1m" if users else "ml-10m", folder, ratings, present("movies.dat"), users)
    if ratings := present("ratings.csv"):
        return Layout("ml-latest", folder, ratings, present("movies.csv"), None)
    return None


def detect_layout(path: Path) -> Layout:
    """The MovieLens layout in ``path`` (or in its only MovieLens sub-folder)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MarqueeUserError(f"MovieLens path not found: {path}")
    if not path.is_dir():
        hint = "; extract the archive first" if path.suffix.lower() == ".zip" else ""
        raise MarqueeUserError(
            f"not a directory: {path} (expected a MovieLens folder such as ml-100k/{hint})"
        )
    layout = _layout_in(path)
    if layout is not None:
        return layout
    # Tolerate the parent of an extracted archive (e.g. downloads/ holding ml-100k/).
    found = [
        sub_layout
        for sub in sorted(p for p in path.iterdir() if p.is_dir())
        if (sub_layout := _layout_in(sub)) is not None
    ]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(f.root.name for f in found)
        raise MarqueeUserError(f"several MovieLens data sets in {path} ({names}): pass one of them")
    raise MarqueeUserError(
        f"no MovieLens data found in {path}: expected u.data, ratings.dat or ratings.csv"
    )


# --------------------------------------------------------------------------- SQL building


def _q(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _encoding(path: Path) -> str:
    """UTF-8 when the (small) file decodes as such, else ISO-8859-1 (ml-100k, ml-1m)."""
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _check_header(path: Path, expected: Sequence[str]) -> None:
    """The CSV layouts are read by position: make sure the columns are the expected ones."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline().lstrip("\ufeff").strip()
    found = [name.strip().strip('"').lower() for name in first.split(",")]
    if found != [name.lower() for name in expected]:
        raise MarqueeUserError(
            f"unexpected header in {path}: {first[:80]!r}; expected {','.join(expected)}"
        )


def _read_csv(
    path: Path,
    columns: Sequence[tuple[str, str]],
    *,
    delim: str,
    header: bool = False,
    quote: str = "",
    encoding: str = "utf-8",
) -> str:
    cols = ", ".join(f"{_q(name)}: {_q(sql_type)}" for name, sql_type in columns)
    return (
        f"read_csv({_q(path)}, columns = {{{cols}}}, delim = {_q(delim)}, "
        f"header = {str(header).lower()}, quote = {_q(quote)}, escape = {_q(quote)}, "
        f"auto_detect = false, encoding = {_q(encoding)})"
    )


def _genres_filter(list_expr: str) -> str:
    dropped = ", ".join(_q(g) for g in NO_GENRE)
    return (
        f"coalesce(list_filter({list_expr}, lambda g: g IS NOT NULL AND g <> '' "
        f"AND g NOT IN ({dropped})), []::VARCHAR[])"
    )


def _year_from_title() -> str:
    return f"TRY_CAST(regexp_extract(title, {_q(YEAR_IN_TITLE)}, 1) AS INTEGER)"


_RATING_COLUMNS = (
    ("user_id", "VARCHAR"),
    ("title_id", "VARCHAR"),
    ("rating", "DOUBLE"),
    ("ts", "BIGINT"),
)


def _events_sql(layout: Layout) -> str:
    if layout.format == "ml-100k":
        source = _read_csv(layout.ratings, _RATING_COLUMNS, delim="\t")
    elif layout.format in ("ml-1m", "ml-10m"):
        source = _read_csv(layout.ratings, _RATING_COLUMNS, delim="::")
    else:
        _check_header(layout.ratings, ("userId", "movieId", "rating", "timestamp"))
        source = _read_csv(layout.ratings, _RATING_COLUMNS, delim=",", header=True, quote='"')
    # make_timestamp(µs since the epoch) is a naive UTC timestamp: no session time zone involved.
    return f"""
        SELECT 'ml-' || user_id || '-' || title_id || '-' || CAST(ts AS VARCHAR) AS event_id,
               user_id,
               title_id,
               'rating' AS event_type,
               strftime(make_timestamp(ts * 1000000), '%Y-%m-%dT%H:%M:%SZ') AS event_ts,
               rating
        FROM {source}
    """


def _dedup_ids_sql(events_file: Path) -> str:
    """Same rows and order, the 2nd, 3rd... repeat of an event_id suffixed -2, -3..."""
    return f"""
        SELECT CASE WHEN n = 1 THEN event_id ELSE event_id || '-' || CAST(n AS VARCHAR) END
                   AS event_id,
               user_id, title_id, event_type, event_ts, rating
        FROM (
            SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY file_row_number) AS n
            FROM read_parquet({_q(events_file)}, file_row_number = true)
        )
        ORDER BY file_row_number
    """


def _ml100k_genre_names(path: Path | None) -> tuple[str, ...]:
    if path is None:
        return ML100K_GENRES
    pairs = []
    for line in path.read_text(encoding=_encoding(path)).splitlines():
        name, sep, index = line.strip().rpartition("|")
        if sep and name and index.strip().isdigit():
            pairs.append((int(index), name))
    return tuple(name for _, name in sorted(pairs)) or ML100K_GENRES


def _titles_sql(layout: Layout, events_file: Path) -> str:
    if layout.movies is None:  # ids only, from the ratings
        return f"""
            SELECT title_id, 'movie' AS kind
            FROM (SELECT DISTINCT title_id FROM read_parquet({_q(events_file)}))
            ORDER BY TRY_CAST(title_id AS BIGINT) NULLS LAST, title_id
        """
    encoding = _encoding(layout.movies)
    if layout.format == "ml-100k":
        names = _ml100k_genre_names(layout.genres)
        columns = [
            ("title_id", "VARCHAR"),
            ("title", "VARCHAR"),
            ("release_date", "VARCHAR"),
            ("video_release_date", "VARCHAR"),
            ("imdb_url", "VARCHAR"),
            *((f"g{i}", "INTEGER") for i in range(len(names))),
        ]
        source = _read_csv(layout.movies, columns, delim="|", encoding=encoding)
        flags = ", ".join(f"CASE WHEN g{i} = 1 THEN {_q(name)} END" for i, name in enumerate(names))
        genres = _genres_filter(f"[{flags}]")
        # The title's "(1963)" is the original release; u.item's date is often a re-release
        # (Contempt: 1997), so it only fills in titles without a year.
        year = f"coalesce({_year_from_title()}, year(try_strptime(trim(release_date), '%d-%b-%Y')))"
    else:
        columns = [("title_id", "VARCHAR"), ("title", "VARCHAR"), ("genres", "VARCHAR")]
        if layout.format == "ml-latest":
            _check_header(layout.movies, ("movieId", "title", "genres"))
            source = _read_csv(
                layout.movies, columns, delim=",", header=True, quote='"', encoding=encoding
            )
        else:
            source = _read_csv(layout.movies, columns, delim="::", encoding=encoding)
        genres = _genres_filter("string_split(genres, '|')")
        year = _year_from_title()
    return f"""
        SELECT title_id,
               title,
               'movie' AS kind,
               {genres} AS genres,
               CAST({year} AS INTEGER) AS release_year
        FROM (SELECT * REPLACE (trim(title) AS title) FROM {source})
    """


def _users_sql(layout: Layout, events_file: Path) -> str:
    if layout.users is None:  # ids only, from the ratings: demographics absent
        return f"""
            SELECT user_id
            FROM (SELECT DISTINCT user_id FROM read_parquet({_q(events_file)}))
            ORDER BY TRY_CAST(user_id AS BIGINT) NULLS LAST, user_id
        """
    encoding = _encoding(layout.users)
    if layout.format == "ml-100k":
        columns = [
            ("user_id", "VARCHAR"),
            ("age", "INTEGER"),
            ("gender", "VARCHAR"),
            ("occupation", "VARCHAR"),
            ("zip_code", "VARCHAR"),
        ]
        source = _read_csv(layout.users, columns, delim="|", encoding=encoding)
        occupation = "nullif(trim(occupation), '')"
    else:  # ml-1m: UserID::Gender::Age::Occupation::Zip-code
        columns = [
            ("user_id", "VARCHAR"),
            ("gender", "VARCHAR"),
            ("age", "INTEGER"),
            ("occupation_code", "INTEGER"),
            ("zip_code", "VARCHAR"),
        ]
        source = _read_csv(layout.users, columns, delim="::", encoding=encoding)
        names = ", ".join(_q(name) for name in ML1M_OCCUPATIONS)
        occupation = f"([{names}])[occupation_code + 1]"
    # ml-1m's age is its bucket code (1 = under 18, 18, 25, 35, 45, 50, 56+): kept as is.
    return f"""
        SELECT user_id, age, nullif(trim(gender), '') AS gender, {occupation} AS occupation
        FROM {source}
    """


# --------------------------------------------------------------------------- writing


def _reason(exc: BaseException) -> str:
    """DuckDB's multi-line error as one line: where and what, without the advice."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    where = re.search(r"CSV Error on Line: (\d+)", lines[0])
    if where is None:
        return lines[0]
    detail = next((line for line in lines[1:] if not line.startswith("Original Line:")), "")
    return f"line {where.group(1)}: {detail}" if detail else f"line {where.group(1)}"


def _copy(con: duckdb.DuckDBPyConnection, sql: str, target: Path, source: Path) -> int:
    """Write ``sql``'s rows to ``target`` as Parquet; the number of rows written."""
    try:
        con.execute(f"COPY ({sql}) TO {_q(target)} ({_PARQUET})")
        row = con.execute(f"SELECT count(*) FROM read_parquet({_q(target)})").fetchone()
    except duckdb.Error as exc:
        raise MarqueeUserError(f"could not read {source}: {_reason(exc)}") from exc
    return int(row[0]) if row else 0


def _publish(tmp: Path, dest: Path) -> None:
    """Durably move a finished temporary file to its final landing name."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, dest)
    try:
        dir_fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def import_movielens(path: Path, home: MarqueeHome) -> ImportSummary:
    """Import the MovieLens data set in ``path`` into ``home``'s landing zone."""
    started = time.perf_counter()
    layout = detect_layout(Path(path))
    names = {"events": "ratings", "titles": "titles", "users": "users"}
    dest: dict[str, Path] = {}
    for entity, stem in names.items():
        folder = home.landing_dir(entity)
        folder.mkdir(parents=True, exist_ok=True)
        dest[entity] = folder / f"movielens-{layout.dataset}-{stem}.parquet"
    # Hidden, non-data suffix: a scanner of landing/ never mistakes it for an arrival.
    tmp = {e: p.with_name(f".{p.name}.{os.getpid()}.tmp") for e, p in dest.items()}
    home.root.mkdir(parents=True, exist_ok=True)
    try:
        with (
            tempfile.TemporaryDirectory(prefix=".import-movielens-", dir=home.root) as spill,
            duckdb.connect(":memory:", config={"temp_directory": spill}) as con,
        ):
            con.execute("SET enable_progress_bar = false")
            events = _copy(con, _events_sql(layout), tmp["events"], layout.ratings)
            # MovieLens has at most one rating per user and title, so ids should be unique.
            # Check on 64-bit hashes (much cheaper than on strings at 32M rows): a collision
            # only sends us down the exact path, which leaves already unique ids untouched.
            row = con.execute(
                "SELECT count(*) - count(DISTINCT hash(event_id)) "
                f"FROM read_parquet({_q(tmp['events'])})"
            ).fetchone()
            if row and row[0]:  # same user, title and second twice: keep both, distinct ids
                fixed = tmp["events"].with_name(tmp["events"].name + ".ids")
                _copy(con, _dedup_ids_sql(tmp["events"]), fixed, layout.ratings)
                os.replace(fixed, tmp["events"])
            titles = _copy(
                con,
                _titles_sql(layout, tmp["events"]),
                tmp["titles"],
                layout.movies or layout.ratings,
            )
            users = _copy(
                con, _users_sql(layout, tmp["events"]), tmp["users"], layout.users or layout.ratings
            )
        # Titles and users first: events never arrive before what they refer to.
        for entity in ("titles", "users", "events"):
            _publish(tmp[entity], dest[entity])
    finally:
        for leftover in tmp.values():
            leftover.unlink(missing_ok=True)
            leftover.with_name(leftover.name + ".ids").unlink(missing_ok=True)
    return ImportSummary(
        format=layout.format,
        dataset=layout.dataset,
        source=layout.root,
        events=events,
        titles=titles,
        users=users,
        files=dest,
        seconds=time.perf_counter() - started,
    )
