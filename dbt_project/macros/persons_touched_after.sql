{#-
    The persons whose staged records a batch after `watermark` (a SQL expression) carries: every archive model
    that is incremental by person rebuilds at least these. Read from staging rather than from the events a batch
    produced, because a correction can remove a person's last event of a kind (all contributions reversed leaves
    no employment spell) and so leave no event that carries its batch.
-#}
{% macro persons_touched_after(watermark) -%}
    select person_id from {{ ref('stg_training__enrollments') }}
    where batch_id > {{ watermark }}
    union
    select person_id from {{ ref('stg_certificate__certificates') }}
    where batch_id > {{ watermark }}
    union
    select person_id from {{ ref('stg_employment__registrations') }}
    where batch_id > {{ watermark }}
    union
    select person_id from {{ ref('stg_social_security__contributions') }}
    where batch_id > {{ watermark }}
{%- endmacro %}
