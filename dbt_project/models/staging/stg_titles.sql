{#
    The title catalogue, one row per title_id: a title may be landed again in a later file (an
    update); the row from the latest _batch_id, then the latest _line, wins as a whole.
#}

with source as (

    select * from {{ source('raw', 'titles') }}

),

latest as (

    select * from source
    qualify row_number() over (
        partition by trim(title_id) order by _batch_id desc, _line desc nulls last
    ) = 1

),

cleaned as (

    select
        trim(title_id) as title_id,
        nullif(trim(title), '') as title,
        nullif(lower(trim(kind)), '') as kind,
        list_filter(
            list_transform(coalesce(genres, []::varchar[]), lambda g: trim(g)),
            lambda g: g is not null and g <> ''
        ) as trimmed_genres,
        release_year,
        case when runtime_minutes > 0 then runtime_minutes end as runtime_minutes,
        nullif(trim(maturity_rating), '') as maturity_rating,
        nullif(trim(language), '') as language,
        _source_file,
        _line,
        _batch_id,
        timezone('UTC', _ingested_at) as _ingested_at

    from latest

)

select
    title_id,
    title,
    kind,
    -- deduplicated, first occurrence order kept
    cast(
        list_filter(trimmed_genres, lambda g, i: list_position(trimmed_genres, g) = i)
        as varchar[]
    ) as genres,
    release_year,
    runtime_minutes,
    maturity_rating,
    language,
    _source_file,
    _line,
    _batch_id,
    _ingested_at

from cleaned
