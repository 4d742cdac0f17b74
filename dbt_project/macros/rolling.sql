{#
    Helpers of the daily feature snapshots (fct_*_daily_features).

    A rolling sum over the last N days is a running sum of "deltas": a day's value enters on the
    day itself (offset 0) and leaves N days later (offset N). Every daily activity row is
    expanded to the offsets where it changes some window; the deltas of a day are added up per
    entity and day (these days are exactly the sparse snapshot days), and every window is then
    a running sum over the entity's snapshot days -- one sort, no RANGE frames, no dense grid.
    Deltas are integer-valued DOUBLEs (counts, or amounts in fixed point via to_micros): sums
    of those are exact and independent of the summation order, and faster than HUGEINT sums.
#}

{# The delta of `expr` for a window of `days` days: +expr at offset 0, -expr at offset `days`. #}
{% macro window_delta(expr, days, offset_column='offsets.days') -%}
    cast(
        case {{ offset_column }} when 0 then {{ expr }} when {{ days }} then -({{ expr }}) else 0 end
        as double
    )
{%- endmacro %}

{# The delta of `expr` for the window [D - 2*days + 1, D - days] (the previous `days` days). #}
{% macro previous_window_delta(expr, days, offset_column='offsets.days') -%}
    cast(
        case {{ offset_column }}
            when {{ days }} then {{ expr }} when {{ 2 * days }} then -({{ expr }}) else 0
        end
        as double
    )
{%- endmacro %}

{# Lifetime: +expr on the day itself only. #}
{% macro lifetime_delta(expr, offset_column='offsets.days') -%}
    cast(case {{ offset_column }} when 0 then {{ expr }} else 0 end as double)
{%- endmacro %}

{# A DOUBLE amount as an integer number of 1e-6 units (still a DOUBLE, exact below 2^53). #}
{% macro to_micros(expr) -%}
    round({{ expr }} * 1000000)
{%- endmacro %}
