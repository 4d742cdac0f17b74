"""Feature views. Windows are in data time: a row for day D covers events up to the end of D
and is valid from D + 1 day (see dbt_project/models/marts/_marts.yml)."""

from data_sources import (
    title_content_source,
    title_daily_source,
    user_activity_push,
    user_genre_source,
)
from entities import title, user
from feast import FeatureView, Field
from feast.types import Array, Float64, Int64, String

from marquee.features import names as N

_TAGS = {"owner": "team:data-platform"}

user_engagement = FeatureView(
    name=N.USER_ENGAGEMENT,
    entities=[user],
    ttl=N.SNAPSHOT_TTL,
    schema=[
        Field(name="interactions_1d", dtype=Int64, description="Engagement events on the day."),
        Field(name="interactions_7d", dtype=Int64, description="Engagement events, last 7 days."),
        Field(name="interactions_30d", dtype=Int64, description="Engagement events, last 30 days."),
        Field(name="plays_7d", dtype=Int64),
        Field(name="plays_30d", dtype=Int64),
        Field(name="watch_seconds_30d", dtype=Float64),
        Field(name="completion_rate_30d", dtype=Float64, description="Mean completion of play_stops (null if none)."),
        Field(name="ratings_count_30d", dtype=Int64),
        Field(name="mean_rating_30d", dtype=Float64, description="Null if no rating."),
        Field(name="active_days_30d", dtype=Int64),
        Field(name="lifetime_interactions", dtype=Int64),
        Field(name="lifetime_mean_rating", dtype=Float64),
        Field(name="days_since_first_event", dtype=Int64),
        Field(name="device_mix_30d", dtype=String, description='JSON {"device": share} of the last 30 days\' engagement ("{}" if none known).'),
        Field(name="primary_device_30d", dtype=String, description="Most used device, last 30 days (null if none known)."),
    ],
    source=user_activity_push,
    online=True,
    description="How much and how a user engages: 1/7/30-day counters, completion, ratings, activity, devices.",
    tags=_TAGS,
)

user_recent_history = FeatureView(
    name=N.USER_RECENT_HISTORY,
    entities=[user],
    ttl=N.SNAPSHOT_TTL,
    schema=[
        Field(
            name="recent_titles",
            dtype=Array(String),
            description=f"The last {N.RECENT_HISTORY_LENGTH} distinct titles engaged with, newest first.",
        ),
        Field(name="recent_title_count", dtype=Int64, description="Length of recent_titles."),
    ],
    source=user_activity_push,
    online=True,
    description="What the user engaged with last (newest first); updated live by pushes.",
    tags=_TAGS,
)

user_genre_affinity = FeatureView(
    name=N.USER_GENRE_AFFINITY,
    entities=[user],
    ttl=N.SNAPSHOT_TTL,
    schema=[
        Field(name="top_genres", dtype=Array(String), description=f"The {N.TOP_GENRES} genres with the largest share."),
        Field(name="top_genre_shares", dtype=Array(Float64), description="Their shares, aligned with top_genres."),
        Field(name="genre_shares", dtype=String, description='JSON {"genre": share} over all genres, largest first.'),
        Field(name="genre_count", dtype=Int64, description="Distinct genres engaged with."),
        Field(name="genre_entropy", dtype=Float64, description="Shannon entropy (nats) of the shares: breadth of taste."),
    ],
    source=user_genre_source,
    online=True,
    description="Share of the user's engagement events per genre, up to the snapshot day.",
    tags=_TAGS,
)

title_popularity = FeatureView(
    name=N.TITLE_POPULARITY,
    entities=[title],
    ttl=N.SNAPSHOT_TTL,
    schema=[
        Field(name="interactions_1d", dtype=Int64),
        Field(name="interactions_7d", dtype=Int64),
        Field(name="interactions_30d", dtype=Int64),
        Field(name="users_7d", dtype=Int64),
        Field(name="users_30d", dtype=Int64),
        Field(name="plays_7d", dtype=Int64),
        Field(name="plays_30d", dtype=Int64),
        Field(name="completion_rate_30d", dtype=Float64),
        Field(name="rating_count_30d", dtype=Int64),
        Field(name="rating_mean_30d", dtype=Float64),
        Field(name="lifetime_interactions", dtype=Int64),
        Field(name="lifetime_rating_mean", dtype=Float64),
        Field(name="trend_7d", dtype=Float64, description="Interactions of the last 7 days / of the 7 before."),
    ],
    source=title_daily_source,
    online=True,
    description="How popular a title is and where it is heading: 1/7/30-day counters, completion, ratings, trend.",
    tags=_TAGS,
)

title_content = FeatureView(
    name=N.TITLE_CONTENT,
    entities=[title],
    ttl=N.CONTENT_TTL,
    schema=[
        Field(name="genres", dtype=Array(String)),
        Field(name="primary_genre", dtype=String),
        Field(name="kind", dtype=String, description="movie or series."),
        Field(name="release_year", dtype=Int64),
        Field(name="runtime_minutes", dtype=Int64),
        Field(name="maturity_rating", dtype=String),
        Field(name="language", dtype=String),
        Field(name="in_catalogue", dtype=Int64, description="1 if the title is in the catalogue, 0 if seen only in events."),
    ],
    source=title_content_source,
    online=True,
    description="Catalogue attributes of a title (static: valid from 1970-01-01, never expire).",
    tags=_TAGS,
)
