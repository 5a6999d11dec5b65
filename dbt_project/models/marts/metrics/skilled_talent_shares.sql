{#-
    Skilled share of insured employed persons and high-skilled share of skilled persons, by region and month.
    Employed: a qualifying employment month (paid employee insurance at or above the minimum living standard).
    Skilled: holds a valid qualification or skill-level certificate issued by the month's end; high-skilled: at
    rank 4 (高级工) or above (docs/policy.md, skill levels). Regions roll up county -> city -> province.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

with

employment_months as (
    select * from {{ ref('int_employment__qualifying_months') }}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
),

regions as (
    select * from {{ ref('regions') }}
),

targets as (
    select * from {{ ref('targets') }}
),

-- When each person first held a valid levelled certificate, and first held one at rank 4 or above: one row per
-- person, so the join below is linear in employment months (a per-month lookup of certificates is quadratic).
skill_milestones as (
    select
        person_id,
        min(issue_date) as skilled_since,
        min(issue_date) filter (where skill_rank >= 4) as high_skilled_since
    from certificates
    where is_valid and skill_rank is not null
    group by person_id
),

employed_people as (
    select
        employment_months.person_id,
        employment_months.employment_month,
        employment_months.region_code as county_code,
        coalesce(regions.city_code, {{ city_of('employment_months.region_code') }}) as city_code,
        coalesce(skill_milestones.skilled_since < employment_months.employment_month + interval '1 month', false)
            as is_skilled,
        coalesce(
            skill_milestones.high_skilled_since < employment_months.employment_month + interval '1 month', false
        ) as is_high_skilled
    from employment_months
    left join regions
        on employment_months.region_code = regions.region_code
    left join skill_milestones
        on employment_months.person_id = skill_milestones.person_id
),

by_region as (
    select
        employment_month,
        region_level,
        region_code,
        count(distinct person_id) as employed_persons,
        count(distinct person_id) filter (where is_skilled) as skilled_persons,
        count(distinct person_id) filter (where is_high_skilled) as high_skilled_persons
    from employed_people
    cross join
        lateral (
            values ('county', employed_people.county_code), ('city', employed_people.city_code), ('province', '140000')
        ) as levels (region_level, region_code)
    group by employment_month, region_level, region_code
),

final as (
    select
        by_region.employment_month,
        by_region.region_level,
        by_region.region_code,
        by_region.employed_persons,
        by_region.skilled_persons,
        round(by_region.skilled_persons::numeric / nullif(by_region.employed_persons, 0), 4) as skilled_share,
        skilled_target.target_value as skilled_share_target,
        by_region.high_skilled_persons,
        round(by_region.high_skilled_persons::numeric / nullif(by_region.skilled_persons, 0), 4)
            as high_skilled_share,
        high_skilled_target.target_value as high_skilled_share_target
    from by_region
    left join targets as skilled_target
        on
            by_region.region_code = skilled_target.region_code
            and skilled_target.indicator = 'skilled_share_of_employed'
            and by_region.employment_month between skilled_target.period_start and skilled_target.period_end
    left join targets as high_skilled_target
        on
            by_region.region_code = high_skilled_target.region_code
            and high_skilled_target.indicator = 'high_skilled_share_of_skilled'
            and by_region.employment_month between high_skilled_target.period_start and high_skilled_target.period_end
)

select * from final
