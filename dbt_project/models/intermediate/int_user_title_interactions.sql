{{ config(materialized='view') }}

{#
    One row per user x title with at least one engagement event (any event_type except
    impression), aggregated over all time. interaction_strength / is_positive: see the YAML.
    A view: fct_interactions materialises it (one pass over stg_events instead of two copies).

    "Latest" rating / thumbs use a BIGINT sort key (microseconds since epoch, scaled, with the
    value in the low digits) instead of a struct: on an exact timestamp tie the higher value
    wins, deterministically, and arg_max stays cheap on millions of rows.
#}

with events as (

    select * from {{ ref('stg_events') }}

),

titles as (

    select title_id, runtime_minutes from {{ ref('stg_titles') }}

),

engagement as (

    select
        user_id,
        title_id,
        min(event_ts) as first_interaction_ts,
        max(event_ts) as last_interaction_ts,
        count(*) as n_events,
        count(*) filter (where event_type = 'play_start') as n_play_starts,
        count(*) filter (where event_type = 'play_stop') as n_play_stops,
        coalesce(sum(watch_seconds) filter (where event_type = 'play_stop'), 0)
            as total_watch_seconds,
        max(watch_seconds) filter (where event_type = 'play_stop') as max_watch_seconds,
        count(*) filter (where event_type = 'rating' and rating is not null) as n_ratings,
        arg_max(rating, epoch_us(event_ts) * 16 + cast(round(rating * 2) as bigint))
            filter (where event_type = 'rating' and rating is not null) as latest_rating,
        max(epoch_us(event_ts) * 2 + case when event_type = 'thumbs_up' then 1 else 0 end)
            filter (where event_type in ('thumbs_up', 'thumbs_down')) as latest_thumbs_key,
        count(*) filter (where event_type = 'add_to_list') > 0 as added_to_list

    from events
    where event_type <> 'impression'
    group by user_id, title_id

),

impressions as (

    select impressions.user_id, impressions.title_id, count(*) as n_impressions
    from events as impressions
    semi join engagement
        on impressions.user_id = engagement.user_id
        and impressions.title_id = engagement.title_id
    where impressions.event_type = 'impression'
    group by impressions.user_id, impressions.title_id

),

joined as (

    select
        engagement.* exclude (latest_thumbs_key),
        cast(
            case
                when engagement.latest_thumbs_key % 2 = 1 then 1
                when engagement.latest_thumbs_key % 2 = 0 then -1
            end as integer
        ) as latest_thumbs,
        coalesce(impressions.n_impressions, 0) as n_impressions,
        titles.runtime_minutes,
        case
            when titles.runtime_minutes > 0 and engagement.max_watch_seconds is not null
                then least(engagement.max_watch_seconds / (titles.runtime_minutes * 60.0), 1.0)
        end as max_completion

    from engagement
    left join impressions
        on engagement.user_id = impressions.user_id
        and engagement.title_id = impressions.title_id
    left join titles on engagement.title_id = titles.title_id

)

select
    user_id,
    title_id,
    first_interaction_ts,
    last_interaction_ts,
    n_events,
    n_play_starts,
    n_play_stops,
    total_watch_seconds,
    runtime_minutes,
    max_completion,
    n_ratings,
    latest_rating,
    latest_thumbs,
    added_to_list,
    n_impressions,
    round(
        coalesce(max_completion, 0)
        + 0.5 * ln(1 + n_play_starts)
        + coalesce((latest_rating - 3) / 2, 0)
        + coalesce(latest_thumbs, 0)
        + case when added_to_list then 0.5 else 0 end,
        6
    ) as interaction_strength,
    (
        coalesce(latest_rating >= {{ var('positive_rating_threshold') }}, false)
        or coalesce(latest_thumbs = 1, false)
        or coalesce(max_completion >= {{ var('positive_completion_threshold') }}, false)
        or added_to_list
    )
    and not coalesce(latest_thumbs = -1, false)
    and not coalesce(latest_rating <= {{ var('negative_rating_threshold') }}, false)
        as is_positive

from joined
