{{ config(meta={'dagster': {'ref': {'name': 'fct_interactions'}}}) }}

-- An interaction can never start before the title's first event of any type.
select
    interactions.interaction_id,
    interactions.title_id,
    interactions.first_interaction_ts,
    titles.first_event_ts
from {{ ref('fct_interactions') }} as interactions
inner join {{ ref('dim_titles') }} as titles on interactions.title_id = titles.title_id
where titles.first_event_ts is null
   or interactions.first_interaction_ts < titles.first_event_ts
