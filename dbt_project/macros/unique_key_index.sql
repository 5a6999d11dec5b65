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
        if not exists (
            select from pg_index
            where indrelid = '{{ this }}'::regclass
                and indisunique and indisvalid and indnullsnotdistinct
                and indpred is null and indexprs is null
                and indnkeyatts = {{ columns | length }}
                and array(
                    select attname::text from pg_attribute
                    where attrelid = indrelid and attnum = any(indkey::int2[]) order by attname
                ) = array[{% for column in columns | sort %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %}]::text[]
        ) then
            create unique index on {{ this }} ({{ columns | join(', ') }}) nulls not distinct;
        end if;
    end
    $unique_key_index$
{% endmacro %}
