{#-
    The person each key's stored row names before tonight's versions replace it: on an incremental night the
    staging table's own rows, which the model left-joins on the key (its unique index) for the night's keys; on a
    full build none. A staging model reports the stored person as replaced_person_id when the latest version names
    someone else: a corrected ID number moves the record to another person, and the person it leaves must be
    rebuilt too (persons_touched_after), or removed when nothing names them any more (the replace_touched_persons
    strategy). No filter on the night's keys here: `key in (night's keys)` was planned as a nested loop rescanning
    them per stored row, quadratic in the night's size (4.7 s for 13,684 enrollments, bench-province).
-#}
{% macro stored_persons(key_column) -%}
    {%- if is_incremental() %}
        select
            {{ key_column }},
            person_id
        from {{ this }}
    {%- else %}
        select
            null::text as {{ key_column }},
            null::text as person_id
        where false
    {%- endif %}
{%- endmacro %}
