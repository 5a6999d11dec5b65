{#-
    Incremental strategies that replace every row of the keys a night touched, not only the keys it inserts again.
    dbt's delete+insert deletes only the keys its new rows carry, so a key left with no rows kept its old ones and the
    night differed from a full rebuild:
    - replace_touched_persons (int_people__unified, archive.person_events, archive.persons): the persons a batch
      after the table's watermark touched (persons_touched_after; the watermark column is the model's
      `person_watermark` config). A corrected ID number can move a person's only record to someone else.
    - replace_touched_vouchers (int_vouchers__states): the vouchers any version of a batch's voucher events named
      (vouchers_touched_after; the watermark is last_batch_id). A corrected voucher number can move a voucher's only
      event to another voucher.
-#}
{% macro get_incremental_replace_touched_persons_sql(arg_dict) %}
    {{ return(replace_touched_keys(
        arg_dict, 'person_id', persons_touched_after(incremental_watermark(config.get('person_watermark')))
    )) }}
{% endmacro %}

{% macro get_incremental_replace_touched_vouchers_sql(arg_dict) %}
    {{ return(replace_touched_keys(
        arg_dict, 'voucher_id', vouchers_touched_after(incremental_watermark('last_batch_id'))
    )) }}
{% endmacro %}

{#- Delete the rows of `key_column` in `touched_keys` (a query), then insert the night's rows (the model's temp table). -#}
{% macro replace_touched_keys(arg_dict, key_column, touched_keys) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ key_column }} in (
        {{ touched_keys }}
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ arg_dict['temp_relation'] }}
{% endmacro %}
