{#
    For the incremental daily-activity models: the UTC days whose aggregates must be recomputed
    because of data this model has not seen yet, i.e.
      * days of stg_events rows from a batch newer than the events watermark stored in the model,
      * days of play_stop events of titles whose catalogue row changed since the titles
        watermark (completion depends on runtime_minutes).
    Both watermarks are columns of the model itself (_events_watermark, _titles_watermark).
#}
{% macro touched_event_dates(this_relation) -%}
    select distinct event_date
    from {{ ref('stg_events') }}
    where _batch_id > (select coalesce(max(_events_watermark), -1) from {{ this_relation }})
    union
    select distinct e.event_date
    from {{ ref('stg_events') }} as e
    inner join {{ ref('stg_titles') }} as t on e.title_id = t.title_id
    where e.event_type = 'play_stop'
      and t._batch_id > (select coalesce(max(_titles_watermark), -1) from {{ this_relation }})
{%- endmacro %}
