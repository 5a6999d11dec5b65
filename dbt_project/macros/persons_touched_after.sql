{#-
    The persons whose staged records a batch after `watermark` (a SQL expression) carries: every archive model
    that is incremental by person rebuilds at least these. Taken from staging (int_people__unified.last_batch_id is
    the newest batch of any staged record naming the person) rather than from the events a batch produced, because
    a correction can remove a person's last event of a kind (all contributions reversed leaves no employment spell)
    and so leave no event that carries its batch. A person first named tonight is among them, so it also covers
    the newly known. One lookup of an analyzed index (analyze_watermark) instead of four scans of staging.
-#}
{% macro persons_touched_after(watermark) -%}
    select person_id from {{ ref('int_people__unified') }}
    where last_batch_id > {{ watermark }}
{%- endmacro %}
