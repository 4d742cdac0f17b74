"""Names and knobs shared by the feature repo (``feature_repo/``), the exports and the API.

Changing a value here changes the feature definitions: re-run the ``feast_registry`` asset.
"""

from __future__ import annotations

import datetime as dt

PROJECT = "marquee"

# Entities and their join keys.
USER = "user"
TITLE = "title"
USER_KEY = "user_id"
TITLE_KEY = "title_id"

# Feature views.
USER_ENGAGEMENT = "user_engagement"
USER_RECENT_HISTORY = "user_recent_history"
USER_GENRE_AFFINITY = "user_genre_affinity"
TITLE_POPULARITY = "title_popularity"
TITLE_CONTENT = "title_content"
FEATURE_VIEWS = (USER_ENGAGEMENT, USER_RECENT_HISTORY, USER_GENRE_AFFINITY, TITLE_POPULARITY, TITLE_CONTENT)
USER_VIEWS = (USER_ENGAGEMENT, USER_RECENT_HISTORY, USER_GENRE_AFFINITY)
TITLE_VIEWS = (TITLE_POPULARITY, TITLE_CONTENT)

# Feature services.
RETRIEVAL = "retrieval"
RANKING = "ranking"

# Real time: the API pushes user activity here (user_engagement + user_recent_history).
USER_ACTIVITY_PUSH = "user_activity_push"

# Offline exports under $MARQUEE_HOME/feast/offline/ (one Parquet file per source).
USER_ACTIVITY_EXPORT = "user_activity"
USER_GENRE_EXPORT = "user_genre_affinity"
TITLE_DAILY_EXPORT = "title_daily_features"
TITLE_CONTENT_EXPORT = "title_content"
EXPORTS = (USER_ACTIVITY_EXPORT, USER_GENRE_EXPORT, TITLE_DAILY_EXPORT, TITLE_CONTENT_EXPORT)

TIMESTAMP_FIELD = "event_timestamp"
CREATED_FIELD = "created_timestamp"

# Windows follow data time. A snapshot row stays usable for ten years: MovieLens 1997-98
# joins and materializes (Feast's TTL is checked against the entity row's timestamp, and the
# first materialization is an explicit window from the data's own min/max, never now - TTL).
SNAPSHOT_TTL = dt.timedelta(days=3650)
# Catalogue facts are stamped 1970-01-01 (known before any event) and never expire (ttl 0).
CONTENT_TIMESTAMP = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CONTENT_TTL = dt.timedelta(0)

# user_recent_history: the last N distinct titles, newest first.
RECENT_HISTORY_LENGTH = 20
# user_genre_affinity: the top K genres (and their shares) as lists.
TOP_GENRES = 3
