{#-
    The person each key's stored row names before tonight's versions replace it: on an incremental night the
    staging table's own rows for the keys in `keys_cte`, on a full build none. A staging model reports the stored
    person as replaced_person_id when the latest version names someone else: a corrected ID number moves the record
    to another person, and the person it leaves must be rebuilt too (persons_touched_after), or removed when nothing
    names them any more (the replace_touched_persons strategy).
-#}
{% macro stored_persons(key_column, keys_cte) -%}
    {%- if is_incremental() %}
        select
            {{ key_column }},
            person_id
        from {{ this }}
        where {{ key_column }} in (select {{ key_column }} from {{ keys_cte }})
    {%- else %}
        select
            null::text as {{ key_column }},
            null::text as person_id
        where false
    {%- endif %}
{%- endmacro %}
