{#-
    The rows of `source_relation` (a raw feed) that a staging model ranks for the latest version of each key: on a full
    build every row; on an incremental night every version, old or new, of the keys that batches after the model's
    watermark (its highest batch_id) delivered, so the ranking sees all of a changed key's versions and nothing else.
    raw.<feed> has an index on the key for this (feeds.Feed.raw_key_index) and a BRIN index on batch_id.
-#}
{% macro changed_key_versions(source_relation, key_column) -%}
    select * from {{ source_relation }}
    {%- if is_incremental() %}
        where {{ key_column }} in (
            select {{ key_column }} from {{ source_relation }}
            where batch_id > {{ incremental_watermark('batch_id') }}
        )
    {%- endif %}
{%- endmacro %}
