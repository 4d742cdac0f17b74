{#
    Fails for every row where any of `columns` is NULL: one query (and one dbt node / Dagster
    asset check) for the many structurally non-null metric columns of a model, instead of one
    not_null test per column. Keys keep their own not_null tests.
#}
{% test not_null_columns(model, columns) %}
    select *
    from {{ model }}
    where
    {%- for column in columns %}
        {{ column }} is null{{ " or" if not loop.last }}
    {%- endfor %}
{% endtest %}
