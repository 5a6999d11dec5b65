{#-
    Post-hook of an incremental model whose watermark column the models downstream filter on (`column > W`): after a
    night, analyze that column, so their plans count the night's rows. Batch ids are few, so PostgreSQL keeps them
    as most-common values with no histogram; a batch newer than the statistics is then estimated at one row, and a
    night's 6,000 persons of int_people__unified were planned as one: nested loops that rescanned them per
    enrollment, 3 s for int_training__outcomes at 300,000 people instead of 0.1 s (EXPLAIN ANALYZE,
    bench-province). analyze_if_new covers the first build; autovacuum comes too late for the models built next.
    The staging models whose batch_id the night's persons are found by (persons_touched_after, settlement_certificates)
    analyze it too: planned as one row, settlement_certificates' night's 16,332 persons were rescanned per certificate,
    2.1 s instead of 0.2 s at 1 M people (EXPLAIN ANALYZE on the bench-province warehouse). Not the contributions:
    analyzing them recurses into every month's partition, and in the same plans their estimate was already close
    (24,599 rows for the night's 59,160).
-#}
{% macro analyze_watermark(column) %}
    {%- if is_incremental() -%}
        analyze {{ this }} ({{ column }})
    {%- endif -%}
{% endmacro %}
