{#
    Every user of the users catalogue plus every user seen only in events (in_catalogue false).
#}

with catalogue as (

    select * from {{ ref('stg_users') }}

),

events as (

    select user_id, event_ts, device, country
    from {{ ref('stg_events') }}

),

event_users as (

    select
        user_id,
        min(event_ts) as first_event_ts,
        max(event_ts) as last_event_ts,
        count(*) as n_events

    from events
    group by user_id

),

device_counts as (

    select user_id, device, count(*) as n
    from events
    where device is not null
    group by user_id, device

),

primary_device as (

    -- most events; a tie goes to the alphabetically last device
    select user_id, arg_max(device, (n, device)) as primary_device
    from device_counts
    group by user_id

),

country_counts as (

    select user_id, country, count(*) as n
    from events
    where country is not null
    group by user_id, country

),

event_country as (

    select user_id, arg_max(country, (n, country)) as event_country
    from country_counts
    group by user_id

),

interactions as (

    select
        user_id,
        count(*) as n_titles,
        sum(n_events) as n_interactions,
        count(*) filter (where is_positive) as n_positive

    from {{ ref('fct_interactions') }}
    group by user_id

),

all_users as (

    select user_id from catalogue
    union
    select user_id from event_users

)

select
    all_users.user_id,
    catalogue.user_id is not null as in_catalogue,
    catalogue.signup_date,
    coalesce(catalogue.country, event_country.event_country) as country,
    catalogue.plan,
    catalogue.age,
    case
        when catalogue.age is null then 'unknown'
        when catalogue.age < 18 then '<18'
        when catalogue.age < 25 then '18-24'
        when catalogue.age < 35 then '25-34'
        when catalogue.age < 45 then '35-44'
        when catalogue.age < 55 then '45-54'
        else '55+'
    end as age_bucket,
    catalogue.gender,
    catalogue.occupation,
    event_users.first_event_ts,
    event_users.last_event_ts,
    coalesce(event_users.n_events, 0) as n_events,
    coalesce(interactions.n_interactions, 0) as n_interactions,
    coalesce(interactions.n_titles, 0) as n_titles,
    coalesce(interactions.n_positive, 0) as n_positive,
    primary_device.primary_device

from all_users
left join catalogue on all_users.user_id = catalogue.user_id
left join event_users on all_users.user_id = event_users.user_id
left join primary_device on all_users.user_id = primary_device.user_id
left join event_country on all_users.user_id = event_country.user_id
left join interactions on all_users.user_id = interactions.user_id
