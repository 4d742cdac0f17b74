"""An experiment's exposures and outcomes from the warehouse (staging events)."""

from __future__ import annotations

import duckdb
import pandas as pd

# A play_stop counts as a completion at this share of the runtime (dbt's
# positive_completion_threshold).
COMPLETION = 0.7
EXPOSURE_PREFIX = "exp:"


def load_experiment_frames(
    con: duckdb.DuckDBPyConnection, experiment: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(exposures: user_id, arm, title_id, ts; outcomes: user_id, title_id, event_type, ts,
    watch_seconds, completed) for the users exposed in ``experiment``."""
    prefix = f"{EXPOSURE_PREFIX}{experiment}:"
    exposures = con.execute(
        """
        select user_id, substr(row_name, length(?) + 1) as arm, title_id, event_ts as ts
        from staging.stg_events
        where event_type = 'impression' and starts_with(row_name, ?)
        """,
        [prefix, prefix],
    ).df()
    outcomes = con.execute(
        """
        with exposed as (
            select distinct user_id from staging.stg_events
            where event_type = 'impression' and starts_with(row_name, ?)
        )
        select e.user_id, e.title_id, e.event_type, e.event_ts as ts, e.watch_seconds,
               coalesce(e.event_type = 'play_stop'
                        and e.watch_seconds >= ? * 60 * t.runtime_minutes, false) as completed
        from staging.stg_events as e
        inner join exposed using (user_id)
        left join staging.stg_titles as t using (title_id)
        where e.event_type in ('play_start', 'play_stop')
        """,
        [prefix, COMPLETION],
    ).df()
    return exposures, outcomes
