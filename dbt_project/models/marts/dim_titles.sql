{#
    Every title of the catalogue plus every title seen only in events (in_catalogue false).
#}

with catalogue as (

    select * from {{ ref('stg_titles') }}

),

event_titles as (

    select
        title_id,
        min(event_ts) as first_event_ts,
        max(event_ts) as last_event_ts,
        count(*) filter (where event_type = 'impression') as n_impressions

    from {{ ref('stg_events') }}
    group by title_id

),

interactions as (

    select
        title_id,
        sum(n_events) as n_interactions,
        count(*) as n_users,
        count(*) filter (where is_positive) as n_positive,
        avg(latest_rating) as mean_rating

    from {{ ref('fct_interactions') }}
    group by title_id

),

all_titles as (

    select title_id from catalogue
    union
    select title_id from event_titles

),

joined as (

    select
        all_titles.title_id,
        catalogue.title_id is not null as in_catalogue,
        catalogue.title,
        catalogue.kind,
        coalesce(catalogue.genres, []::varchar[]) as genres,
        catalogue.genres[1] as primary_genre,
        catalogue.release_year,
        catalogue.runtime_minutes,
        catalogue.maturity_rating,
        catalogue.language,
        event_titles.first_event_ts,
        event_titles.last_event_ts,
        coalesce(event_titles.n_impressions, 0) as n_impressions,
        coalesce(interactions.n_interactions, 0) as n_interactions,
        coalesce(interactions.n_users, 0) as n_users,
        coalesce(interactions.n_positive, 0) as n_positive,
        interactions.mean_rating

    from all_titles
    left join catalogue on all_titles.title_id = catalogue.title_id
    left join event_titles on all_titles.title_id = event_titles.title_id
    left join interactions on all_titles.title_id = interactions.title_id

)

select
    *,
    row_number() over (
        order by n_users desc, n_interactions desc, title_id
    ) as popularity_rank

from joined
