{#-
    Post-hook: make sure {{ this }} has a unique index over `columns` with NULLS NOT DISTINCT (PostgreSQL 15+), so
    the database refuses a duplicate key on every write, a night's delete+insert included, and the
    unique_combination_of_columns test can take the index's word instead of grouping the whole table.

    Created only when missing: on a full build (a new table) and on the first night after this hook is added to an
    existing one; otherwise the hook is one catalog lookup. The index is left unnamed so PostgreSQL picks a free
    name: during a full refresh the table being replaced, with its own index, still exists.
-#}
{% macro unique_key_index(columns) %}
    do $unique_key_index$
    begin
        if not {{ unique_index_exists(this, columns) }} then
            create unique index on {{ this }} ({{ columns | join(', ') }}) nulls not distinct;
        end if;
    end
    $unique_key_index$
{% endmacro %}

{#- Whether `relation` has a valid unique index, nulls not distinct, whose key columns are among `columns` (then no
    two rows share `columns` either). An SQL boolean expression. -#}
{% macro unique_index_exists(relation, columns) %}
    exists (
        select from pg_index
        where
            indrelid = to_regclass('{{ relation }}')
            and indisunique and indisvalid and indnullsnotdistinct
            and indpred is null and indexprs is null
            and array(
                select attname::text from pg_attribute
                where attrelid = indrelid and attnum = any(indkey[0:indnkeyatts - 1]::int2 [])
            ) <@ array[{% for column in columns %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]::text []
    )
{% endmacro %}
