{#-
    The persons whose records a batch after `watermark` (a SQL expression) changed: those its staged records name,
    and those a corrected record stopped naming (replaced_person_id, macro stored_persons). Every model that is
    incremental by person rebuilds exactly these (strategy replace_touched_persons). Read from staging rather than
    from the events a batch produced, because a correction can remove a person's last event of a kind (all
    contributions reversed leaves no employment spell) and so leave no event that carries its batch. A person first
    named tonight is among them. Contributions cannot move: the ID number is part of their key.
-#}
{% macro persons_touched_after(watermark) -%}
    {%- for staged in ['stg_training__enrollments', 'stg_certificate__certificates', 'stg_employment__registrations'] %}
        select person_id from {{ ref(staged) }}
        where batch_id > {{ watermark }}
        union
        select replaced_person_id from {{ ref(staged) }}
        where batch_id > {{ watermark }} and replaced_person_id is not null
        union
    {%- endfor %}
    select person_id from {{ ref('stg_social_security__contributions') }}
    where batch_id > {{ watermark }}
{%- endmacro %}
