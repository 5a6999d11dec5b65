{#-
    The persons whose records a batch after `watermark` (a SQL expression) changed: those its staged records name,
    and those a corrected record stopped naming (int_people__record_batches, the one definition). Every model that is
    incremental by person rebuilds exactly these (strategy replace_touched_persons). Read from staging rather than
    from the events a batch produced, because a correction can remove a person's last event of a kind (all
    contributions reversed leaves no employment spell) and so leave no event that carries its batch. A person first
    named tonight is among them. `staging_models` (a list) keeps the persons those staging models' records touched,
    for a model that reads no other feed.
-#}
{% macro persons_touched_after(watermark, staging_models=none) -%}
    select distinct person_id from {{ ref('int_people__record_batches') }}
    where batch_id > {{ watermark }}
    {%- if staging_models %}
        and staging_model in ('{{ staging_models | join("', '") }}')
    {%- endif %}
{%- endmacro %}
