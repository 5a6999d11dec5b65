{#-
    Post-hook of an incremental model whose watermark column the models downstream filter on (`column > W`): after a
    night, analyze that column, so their plans count the night's rows. Batch ids are few, so PostgreSQL keeps them
    as most-common values with no histogram; a batch newer than the statistics is then estimated at one row, and a
    night's 6,000 persons of int_people__unified were planned as one: nested loops that rescanned them per
    enrollment, 3 s for int_training__outcomes at 300,000 people instead of 0.1 s (EXPLAIN ANALYZE,
    bench-province). analyze_if_new covers the first build; autovacuum comes too late for the models built next.
    Not the staging models: the one bench-province night run with their batch_id analyzed grew by half on 12 months
    of 1 M people (person_events 2.3 -> 14.1 s, risk_warnings 3.8 -> 11.6 s), as if the models that filter on the
    night's persons (`person_id in (select ...)`) planned hashes over every stored row once they knew the night's
    real size. A model that must not depend on that estimate probes its indexes with `= any(array(select ...))`
    (settlement_certificates).
-#}
{% macro analyze_watermark(column) %}
    {%- if is_incremental() -%}
        analyze {{ this }} ({{ column }})
    {%- endif -%}
{% endmacro %}
