-- depends_on: {{ ref('dim_titles') }}
-- (its relationships test needs dim_titles built first; Dagster builds this model in the step
-- after the daily partitions, and dbt runs a test where its last parent is built)
{#
    Daily title feature snapshots for Feast; same conventions as fct_user_daily_features
    (feature_date D covers data up to the end of UTC day D, valid from event_timestamp = D + 1
    day; windows in data time). Snapshot rows: the active days and D+1, D+7, D+14, D+30 after
    each active day D (D+14 because trend_7d compares the last 7 days with the 7 before), up to
    the last day with data. users_7d / users_30d add up daily distinct users (an upper bound of
    the distinct count: a user active on several days counts on each).
#}

{%- set offsets = [0, 1, 7, 14, 30] %}

with daily as (

    select * from {{ ref('int_title_daily_activity') }}

),

bounds as (

    select max(event_date) as last_data_date from {{ ref('stg_events') }}

),

deltas as (

    select
        daily.title_id,
        daily.activity_date + offsets.days as feature_date,
        {{ lifetime_delta('daily.n_events') }} as interactions_on_day,
        {{ window_delta('daily.n_events', 7) }} as d_interactions_7d,
        {{ window_delta('daily.n_events', 30) }} as d_interactions_30d,
        {{ previous_window_delta('daily.n_events', 7) }} as d_interactions_previous_7d,
        {{ window_delta('daily.n_users', 7) }} as d_users_7d,
        {{ window_delta('daily.n_users', 30) }} as d_users_30d,
        {{ window_delta('daily.n_play_starts', 7) }} as d_plays_7d,
        {{ window_delta('daily.n_play_starts', 30) }} as d_plays_30d,
        {{ window_delta(to_micros('daily.completion_sum'), 30) }} as d_completion_micros_30d,
        {{ window_delta('daily.n_completions', 30) }} as d_completions_30d,
        {{ window_delta('daily.n_ratings', 30) }} as d_ratings_30d,
        {{ window_delta(to_micros('daily.rating_sum'), 30) }} as d_rating_micros_30d,
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
        title_id,
        feature_date,
        sum(interactions_on_day) as interactions_1d,
        sum(d_interactions_7d) as d_interactions_7d,
        sum(d_interactions_30d) as d_interactions_30d,
        sum(d_interactions_previous_7d) as d_interactions_previous_7d,
        sum(d_users_7d) as d_users_7d,
        sum(d_users_30d) as d_users_30d,
        sum(d_plays_7d) as d_plays_7d,
        sum(d_plays_30d) as d_plays_30d,
        sum(d_completion_micros_30d) as d_completion_micros_30d,
        sum(d_completions_30d) as d_completions_30d,
        sum(d_ratings_30d) as d_ratings_30d,
        sum(d_rating_micros_30d) as d_rating_micros_30d,
        sum(d_lifetime_interactions) as d_lifetime_interactions,
        sum(d_lifetime_ratings) as d_lifetime_ratings,
        sum(d_lifetime_rating_micros) as d_lifetime_rating_micros,
        max(max_ingested_at) as max_ingested_at

    from deltas
    group by title_id, feature_date

),

running as (

    select
        title_id,
        feature_date,
        interactions_1d,
        sum(d_interactions_7d) over by_day as interactions_7d,
        sum(d_interactions_30d) over by_day as interactions_30d,
        sum(d_interactions_previous_7d) over by_day as interactions_previous_7d,
        sum(d_users_7d) over by_day as users_7d,
        sum(d_users_30d) over by_day as users_30d,
        sum(d_plays_7d) over by_day as plays_7d,
        sum(d_plays_30d) over by_day as plays_30d,
        sum(d_completion_micros_30d) over by_day as completion_micros_30d,
        sum(d_completions_30d) over by_day as completions_30d,
        sum(d_ratings_30d) over by_day as rating_count_30d,
        sum(d_rating_micros_30d) over by_day as rating_micros_30d,
        sum(d_lifetime_interactions) over by_day as lifetime_interactions,
        sum(d_lifetime_ratings) over by_day as lifetime_ratings,
        sum(d_lifetime_rating_micros) over by_day as lifetime_rating_micros,
        max(max_ingested_at) over by_day as created_timestamp

    from snapshot_days
    window by_day as (
        partition by title_id order by feature_date
        rows between unbounded preceding and current row
    )

)

select
    title_id,
    feature_date,
    cast(feature_date + interval 1 day as timestamp) as event_timestamp,
    created_timestamp,
    cast(interactions_1d as bigint) as interactions_1d,
    cast(interactions_7d as bigint) as interactions_7d,
    cast(interactions_30d as bigint) as interactions_30d,
    cast(users_7d as bigint) as users_7d,
    cast(users_30d as bigint) as users_30d,
    cast(plays_7d as bigint) as plays_7d,
    cast(plays_30d as bigint) as plays_30d,
    cast(completion_micros_30d / 1e6 / nullif(completions_30d, 0) as double)
        as completion_rate_30d,
    cast(rating_count_30d as bigint) as rating_count_30d,
    cast(rating_micros_30d / 1e6 / nullif(rating_count_30d, 0) as double) as rating_mean_30d,
    cast(lifetime_interactions as bigint) as lifetime_interactions,
    cast(lifetime_rating_micros / 1e6 / nullif(lifetime_ratings, 0) as double)
        as lifetime_rating_mean,
    cast(interactions_7d / greatest(interactions_previous_7d, 1) as double) as trend_7d

from running
