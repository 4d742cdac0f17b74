"""Sources: Parquet exports of the dbt marts under $MARQUEE_HOME/feast/offline/, and a push
source for live user activity.

Every snapshot row carries ``event_timestamp`` = the moment it becomes valid (end of the UTC
day it summarises) and ``created_timestamp`` = when its newest input was ingested.
The exports are written by ``marquee.features.exports`` (Dagster asset ``feature_exports``).
"""

from feast import FileSource, PushSource
from feast.data_format import ParquetFormat

from marquee.features import names as N
from marquee.features.paths import definitions_home, export_path

_home = definitions_home()


def _parquet(name: str, description: str, created: bool = True) -> FileSource:
    return FileSource(
        name=f"{name}_source",
        path=str(export_path(name, _home)),
        file_format=ParquetFormat(),
        timestamp_field=N.TIMESTAMP_FIELD,
        created_timestamp_column=N.CREATED_FIELD if created else "",
        description=description,
    )


user_activity_source = _parquet(
    N.USER_ACTIVITY_EXPORT,
    "Daily user snapshots: fct_user_daily_features + 30-day device mix + recent history.",
)

user_genre_source = _parquet(
    N.USER_GENRE_EXPORT,
    "Lifetime genre shares of each user's engagement, one row per active day.",
)

title_daily_source = _parquet(
    N.TITLE_DAILY_EXPORT,
    "Daily title snapshots: fct_title_daily_features.",
)

title_content_source = _parquet(
    N.TITLE_CONTENT_EXPORT,
    "Catalogue attributes from dim_titles, stamped 1970-01-01 (known before any event).",
    created=False,
)

# The API pushes a user's updated activity row here the moment an event arrives; it feeds
# user_engagement and user_recent_history. Pushes are validated first
# (marquee.features.online.push_user_activity): a wrong schema changes nothing.
user_activity_push = PushSource(
    name=N.USER_ACTIVITY_PUSH,
    batch_source=user_activity_source,
    description="Live user activity: engagement counters and recent history.",
)
