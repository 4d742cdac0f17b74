{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        tags=['daily'],
        on_schema_change='fail'
    )
}}

{#
    Engagement per title per UTC day (only days with at least one engagement event, i.e. any
    event_type except impression). Incremental: every run deletes and recomputes, for all titles,
    the days touched by batches this model has not seen (macro touched_event_dates).
#}

{{ daily_engagement('title_id', 'user_id', 'n_users') }}
