{#-
    One row per person and month with any social-security contribution, saying whether the month counts as
    employed by social-security evidence (is_qualifying): a paid employee insurance contribution (docs/policy.md,
    definitions) whose base is at least the local minimum living standard of the contribution's city and year
    (province default where the city has none).

    Incremental: only the (person, month) pairs touched by newly loaded contributions are recomputed, from all of
    that pair's contributions. Every touched pair keeps a row, qualifying or not, so a correction that makes a month
    stop qualifying (unpaid, or a base lowered below the standard) replaces the old verdict: delete+insert only
    deletes the keys it inserts again. last_seen_batch_id (every contribution of the pair) is the watermark;
    last_batch_id is the newest qualifying contribution's batch, which the archive's spells carry.

    has_paid_employee_insurance: any paid employee-insurance contribution that month, whatever its base. It tells
    int_training__outcomes which trainings were paid for in employee insurance (risk_warnings'
    unemployed_paying_employee_insurance) without a nightly read of every contribution.

    Indexes: the key is a unique index (post-hook unique_key_index), which serves the models that look a night's
    persons up and spares the key's test a scan of every month; the index on employment_month gives
    metrics.skilled_talent_shares the first and last month without a scan.

    The contributions are partitioned by month: the night's months, named as literals (in_months), keep the plan to
    their partitions.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['person_id', 'employment_month'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['last_seen_batch_id']},
            {'columns': ['employment_month']},
        ],
        post_hook="{{ unique_key_index(['person_id', 'employment_month']) }}",
    )
}}

{%- set watermark = incremental_watermark('last_seen_batch_id', requires=['has_paid_employee_insurance']) %}
{%- set night_months = months_after(ref('stg_social_security__contributions'), watermark) %}

with

-- not materialized: referenced twice below, PostgreSQL would otherwise copy every contribution ever loaded into
-- the query's work space each night, before the index lookups that pick the touched ones (bench-province).
contributions as not materialized (
    select * from {{ ref('stg_social_security__contributions') }}
),

insurance_types as (
    select * from {{ ref('insurance_types') }}
),

{% if is_incremental() %}
    touched_person_months as (
        select distinct
            person_id,
            contribution_month
        from contributions
        where
            batch_id > {{ watermark }}
            and {{ in_months('contribution_month', night_months) }}
    ),
{% endif %}

relevant_contributions as (
    select contributions.*
    from contributions
    {% if is_incremental() %}
        inner join touched_person_months
            on
                contributions.person_id = touched_person_months.person_id
                and contributions.contribution_month = touched_person_months.contribution_month
        where {{ in_months('contributions.contribution_month', night_months) }}
    {% endif %}
),

with_thresholds as (
    select
        relevant_contributions.*,
        insurance_types.is_employee_insurance,
        {{ minimum_living_standard() }} as minimum_yuan
    from relevant_contributions
    inner join insurance_types
        on relevant_contributions.insurance_type = insurance_types.insurance_type
    {{ join_minimum_living_standard('relevant_contributions.region_code', 'relevant_contributions.contribution_month') }}
),

judged as (
    select
        *,
        coalesce(
            is_employee_insurance and is_paid and contribution_base >= coalesce(minimum_yuan, 0), false
        ) as is_qualifying
    from with_thresholds
),

final as (
    select
        person_id,
        contribution_month as employment_month,
        bool_or(is_qualifying) as is_qualifying,
        min(nullif(employer_code, '')) filter (where is_qualifying) as employer_code,
        min(region_code) filter (where is_qualifying) as region_code,
        max(contribution_base) filter (where is_qualifying) as contribution_base,
        max(batch_id) filter (where is_qualifying) as last_batch_id,
        max(batch_id) as last_seen_batch_id,
        coalesce(bool_or(is_employee_insurance and is_paid), false) as has_paid_employee_insurance
    from judged
    group by person_id, contribution_month
)

select * from final
