"""Feature services: what each model reads, offline and online, under one name."""

from feast import FeatureService
from feature_views import (
    title_content,
    title_popularity,
    user_engagement,
    user_genre_affinity,
    user_recent_history,
)

from marquee.features import names as N

retrieval = FeatureService(
    name=N.RETRIEVAL,
    features=[
        user_engagement[["interactions_30d", "active_days_30d", "mean_rating_30d", "lifetime_interactions"]],
        user_genre_affinity,
        user_recent_history,
        title_content,
    ],
    description="Two-tower candidate retrieval: slow-moving user taste and title content.",
    tags={"owner": "team:ml", "model": "two_tower"},
)

ranking = FeatureService(
    name=N.RANKING,
    features=[
        user_engagement,
        user_genre_affinity,
        user_recent_history,
        title_popularity,
        title_content,
    ],
    description="XGBoost learning-to-rank: every user and title feature, read with full names.",
    tags={"owner": "team:ml", "model": "ranker"},
)
