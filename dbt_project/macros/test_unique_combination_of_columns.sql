{#-
    Generic test: no two rows share the given columns (dbt_utils is not reachable from our machines).

    When the table has a valid unique index with NULLS NOT DISTINCT over a subset of these columns (see
    unique_key_index), PostgreSQL has already refused every duplicate, so the test checks that the index is there
    instead of grouping every row: on social-security contributions that group is a full scan of ~10 million rows a
    month of history, every night. Without such an index it groups the table as before.
-#}
{% test unique_combination_of_columns(model, columns) %}
    {%- set enforced = false -%}
    {%- if execute -%}
        {%- set sorted_columns = columns | sort -%}
        {%- set lookup -%}
            select count(*) from pg_index
            where indrelid = to_regclass('{{ model }}')
                and indisunique and indisvalid and indnullsnotdistinct
                and indpred is null and indexprs is null
                and array(
                    select attname::text from pg_attribute
                    where attrelid = indrelid and attnum = any(indkey[0:indnkeyatts - 1]::int2[])
                ) <@ array[{% for column in sorted_columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]::text[]
        {%- endset -%}
        {%- set enforced = run_query(lookup).columns[0].values()[0] > 0 -%}
    {%- endif %}
    select {{ columns | join(', ') }}
    from {{ model }}
    {% if enforced -%}
        where false  -- a unique index enforces it (see above)
    {%- else -%}
        group by {{ columns | join(', ') }}
        having count(*) > 1
    {%- endif %}
{% endtest %}
