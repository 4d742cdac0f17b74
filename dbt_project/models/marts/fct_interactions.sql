{#
    One row per user x title the user engaged with (any event except impression), over all
    time: the training / evaluation interactions. For MovieLens every rating is one row.
#}

with interactions as (

    select * from {{ ref('int_user_title_interactions') }}

)

select
    md5(user_id || '|' || title_id) as interaction_id,
    user_id,
    title_id,
    first_interaction_ts,
    last_interaction_ts,
    n_events,
    n_play_starts,
    n_play_stops,
    total_watch_seconds,
    max_completion,
    n_ratings,
    latest_rating,
    latest_thumbs,
    added_to_list,
    n_impressions,
    interaction_strength,
    is_positive

from interactions
