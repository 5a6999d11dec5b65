{#-
    The one definition of which persons a batch touched: every staged record's person and batch, and for a
    corrected record the person it stopped naming (replaced_person_id, macro stored_persons). The models incremental
    by person (macro persons_touched_after), the person spine and the archive publication (delivery/changes.py) all
    read it. A feed whose staged records name persons adds its staging model here (docs/feeds.md, adding a feed;
    tests/unit/test_feed_registry.py checks this list against the feed registry). A view: each reader's
    `batch_id > watermark` reaches every branch's batch index.
    staging_model names the branch, so a reader that depends on some feeds only filters on it (the other branches
    are constant-false and not scanned).
-#}
{{ config(materialized='view') }}

{%- set corrected_staging = [
    'stg_training__enrollments',
    'stg_certificate__certificates',
    'stg_employment__registrations',
    'stg_voucher__events',
    'stg_competition__awards',
] %}
-- Contributions cannot name another person: the ID number is part of their key.
{%- set keyed_by_person_staging = ['stg_social_security__contributions'] %}

with

records as (
    {%- for staged in corrected_staging + keyed_by_person_staging %}
        select
            person_id,
            batch_id,
            true as is_named,
            '{{ staged }}' as staging_model
        from {{ ref(staged) }}
        where person_id is not null
        union all
    {%- endfor %}
    {%- for staged in corrected_staging %}
        select
            replaced_person_id as person_id,
            batch_id,
            false as is_named,
            '{{ staged }}' as staging_model
        from {{ ref(staged) }}
        where replaced_person_id is not null
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from records
