{#-
    Post-hook of an incremental model whose watermark column the models downstream filter on (`column > W`): after a
    night, analyze that column, so their plans count the night's rows. Batch ids are few, so PostgreSQL keeps them
    as most-common values with no histogram; a batch newer than the statistics is then estimated at one row, and a
    night's 6,000 persons of int_people__unified were planned as one: nested loops that rescanned them per
    enrollment, 3 s for int_training__outcomes at 300,000 people instead of 0.1 s (EXPLAIN ANALYZE,
    bench-province). analyze_if_new covers the first build; autovacuum comes too late for the models built next.
    Not the staging models: the one reader whose plan their stale batch_id statistics spoiled, settlement_certificates
    (2.1 s instead of 0.2 s at 1 M people, a semi-join rescanning the night's persons per certificate), now probes its
    indexes with `= any(array(select ...))`, which needs no estimate; on the kept 12-month bench-province warehouse,
    analyzing them changed neither person_events' plan nor its time (1.9-2.0 s).
-#}
{% macro analyze_watermark(column) %}
    {%- if is_incremental() -%}
        analyze {{ this }} ({{ column }})
    {%- endif -%}
{% endmacro %}
