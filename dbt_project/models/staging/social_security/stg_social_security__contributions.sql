{#-
    The largest feed (~10 million rows a month at province scale), so incremental: each run reads only batches
    loaded since the last one. A key seen again competes with its stored version, and the latest updated_at
    wins, so a late file carrying an older version cannot overwrite a newer one.
    The unique index on the key (person and month first) serves the lookups of the touched persons and months by
    the models downstream, and lets the key's uniqueness test read the catalog instead of every row.

    Partitioned by contribution month (macros/partitioned_by_month.sql): a night's new months get their partitions
    first (pre-hook), and its stored versions are looked up in the partitions of the months it brings only.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['person_id', 'employer_code', 'insurance_type', 'contribution_month'],
        incremental_strategy='delete+insert',
        indexes=[{'columns': ['batch_id']}],
        partition_by_month='contribution_month',
        pre_hook="{{ month_partitions_of_night(source('social_security', 'contributions')) }}",
        post_hook="{{ unique_key_index(['person_id', 'contribution_month', 'insurance_type', 'employer_code']) }}",
    )
}}

{%- set watermark = incremental_watermark('batch_id') %}
{%- set night_months = months_after(source('social_security', 'contributions'), watermark) %}

with

contributions as (
    select * from {{ source('social_security', 'contributions') }}
    {% if is_incremental() %}
        where batch_id > {{ watermark }}
    {% endif %}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

new_versions as (
    select
        {{ current_person_id('contributions') }} as person_id,
        coalesce(contributions.employer_code, '') as employer_code,
        contributions.region_code,
        contributions.insurance_type,
        contributions.contribution_month,
        contributions.contribution_base,
        contributions.paid as is_paid,
        contributions.updated_at,
        contributions.batch_id,
        contributions.source_row_number
    from contributions
    {{ join_pseudonym_links('contributions') }}
),

candidates as (
    select * from new_versions
    {% if is_incremental() %}
        union all
        select stored_versions.*
        from {{ this }} as stored_versions
        inner join new_versions
            on
                stored_versions.person_id = new_versions.person_id
                and stored_versions.employer_code = new_versions.employer_code
                and stored_versions.insurance_type = new_versions.insurance_type
                and stored_versions.contribution_month = new_versions.contribution_month
        where {{ in_months('stored_versions.contribution_month', night_months) }}
    {% endif %}
),

final as (
    {{ latest_version('candidates', ['person_id', 'employer_code', 'insurance_type', 'contribution_month']) }}
)

select
    person_id,
    employer_code,
    region_code,
    insurance_type,
    contribution_month,
    contribution_base,
    is_paid,
    updated_at,
    batch_id,
    source_row_number
from final
