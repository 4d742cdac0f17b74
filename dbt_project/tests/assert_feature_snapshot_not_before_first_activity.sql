{{ config(meta={'dagster': {'ref': {'name': 'fct_user_daily_features'}}}) }}

-- A feature snapshot never predates its entity's first engagement day (snapshots start on an
-- active day and only ever move forward from it), and is valid exactly one day after the day
-- it summarises.
with first_user_activity as (
    select user_id, min(activity_date) as first_date
    from {{ ref('int_user_daily_activity') }}
    group by user_id
),

first_title_activity as (
    select title_id, min(activity_date) as first_date
    from {{ ref('int_title_daily_activity') }}
    group by title_id
)

select 'user' as entity, features.user_id as entity_id, features.feature_date
from {{ ref('fct_user_daily_features') }} as features
left join first_user_activity on features.user_id = first_user_activity.user_id
where first_user_activity.first_date is null
   or features.feature_date < first_user_activity.first_date
   or features.event_timestamp <> cast(features.feature_date + interval 1 day as timestamp)

union all

select 'title' as entity, features.title_id as entity_id, features.feature_date
from {{ ref('fct_title_daily_features') }} as features
left join first_title_activity on features.title_id = first_title_activity.title_id
where first_title_activity.first_date is null
   or features.feature_date < first_title_activity.first_date
   or features.event_timestamp <> cast(features.feature_date + interval 1 day as timestamp)
