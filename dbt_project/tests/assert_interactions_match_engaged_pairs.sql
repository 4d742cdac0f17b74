{{ config(meta={'dagster': {'ref': {'name': 'fct_interactions'}}}) }}

-- fct_interactions has exactly one row per distinct engaged user x title pair of stg_events.
with expected as (
    select count(*) as n
    from (
        select distinct user_id, title_id
        from {{ ref('stg_events') }}
        where event_type <> 'impression'
    )
),

actual as (
    select count(*) as n from {{ ref('fct_interactions') }}
)

select expected.n as expected_rows, actual.n as actual_rows
from expected cross join actual
where expected.n <> actual.n
