"""The Great Expectations suites, as code.

Each builder returns a fresh ``gx.ExpectationSuite`` for the thresholds of a
`QualityConfig`. GX ``severity``: ``critical`` expectations make the Dagster check fail with
severity ERROR (blocking), ``warning`` ones make it WARN.

- ``raw_events_schema``: the columns and DuckDB types of ``raw.events`` (validated on its
  DESCRIBE output, one row per column) against the landing contract.
- ``raw_events_rows``: the rows of the latest ingestion: event_type set, time range, required
  fields not NULL, per-type required values, value ranges, event_id unique.
- ``fct_interactions`` / ``dim_titles`` / ``dim_users``: keys unique and not NULL, value ranges.
- ``metrics_suite``: one-row frames of computed statistics (quarantine rate, referential
  coverage, row-count change, drift) against their thresholds.
- ``training_set``: label balance, feature NULL rates, no rows after the cutoff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from marquee.contracts import EVENT_TYPES, EVENTS, MAX_RATING, MAX_WATCH_SECONDS, MIN_RATING
from marquee.quality.config import QualityConfig

# DuckDB type of each landing-contract field type in raw.*.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "number": "DOUBLE",
    "integer": "INTEGER",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "string_list": "VARCHAR[]",
}
RAW_META_COLUMNS = {
    "_source_file": "VARCHAR",
    "_line": "BIGINT",
    "_batch_id": "BIGINT",
    "_ingested_at": "TIMESTAMP WITH TIME ZONE",
}
FCT_INTERACTIONS_COLUMNS = (
    "interaction_id", "user_id", "title_id", "first_interaction_ts", "last_interaction_ts",
    "n_events", "n_play_starts", "n_play_stops", "total_watch_seconds", "max_completion",
    "n_ratings", "latest_rating", "latest_thumbs", "added_to_list", "n_impressions",
    "interaction_strength", "is_positive",
)
DIM_TITLES_COLUMNS = (
    "title_id", "in_catalogue", "title", "kind", "genres", "primary_genre", "release_year",
    "runtime_minutes", "n_impressions", "n_interactions", "n_users", "n_positive",
    "mean_rating", "popularity_rank",
)
DIM_USERS_COLUMNS = (
    "user_id", "in_catalogue", "country", "age", "age_bucket", "n_events", "n_interactions",
    "n_titles", "n_positive",
)


def _gx():
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def expected_raw_events_schema() -> dict[str, str]:
    """column -> DuckDB type of raw.events, from the landing contract plus lineage columns."""
    schema = {f.name: DUCKDB_TYPES[f.type] for f in EVENTS.fields}
    schema.update(RAW_META_COLUMNS)
    return schema


def raw_events_schema_suite():
    """Validated on a frame (column_name, column_type) = DESCRIBE raw.events."""
    gx, gxe = _gx()
    schema = expected_raw_events_schema()
    return gx.ExpectationSuite(
        name="raw_events_schema",
        expectations=[
            gxe.ExpectColumnValuesToBeInSet(
                column="column_name", value_set=sorted(schema),
                description="no column outside the landing contract",
            ),
            gxe.ExpectTableRowCountToEqual(
                value=len(schema), description="every contract column present",
            ),
            gxe.ExpectColumnPairValuesToBeInSet(
                column_A="column_name", column_B="column_type",
                value_pairs_set=sorted(schema.items()),
                description="column types match the contract",
            ),
        ],
    )


def raw_events_rows_suite(config: QualityConfig, now: dt.datetime | None = None):
    """The rows of raw.events accepted by the latest ingestion."""
    gx, gxe = _gx()
    now = now or dt.datetime.now(dt.UTC)
    latest = now + dt.timedelta(seconds=config.future_tolerance_seconds)
    earliest = dt.datetime.fromisoformat(config.min_event_ts)
    if earliest.tzinfo is None:
        earliest = earliest.replace(tzinfo=dt.UTC)
    mostly = 1.0 - config.required_null_rate_max
    expectations = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1, description="the latest ingestion accepted at least one event"
        ),
        gxe.ExpectTableColumnsToMatchSet(
            column_set=sorted(expected_raw_events_schema()), exact_match=True,
            description="columns of raw.events",
        ),
        *(
            gxe.ExpectColumnValuesToNotBeNull(
                column=name, mostly=mostly, description="required field present"
            )
            for name in EVENTS.required
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="event_type", value_set=list(EVENT_TYPES), description="known event type"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="event_ts", min_value=earliest, max_value=latest,
            description="event time plausible (after min_event_ts, not in the future)",
        ),
        gxe.ExpectColumnValuesToBeUnique(column="event_id", description="event_id unique"),
        gxe.ExpectColumnValuesToBeBetween(
            column="rating", min_value=MIN_RATING, max_value=MAX_RATING,
            description="rating on the 0.5-5 star scale",
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="rating", row_condition='event_type=="rating"', condition_parser="pandas",
            description="rating events carry a rating",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="watch_seconds", min_value=0, max_value=MAX_WATCH_SECONDS,
            description="watch time between 0 and 24 h",
        ),
        gxe.ExpectColumnValuesToNotBeNull(
            column="watch_seconds", row_condition='event_type=="play_stop"',
            condition_parser="pandas", description="play_stop events carry watch_seconds",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="position", min_value=0, description="row position not negative"
        ),
    ]
    return gx.ExpectationSuite(name="raw_events_rows", expectations=expectations)


def _key(gxe, column: str) -> list:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column=column, description="key present"),
        gxe.ExpectColumnValuesToBeUnique(column=column, description="key unique"),
    ]


def _non_negative(gxe, columns: Sequence[str]) -> list:
    return [
        gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, description="count not negative")
        for c in columns
    ]


def fct_interactions_suite(config: QualityConfig):
    gx, gxe = _gx()
    return gx.ExpectationSuite(
        name="fct_interactions",
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(min_value=1, description="mart not empty"),
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(FCT_INTERACTIONS_COLUMNS), exact_match=False,
                description="columns consumers rely on",
            ),
            *_key(gxe, "interaction_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="user_id", description="user_id present"),
            gxe.ExpectColumnValuesToNotBeNull(column="title_id", description="title_id present"),
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["user_id", "title_id"], description="one row per user x title"
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="n_events", min_value=1, description="at least one engagement event"
            ),
            *_non_negative(
                gxe, ["n_play_starts", "n_play_stops", "total_watch_seconds", "n_ratings", "n_impressions"]
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="max_completion", min_value=0, max_value=1, description="completion in [0, 1]"
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="latest_rating", min_value=MIN_RATING, max_value=MAX_RATING,
                description="rating on the 0.5-5 star scale",
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="latest_thumbs", value_set=[-1, 1], description="thumbs is -1 or 1"
            ),
            gxe.ExpectColumnValuesToNotBeNull(column="is_positive", description="label present"),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="last_interaction_ts", column_B="first_interaction_ts", or_equal=True,
                description="last interaction not before the first",
            ),
        ],
    )


def dim_titles_suite(config: QualityConfig):
    gx, gxe = _gx()
    return gx.ExpectationSuite(
        name="dim_titles",
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(min_value=1, description="mart not empty"),
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(DIM_TITLES_COLUMNS), exact_match=False,
                description="columns consumers rely on",
            ),
            *_key(gxe, "title_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="in_catalogue", description="flag present"),
            *_key(gxe, "popularity_rank"),
            gxe.ExpectColumnValuesToBeInSet(
                column="kind", value_set=["movie", "series"], description="movie or series"
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="release_year", min_value=1870, max_value=2100, description="plausible year"
            ),
            *_non_negative(gxe, ["runtime_minutes", "n_impressions", "n_interactions", "n_users", "n_positive"]),
            gxe.ExpectColumnValuesToBeBetween(
                column="mean_rating", min_value=MIN_RATING, max_value=MAX_RATING,
                description="mean rating on the 0.5-5 star scale",
            ),
        ],
    )


def dim_users_suite(config: QualityConfig):
    gx, gxe = _gx()
    return gx.ExpectationSuite(
        name="dim_users",
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(min_value=1, description="mart not empty"),
            gxe.ExpectTableColumnsToMatchSet(
                column_set=list(DIM_USERS_COLUMNS), exact_match=False,
                description="columns consumers rely on",
            ),
            *_key(gxe, "user_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="in_catalogue", description="flag present"),
            gxe.ExpectColumnValuesToBeInSet(
                column="age_bucket",
                value_set=["<18", "18-24", "25-34", "35-44", "45-54", "55+", "unknown"],
                description="known age bucket",
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="age", min_value=0, max_value=120, severity="warning",
                description="plausible age",
            ),
            *_non_negative(gxe, ["n_events", "n_interactions", "n_titles", "n_positive"]),
        ],
    )


MART_SUITES = {
    "fct_interactions": fct_interactions_suite,
    "dim_titles": dim_titles_suite,
    "dim_users": dim_users_suite,
}


@dataclass(frozen=True)
class Bound:
    """A computed statistic and its allowed range; ``severity`` is GX's (critical/warning)."""

    metric: str
    min_value: float | None = None
    max_value: float | None = None
    severity: str = "critical"
    description: str | None = None


