{#-
    Generic test: no two rows share the given columns (dbt_utils is not reachable from our machines).

    When the table has a valid unique index with NULLS NOT DISTINCT over some of these columns (see
    unique_key_index), PostgreSQL has already refused every duplicate, so the test checks that the index is there
    instead of grouping every row: on social-security contributions that group is a full scan of ~10 million rows a
    month of history, every night. Without such an index it groups the table as before.
-#}
{% test unique_combination_of_columns(model, columns) %}
    {%- set enforced = execute and run_query('select ' ~ unique_index_exists(model, columns)).columns[0].values()[0] %}
    select {{ columns | join(', ') }}
    from {{ model }}
    {% if enforced -%}
        where false  -- a unique index enforces it (see above)
    {%- else -%}
        group by {{ columns | join(', ') }}
        having count(*) > 1
    {%- endif %}
{% endtest %}
