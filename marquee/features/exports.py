"""Marts -> Parquet sources of the DuckDB offline store (``$MARQUEE_HOME/feast/offline/``).

Four files, each with ``event_timestamp`` (UTC, when the row becomes valid) and, except the
catalogue, ``created_timestamp`` (newest ``_ingested_at`` behind the row):

``user_activity``
    ``marts.fct_user_daily_features`` plus two things computed here from the same events
    (``staging.stg_events``, engagement = every event but impressions), as of each snapshot
    day D: the device mix of [D-29, D] and the last N distinct titles engaged with up to D
    (newest first; the as-of value of the user's latest active day <= D).
``user_genre_affinity``
    One row per user active day D: each genre's share of the user's engagement events up to
    D (genres from ``marts.dim_titles``; a title with k genres counts once for each).
``title_daily_features``
    ``marts.fct_title_daily_features`` as is.
``title_content``
    ``marts.dim_titles`` attributes, stamped 1970-01-01 (catalogue facts precede events).

Every file is written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from marquee.config import MarqueeHome
from marquee.features import names as N
from marquee.features.paths import export_path, offline_dir

ENGAGEMENT = "event_type <> 'impression'"

USER_ACTIVITY_SQL = f"""
with snap as (
    select * from marts.fct_user_daily_features
),
engagement as (
    select user_id, title_id, event_ts, event_date, device
    from staging.stg_events
    where {ENGAGEMENT}
),
device_daily as (
    select user_id, event_date, device, count(*) as n
    from engagement
    where device is not null
    group by all
),
device_window as (
    select snap.user_id, snap.feature_date, device_daily.device, sum(device_daily.n) as n
    from snap
    join device_daily
      on device_daily.user_id = snap.user_id
     and device_daily.event_date between snap.feature_date - 29 and snap.feature_date
    group by all
),
device_mix as (
    select
        user_id,
        feature_date,
        cast(to_json(map(
            list(device order by n desc, device), list(round(n / total, 4) order by n desc, device)
        )) as varchar)
            as device_mix_30d,
        arg_max(device, (n, device)) as primary_device_30d
    from (select *, sum(n) over (partition by user_id, feature_date) as total from device_window)
    group by user_id, feature_date
),
-- recent history: the newest interaction per (user, title, day); only a day's N newest can
-- ever be among a later day's N newest, so prune before the range join.
pair_day as (
    select user_id, title_id, event_date, max(event_ts) as last_ts
    from engagement
    group by user_id, title_id, event_date
    qualify row_number() over (
        partition by user_id, event_date order by max(event_ts) desc, title_id desc
    ) <= {N.RECENT_HISTORY_LENGTH}
),
active_day as (
    select distinct user_id, event_date as activity_date from engagement
),
history_at as (
    select active_day.user_id, active_day.activity_date, pair_day.title_id,
           max(pair_day.last_ts) as last_ts
    from active_day
    join pair_day
      on pair_day.user_id = active_day.user_id
     and pair_day.event_date <= active_day.activity_date
    group by active_day.user_id, active_day.activity_date, pair_day.title_id
    qualify row_number() over (
        partition by active_day.user_id, active_day.activity_date
        order by max(pair_day.last_ts) desc, pair_day.title_id desc
    ) <= {N.RECENT_HISTORY_LENGTH}
),
history as (
    select user_id, activity_date, list(title_id order by last_ts desc, title_id desc) as recent_titles
    from history_at
    group by all
)
select
    snap.user_id,
    cast(timezone('UTC', snap.event_timestamp) as timestamptz) as event_timestamp,
    cast(timezone('UTC', snap.created_timestamp) as timestamptz) as created_timestamp,
    snap.feature_date,
    snap.interactions_1d, snap.interactions_7d, snap.interactions_30d,
    snap.plays_7d, snap.plays_30d, snap.watch_seconds_30d, snap.completion_rate_30d,
    snap.ratings_count_30d, snap.mean_rating_30d, snap.active_days_30d,
    snap.lifetime_interactions, snap.lifetime_mean_rating, snap.days_since_first_event,
    coalesce(device_mix.device_mix_30d, '{{}}') as device_mix_30d,
    device_mix.primary_device_30d,
    coalesce(history.recent_titles, []::varchar[]) as recent_titles,
    cast(len(coalesce(history.recent_titles, []::varchar[])) as bigint) as recent_title_count
from snap
left join device_mix
  on device_mix.user_id = snap.user_id and device_mix.feature_date = snap.feature_date
asof left join history
  on history.user_id = snap.user_id and snap.feature_date >= history.activity_date
