{#
    The user catalogue, one row per user_id: the row from the latest _batch_id, then the latest
    _line, wins as a whole.
#}

with source as (

    select * from {{ source('raw', 'users') }}

),

latest as (

    select * from source
    qualify row_number() over (
        partition by trim(user_id) order by _batch_id desc, _line desc nulls last
    ) = 1

)

select
    trim(user_id) as user_id,
    signup_date,
    nullif(upper(trim(country)), '') as country,
    nullif(lower(trim(plan)), '') as plan,
    case when age >= 0 then age end as age,
    nullif(trim(gender), '') as gender,
    nullif(trim(occupation), '') as occupation,
    _source_file,
    _line,
    _batch_id,
    timezone('UTC', _ingested_at) as _ingested_at

from latest
