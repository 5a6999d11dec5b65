{#-
    Post-hook of every model (dbt_project.yml): a table that has no statistics yet, because this build created it,
    is analyzed before the models downstream plan their joins on it. Autovacuum would analyze it too, but up to a
    minute later, and a full build reads a table seconds after creating it: planned without statistics, a join of
    300,000 people ran for minutes instead of seconds. An incremental night's table keeps its statistics, and
    autovacuum keeps them fresh; views have none. (pg_stats, not pg_statistic: only a superuser reads the latter.)
-#}
{% macro analyze_if_new() %}
    {%- if config.get('materialized') in ['table', 'incremental'] -%}
        do $analyze_if_new$
        begin
            if not exists (
                select from pg_stats where schemaname = '{{ this.schema }}' and tablename = '{{ this.identifier }}'
            ) then
                analyze {{ this }};
            end if;
        end
        $analyze_if_new$
    {%- endif -%}
{% endmacro %}
