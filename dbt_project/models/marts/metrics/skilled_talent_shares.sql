{#-
    Skilled share of insured employed persons and high-skilled share of skilled persons, by region and month.
    Employed: a qualifying employment month (paid employee insurance at or above the minimum living standard).
    Skilled: holds a valid qualification or skill-level certificate issued by the month's end, or a competition's
    level promotion granted by then; high-skilled: at rank 4 (高级工) or above (docs/policy.md, skill levels). Regions roll up county -> city -> province.

    Incremental by month: a night recomputes, whole, the months that batches after the watermark (source_batch_id)
    can change: the months of their contributions (int_employment__contribution_months keeps a row for a month
    whose qualifying was withdrawn), and every month from the first issue date (of any version) of a new, corrected
    or revoked certificate on, since a certificate counts in every month after its issue. A month with contributions
    but no qualifying one has a province row of zeros, so that a correction emptying a month replaces its figures
    (delete+insert replaces only the months it writes rows for). After a seed change
    (regions, targets), `dbt build --full-refresh` recomputes every month. A table built before source_batch_id
    existed gets the column empty (append_new_columns), so its first incremental night recomputes every month.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{
    config(
        meta={'county_filter': 'region_code'},
        materialized='incremental',
        unique_key='employment_month',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

{%- set watermark = incremental_watermark('source_batch_id') %}

with

-- not materialized: read three times, each through an index (its first and last month, the batches after the
-- watermark, tonight's months); a materialized CTE would copy every contributed month into the query first.
contribution_months as not materialized (
    select * from {{ ref('int_employment__contribution_months') }}
),

-- A competition's level promotion (002 §(十一)) counts like a certificate of that level from the award date.
certificates as (
    select
        person_id,
        skill_rank,
        issue_date,
        first_issue_date,
        is_valid,
        batch_id
    from {{ ref('stg_certificate__certificates') }}
    union all
    select
        person_id,
        promoted_skill_rank as skill_rank,
        award_date as issue_date,
        award_date as first_issue_date,
        true as is_valid,
        batch_id
    from {{ ref('stg_competition__awards') }}
    where promoted_skill_rank is not null
),

targets as (
    select * from {{ ref('int_targets__in_force') }}
),

-- Every month from the first contribution to the last: the months this mart has rows for.
month_range as (
    select
        min(employment_month) as first_month,
        max(employment_month) as last_month
    from contribution_months
),

spine as (
    select series.employment_month::date as employment_month
    from
        month_range,
        generate_series(month_range.first_month, month_range.last_month, interval '1 month')
            as series (employment_month)
),

{% if is_incremental() %}
    -- The first month a certificate changed since the watermark counts in (every version's issue date).
    changed_certificates as (
        select date_trunc('month', min(first_issue_date))::date as first_month
        from certificates
        where batch_id > {{ watermark }}
    ),

    -- Tonight's months: those of new contributions, those from a changed certificate's first month on, and any
    -- month of the range the mart has no row for yet (the range widened past a gap).
    months as (
        select employment_month
        from contribution_months
        where last_seen_batch_id > {{ watermark }}
        union
        select spine.employment_month
        from spine
        inner join changed_certificates
            on spine.employment_month >= changed_certificates.first_month
        union
        select spine.employment_month
        from spine
        where not exists (
                select from {{ this }} as built
                where built.employment_month = spine.employment_month
            )
    ),
{% else %}
    months as (
        select employment_month from spine
    ),
{% endif %}

-- source_batch_id of each month: the newest batch among its contributions and the certificates that count in it
-- (from their first month on). It changes only when a batch changes the month, which is when the month is
-- recomputed, so a night's rows equal a full rebuild's; its maximum is the next night's watermark.
month_contribution_batches as (
    select
        employment_month,
        max(last_seen_batch_id) as batch_id
    from contribution_months
    where employment_month = any(array(select employment_month from months))
    group by employment_month
),

certificate_first_months as (
    select
        date_trunc('month', first_issue_date)::date as first_month,
        max(batch_id) as batch_id
    from certificates
    group by date_trunc('month', first_issue_date)
),

-- Each month and the newest certificate batch counted in it: a join of two short lists (months, and certificates'
-- first months), not a subquery per row.
month_certificate_batches as (
    select
        months.employment_month,
        max(certificate_first_months.batch_id) as batch_id
    from months
    inner join certificate_first_months
        on months.employment_month >= certificate_first_months.first_month
    group by months.employment_month
),

month_sources as (
    select
        months.employment_month,
        coalesce(greatest(month_contribution_batches.batch_id, month_certificate_batches.batch_id), 0)
            as source_batch_id
    from months
    left join month_contribution_batches
        on months.employment_month = month_contribution_batches.employment_month
    left join month_certificate_batches
        on months.employment_month = month_certificate_batches.employment_month
),

employment_months as (
    select * from {{ ref('int_employment__qualifying_months') }}
    {% if is_incremental() %}
        -- = any(array(...)): the few months as a list the planner looks up in the index on employment_month
        -- (an IN subquery it estimates at thousands of months and answers with a scan of every month)
        where employment_month = any(array(select employment_month from months))
    {% endif %}
),

skill_milestones as (
    select
        person_id,
        min(issue_date) as skilled_since,
        min(issue_date) filter (where skill_rank >= 4) as high_skilled_since
    from certificates
    where is_valid and skill_rank is not null
    group by person_id
),

located_months as (
    {{ located('employment_months', 'region_code') }}
),

employed_people as (
    select
        located_months.person_id,
        located_months.employment_month,
        located_months.region_code as county_code,
        located_months.city_code,
        coalesce(skill_milestones.skilled_since < located_months.employment_month + interval '1 month', false)
            as is_skilled,
        coalesce(
            skill_milestones.high_skilled_since < located_months.employment_month + interval '1 month', false
        ) as is_high_skilled
    from located_months
    left join skill_milestones
        on located_months.person_id = skill_milestones.person_id
),

-- Counted per county first, then rolled up to cities and the province from those few rows: the three levels of
-- every person-month (a lateral triple of each row) made the aggregate three times as long as the rows (3.2 s of
-- the model's 3.7 s on a night recomputing five months of a million people). A county lies in one city, and the
-- sums over its rows are the counts over its persons.
by_county as (
    select
        employment_month,
        county_code,
        city_code,
        -- count(*), not count(distinct person_id): a person has one row a month (the key of
        -- int_employment__contribution_months) and so one county and city; a hash aggregate, not a sort per group
        count(*) as employed_persons,
        count(*) filter (where is_skilled) as skilled_persons,
        count(*) filter (where is_high_skilled) as high_skilled_persons
    from employed_people
    group by employment_month, county_code, city_code
),

by_region as (
    select
        by_county.employment_month,
        levels.region_level,
        levels.region_code,
        sum(by_county.employed_persons)::bigint as employed_persons,
        sum(by_county.skilled_persons)::bigint as skilled_persons,
        sum(by_county.high_skilled_persons)::bigint as high_skilled_persons
    from by_county
    cross join
        lateral (
            values ('county', by_county.county_code), ('city', by_county.city_code), ('province', '140000')
        ) as levels (region_level, region_code)
    group by by_county.employment_month, levels.region_level, levels.region_code
),

-- A month without a qualifying contribution keeps a province row of zeros: the nightly build replaces whole
-- months, so a correction that empties a month must still give it a row to replace the old figures with.
empty_months as (
    select
        months.employment_month,
        'province' as region_level,
        '140000' as region_code,
        0 as employed_persons,
        0 as skilled_persons,
        0 as high_skilled_persons
    from months
    where not exists (
            select from by_region
            where by_region.employment_month = months.employment_month
        )
),

every_month as (
    select * from by_region
    union all
    select * from empty_months
),

final as (
    select
        every_month.employment_month,
        every_month.region_level,
        every_month.region_code,
        every_month.employed_persons,
        every_month.skilled_persons,
        round(every_month.skilled_persons::numeric / nullif(every_month.employed_persons, 0), 4) as skilled_share,
        skilled_target.target_value as skilled_share_target,
        every_month.high_skilled_persons,
        round(every_month.high_skilled_persons::numeric / nullif(every_month.skilled_persons, 0), 4)
            as high_skilled_share,
        high_skilled_target.target_value as high_skilled_share_target,
        month_sources.source_batch_id
    from every_month
    inner join month_sources
        on every_month.employment_month = month_sources.employment_month
    left join targets as skilled_target
        on
            every_month.region_code = skilled_target.region_code
            and skilled_target.indicator = 'skilled_share_of_employed'
            and every_month.employment_month between skilled_target.period_start and skilled_target.period_end
    left join targets as high_skilled_target
        on
            every_month.region_code = high_skilled_target.region_code
            and high_skilled_target.indicator = 'high_skilled_share_of_skilled'
            and every_month.employment_month between high_skilled_target.period_start and high_skilled_target.period_end
)

select * from final