order by snap.user_id, snap.feature_date
"""

USER_GENRE_SQL = f"""
with engagement as (
    select events.user_id, events.event_date, events._ingested_at, titles.genres
    from staging.stg_events as events
    join marts.dim_titles as titles using (title_id)
    where events.{ENGAGEMENT}
),
user_day as (
    select user_id, event_date as activity_date,
           max(max(_ingested_at)) over (
               partition by user_id order by event_date
               rows between unbounded preceding and current row
           ) as created_timestamp
    from engagement
    group by user_id, event_date
),
genre_day as (
    select user_id, event_date, genre, count(*) as n
    from (select user_id, event_date, unnest(genres) as genre from engagement)
    group by all
),
genre_cum as (
    select user_id, event_date, genre,
           sum(n) over (
               partition by user_id, genre order by event_date
               rows between unbounded preceding and current row
           ) as cum_n
    from genre_day
),
genre_first as (
    select user_id, genre, min(event_date) as first_date from genre_day group by all
),
day_genre as (
    select user_day.user_id, user_day.activity_date, genre_first.genre
    from user_day
    join genre_first
      on genre_first.user_id = user_day.user_id and genre_first.first_date <= user_day.activity_date
),
counts as (
    select day_genre.user_id, day_genre.activity_date, day_genre.genre, genre_cum.cum_n as n
    from day_genre
    asof join genre_cum
      on genre_cum.user_id = day_genre.user_id
     and genre_cum.genre = day_genre.genre
     and day_genre.activity_date >= genre_cum.event_date
),
shares as (
    select *, n / sum(n) over (partition by user_id, activity_date) as share
    from counts
),
ranked as (
    select *, row_number() over (
        partition by user_id, activity_date order by share desc, genre
    ) as rk
    from shares
)
select
    ranked.user_id,
    cast(timezone('UTC', cast(ranked.activity_date + interval 1 day as timestamp)) as timestamptz)
        as event_timestamp,
    cast(timezone('UTC', user_day.created_timestamp) as timestamptz) as created_timestamp,
    ranked.activity_date as feature_date,
    list(genre order by rk) filter (where rk <= {N.TOP_GENRES}) as top_genres,
    list(round(share, 4) order by rk) filter (where rk <= {N.TOP_GENRES}) as top_genre_shares,
    cast(to_json(map(list(genre order by rk), list(round(share, 4) order by rk))) as varchar)
        as genre_shares,
    cast(count(*) as bigint) as genre_count,
    cast(-sum(share * ln(share)) as double) as genre_entropy
from ranked
join user_day using (user_id, activity_date)
group by ranked.user_id, ranked.activity_date, user_day.created_timestamp
order by ranked.user_id, ranked.activity_date
"""

TITLE_DAILY_SQL = """
select
    title_id,
    cast(timezone('UTC', event_timestamp) as timestamptz) as event_timestamp,
    cast(timezone('UTC', created_timestamp) as timestamptz) as created_timestamp,
    feature_date,
    interactions_1d, interactions_7d, interactions_30d, users_7d, users_30d,
    plays_7d, plays_30d, completion_rate_30d, rating_count_30d, rating_mean_30d,
    lifetime_interactions, lifetime_rating_mean, trend_7d
from marts.fct_title_daily_features
order by title_id, feature_date
"""

TITLE_CONTENT_SQL = f"""
select
    title_id,
    cast('{N.CONTENT_TIMESTAMP.isoformat()}' as timestamptz) as event_timestamp,
    coalesce(genres, []::varchar[]) as genres,
    primary_genre,
    kind,
    cast(release_year as bigint) as release_year,
    cast(runtime_minutes as bigint) as runtime_minutes,
    maturity_rating,
    language,
    cast(in_catalogue as bigint) as in_catalogue
from marts.dim_titles
order by title_id
"""

EXPORT_SQL = {
    N.USER_ACTIVITY_EXPORT: USER_ACTIVITY_SQL,
    N.USER_GENRE_EXPORT: USER_GENRE_SQL,
    N.TITLE_DAILY_EXPORT: TITLE_DAILY_SQL,
    N.TITLE_CONTENT_EXPORT: TITLE_CONTENT_SQL,
}

# The dbt models the exports read (Dagster deps): the marts, and staging.stg_events for the
# per-day device mix, recent history and genre shares (no mart keeps event-level detail).
EXPORT_DEPENDENCIES = (
    "fct_user_daily_features",
    "fct_title_daily_features",
    "dim_titles",
    "stg_events",
)
# ... and the training set's entity rows.
TRAINING_DEPENDENCIES = ("fct_interactions", "dim_titles")

def sql_string(value: object) -> str:
    """A SQL string literal (paths may hold quotes)."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class ExportedFile:
    name: str
    path: str
    rows: int
    entities: int
    min_event_timestamp: datetime | None
    max_event_timestamp: datetime | None
    seconds: float


@dataclass
class ExportSummary:
    files: dict[str, ExportedFile] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files.values())


def export_marts(home: MarqueeHome, con: duckdb.DuckDBPyConnection) -> ExportSummary:
    """Write every export from the warehouse behind ``con`` (read-only is enough)."""
    con.execute("SET TimeZone = 'UTC'")
    offline_dir(home).mkdir(parents=True, exist_ok=True)
    summary = ExportSummary()
    for name, sql in EXPORT_SQL.items():
        started = time.perf_counter()
        path = export_path(name, home)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        con.execute(f"COPY ({sql}) TO {sql_string(tmp)} (FORMAT parquet, COMPRESSION zstd)")
        tmp.replace(path)
        key = N.TITLE_KEY if name.startswith("title") else N.USER_KEY
        rows, entities, lo, hi = con.execute(
            f"SELECT count(*), count(DISTINCT {key}), min(event_timestamp), max(event_timestamp) "
            f"FROM read_parquet({sql_string(path)})"
        ).fetchone()
        summary.files[name] = ExportedFile(
            name, str(path), int(rows), int(entities), lo, hi, time.perf_counter() - started
        )
    return summary
