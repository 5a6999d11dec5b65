{#-
    Incremental strategy of the models keyed on person_id (int_people__unified, archive.person_events,
    archive.persons): delete every row of the persons a batch after the table's watermark touched
    (persons_touched_after; the watermark column is the model's `person_watermark` config), then insert the night's
    rows. dbt's delete+insert deletes only the keys it inserts again, so a person left with no rows (a corrected ID
    number moved their only record to someone else) kept their old ones, and the night differed from a full rebuild.
-#}
{% macro get_incremental_replace_touched_persons_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where person_id in (
        {{ persons_touched_after(incremental_watermark(config.get('person_watermark'))) }}
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}
