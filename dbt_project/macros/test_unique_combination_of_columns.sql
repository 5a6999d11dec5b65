{#- Generic test: no two rows share the given columns (dbt_utils is not reachable from our machines). -#}
{% test unique_combination_of_columns(model, columns) %}
    select {{ columns | join(', ') }}
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
