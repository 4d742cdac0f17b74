-- depends_on: {{ ref('dim_users') }}
-- (its relationships test needs dim_users built first; Dagster builds this model in the step
-- after the daily partitions, and dbt runs a test where its last parent is built)
{#
    Daily user feature snapshots for Feast. The row of feature_date D summarises engagement up
    to the end of UTC day D and becomes valid at event_timestamp = D + 1 day (no leakage).
    Windows count days in data time (never now()): interactions_7d covers [D - 6, D].
    Sparse: a row only on days where some rolling value changes -- the active days and the days
    D+1, D+7, D+30 after each active day D (when its activity leaves the 1/7/30-day windows),
    up to the last day with data. Between two rows the earlier row still holds (as-of join).
    Computed as running sums of deltas (macros/rolling.sql).
#}

{%- set offsets = [0, 1, 7, 30] %}

with daily as (

    select * from {{ ref('int_user_daily_activity') }}

),

bounds as (

    select max(event_date) as last_data_date from {{ ref('stg_events') }}

),

first_activity as (

    select user_id, min(activity_date) as first_active_date
    from daily
    group by user_id

),

deltas as (

    select
        daily.user_id,
        daily.activity_date + offsets.days as feature_date,
        {{ lifetime_delta('daily.n_events') }} as interactions_on_day,
        {{ window_delta('daily.n_events', 7) }} as d_interactions_7d,
        {{ window_delta('daily.n_events', 30) }} as d_interactions_30d,
        {{ window_delta('daily.n_play_starts', 7) }} as d_plays_7d,
        {{ window_delta('daily.n_play_starts', 30) }} as d_plays_30d,
        {{ window_delta(to_micros('daily.watch_seconds'), 30) }} as d_watch_micros_30d,
        {{ window_delta(to_micros('daily.completion_sum'), 30) }} as d_completion_micros_30d,
        {{ window_delta('daily.n_completions', 30) }} as d_completions_30d,
        {{ window_delta('daily.n_ratings', 30) }} as d_ratings_30d,
        {{ window_delta(to_micros('daily.rating_sum'), 30) }} as d_rating_micros_30d,
        {{ window_delta('1', 30) }} as d_active_days_30d,
        {{ lifetime_delta('daily.n_events') }} as d_lifetime_interactions,
        {{ lifetime_delta('daily.n_ratings') }} as d_lifetime_ratings,
        {{ lifetime_delta(to_micros('daily.rating_sum')) }} as d_lifetime_rating_micros,
        case when offsets.days = 0 then daily.max_ingested_at end as max_ingested_at

    from daily
    cross join (values {% for o in offsets %}({{ o }}){{ ", " if not loop.last }}{% endfor %}) as offsets (days)
    where daily.activity_date + offsets.days <= (select last_data_date from bounds)

),

snapshot_days as (

    select
        user_id,
        feature_date,
        sum(interactions_on_day) as interactions_1d,
        sum(d_interactions_7d) as d_interactions_7d,
        sum(d_interactions_30d) as d_interactions_30d,
        sum(d_plays_7d) as d_plays_7d,
        sum(d_plays_30d) as d_plays_30d,
        sum(d_watch_micros_30d) as d_watch_micros_30d,
        sum(d_completion_micros_30d) as d_completion_micros_30d,
        sum(d_completions_30d) as d_completions_30d,
        sum(d_ratings_30d) as d_ratings_30d,
        sum(d_rating_micros_30d) as d_rating_micros_30d,
        sum(d_active_days_30d) as d_active_days_30d,
        sum(d_lifetime_interactions) as d_lifetime_interactions,
        sum(d_lifetime_ratings) as d_lifetime_ratings,
        sum(d_lifetime_rating_micros) as d_lifetime_rating_micros,
        max(max_ingested_at) as max_ingested_at

    from deltas
    group by user_id, feature_date

),

running as (

    select
        user_id,
        feature_date,
        interactions_1d,
        sum(d_interactions_7d) over by_day as interactions_7d,
        sum(d_interactions_30d) over by_day as interactions_30d,
        sum(d_plays_7d) over by_day as plays_7d,
        sum(d_plays_30d) over by_day as plays_30d,
        sum(d_watch_micros_30d) over by_day as watch_micros_30d,
        sum(d_completion_micros_30d) over by_day as completion_micros_30d,
        sum(d_completions_30d) over by_day as completions_30d,
        sum(d_ratings_30d) over by_day as ratings_count_30d,
        sum(d_rating_micros_30d) over by_day as rating_micros_30d,
        sum(d_active_days_30d) over by_day as active_days_30d,
        sum(d_lifetime_interactions) over by_day as lifetime_interactions,
        sum(d_lifetime_ratings) over by_day as lifetime_ratings,
        sum(d_lifetime_rating_micros) over by_day as lifetime_rating_micros,
        max(max_ingested_at) over by_day as created_timestamp

    from snapshot_days
    window by_day as (
        partition by user_id order by feature_date
        rows between unbounded preceding and current row
    )

)

select
    running.user_id,
    running.feature_date,
    cast(running.feature_date + interval 1 day as timestamp) as event_timestamp,
    created_timestamp,
    cast(interactions_1d as bigint) as interactions_1d,
    cast(interactions_7d as bigint) as interactions_7d,
    cast(interactions_30d as bigint) as interactions_30d,
    cast(plays_7d as bigint) as plays_7d,
    cast(plays_30d as bigint) as plays_30d,
    cast(watch_micros_30d / 1e6 as double) as watch_seconds_30d,
    cast(completion_micros_30d / 1e6 / nullif(completions_30d, 0) as double)
        as completion_rate_30d,
    cast(ratings_count_30d as bigint) as ratings_count_30d,
    cast(rating_micros_30d / 1e6 / nullif(ratings_count_30d, 0) as double) as mean_rating_30d,
    cast(active_days_30d as bigint) as active_days_30d,
    cast(lifetime_interactions as bigint) as lifetime_interactions,
    cast(lifetime_rating_micros / 1e6 / nullif(lifetime_ratings, 0) as double)
        as lifetime_mean_rating,
    cast(running.feature_date - first_activity.first_active_date as bigint)
        as days_since_first_event

from running
inner join first_activity on running.user_id = first_activity.user_id
