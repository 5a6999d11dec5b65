{#- Keep one row per natural key: the latest updated_at wins; ties go to the later batch, then the later row. -#}
{% macro latest_version(relation, key_columns) -%}
    select *
    from (
        select
            versions.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by updated_at desc, batch_id desc, source_row_number desc
            ) as version_rank
        from {{ relation }} as versions
    ) as ranked
    where version_rank = 1
{%- endmacro %}
