{#
    Fraction of a title watched by one play_stop event: watch_seconds / (runtime_minutes * 60),
    capped at 1; NULL when the event is not a play_stop, watch_seconds is missing or the runtime
    is unknown.
#}
{% macro completion(event_type, watch_seconds, runtime_minutes) -%}
    case
        when {{ event_type }} = 'play_stop'
            and {{ watch_seconds }} is not null
            and {{ runtime_minutes }} > 0
            then least({{ watch_seconds }} / ({{ runtime_minutes }} * 60.0), 1.0)
    end
{%- endmacro %}
