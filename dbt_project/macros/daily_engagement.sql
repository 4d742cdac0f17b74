{#
    Engagement per entity (user or title) per UTC day, shared by int_user_daily_activity and
    int_title_daily_activity: only days with at least one engagement event (any event_type
    except impression). In incremental runs only the days touched by unseen batches are rebuilt.

    Partition runs (vars min_date / max_date, set by Dagster for a partition or a backfill
    range; orchestration/partitions.py) rebuild the days in [min_date, max_date) instead, and
    keep the stored watermarks, so batches the model has not seen still count as unseen.

    key:         the entity column the rows are keyed by (user_id or title_id)
    other:       the other side, counted distinct per day
    distinct_as: the name of that distinct count (n_titles or n_users)
#}
{% macro daily_engagement(key, other, distinct_as) %}
{%- set min_date = var('min_date', none) -%}
{%- set max_date = var('max_date', none) -%}
{%- set windowed = is_incremental() and min_date is not none and max_date is not none -%}
with
{% if is_incremental() and not windowed %}
touched_days as (

    {{ touched_event_dates(this) }}

),
{% endif %}

events as (

    select
        events.user_id,
        events.title_id,
        events.event_date,
        events.event_type,
        events.watch_seconds,
        events.rating,
        events._ingested_at,
        {{ completion('events.event_type', 'events.watch_seconds', 'titles.runtime_minutes') }}
            as completion

    from {{ ref('stg_events') }} as events
    left join {{ ref('stg_titles') }} as titles on events.title_id = titles.title_id
    where events.event_type <> 'impression'
    {% if windowed %}
      and events.event_date >= cast('{{ min_date }}' as date)
      and events.event_date < cast('{{ max_date }}' as date)
    {% elif is_incremental() %}
      and events.event_date in (select event_date from touched_days)
    {% endif %}

)

select
    {{ key }},
    event_date as activity_date,
    count(*) as n_events,
    count(*) filter (where event_type = 'play_start') as n_play_starts,
    count(*) filter (where event_type = 'play_stop') as n_play_stops,
    -- sums in fixed point: exact and independent of the summation order
    coalesce(
        sum(cast(round(watch_seconds * 1000) as bigint)) filter (where event_type = 'play_stop'),
        0
    ) / 1e3 as watch_seconds,
    coalesce(sum({{ to_micros('completion') }}), 0) / 1e6 as completion_sum,
    count(completion) as n_completions,
    count(*) filter (where event_type = 'rating' and rating is not null) as n_ratings,
    coalesce(sum({{ to_micros('rating') }}) filter (where event_type = 'rating'), 0) / 1e6
        as rating_sum,
    count(*) filter (where event_type = 'thumbs_up') as n_thumbs_up,
    count(*) filter (where event_type = 'thumbs_down') as n_thumbs_down,
    count(*) filter (where event_type = 'add_to_list') as n_list_adds,
    count(distinct {{ other }}) as {{ distinct_as }},
    max(_ingested_at) as max_ingested_at,
    {% if windowed %}
    (select max(_events_watermark) from {{ this }}) as _events_watermark,
    (select max(_titles_watermark) from {{ this }}) as _titles_watermark
    {% else %}
    (select max(_batch_id) from {{ ref('stg_events') }}) as _events_watermark,
    (select coalesce(max(_batch_id), -1) from {{ ref('stg_titles') }}) as _titles_watermark
    {% endif %}

from events
group by {{ key }}, event_date
{% endmacro %}
