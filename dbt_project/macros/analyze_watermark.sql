{#-
    Post-hook of an incremental model whose watermark column the models downstream filter on (`column > W`): after a
    night, analyze that column, so their plans count the night's rows. Batch ids are few, so PostgreSQL keeps them
    as most-common values with no histogram; a batch newer than the statistics is then estimated at one row, and a
    night's 6,000 persons of int_people__unified were planned as one: nested loops that rescanned them per
    enrollment, 3 s for int_training__outcomes at 300,000 people instead of 0.1 s (EXPLAIN ANALYZE,
    bench-province). analyze_if_new covers the first build; autovacuum comes too late for the models built next.
-#}
{% macro analyze_watermark(column) %}
    {%- if is_incremental() -%}
        analyze {{ this }} ({{ column }})
    {%- endif -%}
{% endmacro %}