def metrics_suite(name: str, bounds: Sequence[Bound]):
    """A suite over a one-row frame whose columns are the metrics named in ``bounds``."""
    gx, gxe = _gx()
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            gxe.ExpectColumnMaxToBeBetween(
                column=b.metric, min_value=b.min_value, max_value=b.max_value,
                severity=b.severity, description=b.description,
            )
            for b in bounds
        ],
    )


def training_set_suite(
    config: QualityConfig,
    *,
    label: str,
    features: Sequence[str],
    cutoff: dt.datetime,
    timestamp: str = "event_timestamp",
    name: str = "training_set",
):
    """Label balance, feature NULL rates, nothing after ``cutoff`` (inclusive bound)."""
    gx, gxe = _gx()
    mostly = 1.0 - config.feature_null_rate_max
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            gxe.ExpectTableRowCountToBeBetween(min_value=1, description="training set not empty"),
            gxe.ExpectColumnValuesToNotBeNull(column=label, description="label present"),
            gxe.ExpectColumnValuesToBeInSet(
                column=label, value_set=[0, 1, True, False], description="binary label"
            ),
            gxe.ExpectColumnMeanToBeBetween(
                column=label, min_value=config.label_positive_rate_min,
                max_value=config.label_positive_rate_max,
                description="label balance: share of positives",
            ),
            *(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=f, mostly=mostly, description="feature NULL rate"
                )
                for f in features
            ),
            gxe.ExpectColumnValuesToNotBeNull(column=timestamp, description="row timestamp present"),
            gxe.ExpectColumnValuesToBeBetween(
                column=timestamp, max_value=cutoff, description="no rows after the cutoff"
            ),
        ],
    )
