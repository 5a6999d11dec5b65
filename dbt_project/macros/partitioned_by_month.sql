{#-
    Tables partitioned by month with PostgreSQL's declarative partitioning (docs/scaling.md, partitioning). A model
    opts in with `partition_by_month='<date column>'` in its config; the column holds first days of months and is
    part of the model's unique key, so the unique index can live on the partitioned table.

    - A full build (this override of dbt-postgres's create_table_as) computes the rows once into a temporary
      table, creates the partitioned table with one partition per month found, and inserts the rows. A model's
      temporary tables (an incremental night's new rows) stay plain.
    - An incremental night creates the partitions of its new months first (pre-hook month_partitions_of_night,
      from the months its new batches bring), then dbt's delete+insert writes into them. A table an earlier version
      built plain is rebuilt partitioned first, once (partitioned_in_place).
    - The models then name the night's months as literals (in_months), so PostgreSQL prunes the other partitions
      when it plans the night's queries: EXPLAIN lists only the touched months (tests/integration/
      test_partitioning.py).

    There is no default partition: a row whose month has no partition fails the insert instead of hiding in one,
    and the month key is a required column of its feed.
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set month_column = config.get('partition_by_month') -%}
    {%- if month_column and not temporary -%}
        {%- set rows = relation.incorporate(path={'schema': none, 'database': none, 'identifier': relation.identifier ~ '__rows'}) -%}
        create temporary table {{ rows }} on commit drop as (
            {{ sql }}
        );
        create table {{ relation }} (like {{ rows }}) partition by range ({{ month_column }});
        {{ month_partitions(relation, 'select ' ~ month_column ~ ' from ' ~ rows) }};
        insert into {{ relation }} select * from {{ rows }}
    {%- else -%}
        {{ dbt.postgres__create_table_as(temporary, relation, sql) }}
    {%- endif -%}
{%- endmacro %}


{#-
    A DO block that creates the missing partitions of `relation` for the months `months_sql` (a query yielding
    dates) returns. A partition is named after its parent, its month and the parent's OID: a full refresh builds the
    new table beside the old one (dbt renames them after), so a name without the OID would already be taken.
-#}
{% macro month_partitions(relation, months_sql) %}
    do $month_partitions$
    declare
        parent regclass := '{{ relation }}'::regclass;
        month date;
        partition_name text;
    begin
        {{ _create_month_partitions(relation, months_sql) }}
    end
    $month_partitions$
{% endmacro %}


{#-
    For a warehouse upgraded from a version that built `relation` as a plain table: the statements that rebuild it
    partitioned by `month_column`, once, in the model's transaction: renamed aside, recreated partitioned with its
    columns, defaults and indexes (LIKE … INCLUDING ALL), given its months' partitions and its rows, and dropped.
    Nothing (`select 1`) when it is partitioned already, which one catalog lookup tells as the hook is rendered.
-#}
{% macro partitioned_in_place(relation, month_column) %}
    {%- set found = run_query("select relkind from pg_class where oid = to_regclass('" ~ relation ~ "')") -%}
    {%- if found.rows | length == 1 and found.columns[0].values()[0] == 'r' -%}
        {%- set plain = relation.incorporate(path={'identifier': relation.identifier ~ '__unpartitioned'}) -%}
        {%- do log(relation ~ ' is not partitioned yet: rebuilding it partitioned by ' ~ month_column, info=true) -%}
        alter table {{ relation }} rename to {{ plain.identifier }};
        create table {{ relation }} (like {{ plain }} including all) partition by range ({{ month_column }});
        {{ month_partitions(relation, 'select ' ~ month_column ~ ' from ' ~ plain) }};
        insert into {{ relation }} select * from {{ plain }};
        drop table {{ plain }}
    {%- else -%}
        select 1
    {%- endif -%}
{% endmacro %}


{#- The PL/pgSQL loop creating the partitions (variables parent, month, partition_name). -#}
{% macro _create_month_partitions(relation, months_sql) %}
        for month in
            select distinct date_trunc('month', found.month)::date
            from ({{ months_sql }}) as found (month)
            where found.month is not null
            order by 1
        loop
            partition_name := format(
                '%s_%s_%s',
                left((select relname from pg_class where oid = parent), 36),
                to_char(month, 'YYYYMM'),
                parent::oid
            );
            if to_regclass(format('%I.%I', '{{ relation.schema }}', partition_name)) is null then
                execute format(
                    'create table %I.%I partition of %s for values from (%L) to (%L)',
                    '{{ relation.schema }}', partition_name, parent, month, (month + interval '1 month')::date
                );
            end if;
        end loop;
{% endmacro %}


{#-
    The months (first days, ascending) of `relation`'s rows in batches after `watermark`: the months an incremental
    night touches. A list of dates, read when the model runs; none while dbt only parses or on a full build (no
    month filter then).
-#}
{% macro months_after(relation, watermark, month_column='contribution_month', batch_column='batch_id') %}
    {%- if execute and is_incremental() -%}
        {%- set found = run_query(
            'select distinct date_trunc(\'month\', ' ~ month_column ~ ')::date from ' ~ relation
            ~ ' where ' ~ batch_column ~ ' > ' ~ watermark ~ ' order by 1'
        ) -%}
        {{- return(found.columns[0].values() | list) -}}
    {%- endif -%}
    {{- return(none) -}}
{% endmacro %}


{#- An SQL condition keeping `column` to `months` (from months_after) as literals PostgreSQL prunes partitions by at
    plan time: `true` when months is none (a full build), `false` when the night brought no month. -#}
{% macro in_months(column, months) %}
    {%- if months is none -%}
        true
    {%- elif months | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ({% for month in months %}'{{ month }}'::date{{ ', ' if not loop.last }}{% endfor %})
    {%- endif -%}
{% endmacro %}


{#- Pre-hook of an incremental model partitioned by month: the partitions of the months that `source`'s batches
    after the model's watermark bring, created before dbt's delete+insert writes into them (and the table rebuilt
    partitioned if an earlier version built it plain). -#}
{% macro month_partitions_of_night(source, batch_column='batch_id') %}
    {%- if is_incremental() -%}
        {{ partitioned_in_place(this, config.get('partition_by_month')) }};
        {{ month_partitions(
            this,
            'select ' ~ config.get('partition_by_month') ~ ' from ' ~ source
            ~ ' where ' ~ batch_column ~ ' > ' ~ incremental_watermark(batch_column)
        ) }}
    {%- endif -%}
{% endmacro %}
