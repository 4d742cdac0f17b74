{#
    Sessionisation: a user's events ordered by time; a new session starts with the user's first
    event and after every gap longer than var('session_gap_minutes') (default 30).

    To avoid sorting every event, events are first aggregated into fixed buckets as wide as the
    gap (per user): two events of one bucket are less than a gap apart, so a session boundary
    can only fall between buckets, where the gap is next bucket's first event - this bucket's
    last event. The window functions then run over the (much fewer) buckets. Exact, and the
    same result as an event-by-event pass.
#}

{%- set gap_minutes = var('session_gap_minutes') %}
{%- set gap_us = gap_minutes * 60 * 1000000 %}

with events as (

    select user_id, event_ts, event_type, device
    from {{ ref('stg_events') }}

),

buckets as (

    select
        user_id,
        epoch_us(event_ts) // {{ gap_us }} as bucket,
        min(event_ts) as first_ts,
        max(event_ts) as last_ts,
        count(*) as n_events,
        count(*) filter (where event_type = 'impression') as n_impressions,
        count(*) filter (where event_type = 'play_start') as n_plays,
        arg_min(device, event_ts) as device

    from events
    group by user_id, bucket

),

flagged as (

    select
        *,
        case
            when first_ts - lag(last_ts) over (partition by user_id order by first_ts)
                <= interval '{{ gap_minutes }} minutes'
                then 0
            else 1
        end as is_session_start

    from buckets

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by user_id order by first_ts
            rows between unbounded preceding and current row
        ) as session_number

    from flagged

),

sessions as (

    select
        user_id,
        session_number,
        min(first_ts) as session_start_ts,
        max(last_ts) as session_end_ts,
        sum(n_events) as n_events,
        sum(n_impressions) as n_impressions,
        sum(n_plays) as n_plays,
        arg_min(device, first_ts) as device

    from numbered
    group by user_id, session_number

)

select
    md5(user_id || '|' || cast(session_start_ts as varchar)) as session_id,
    user_id,
    cast(session_number as bigint) as session_number,
    session_start_ts,
    session_end_ts,
    cast(session_start_ts as date) as session_date,
    date_diff('second', session_start_ts, session_end_ts) as duration_seconds,
    cast(n_events as bigint) as n_events,
    cast(n_impressions as bigint) as n_impressions,
    cast(n_plays as bigint) as n_plays,
    device

from sessions
