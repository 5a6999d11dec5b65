{#-
    Skilled share of insured employed persons and high-skilled share of skilled persons, by region and month.
    Employed: a qualifying employment month (paid employee insurance at or above the minimum living standard).
    Skilled: holds a valid qualification or skill-level certificate issued by the month's end; high-skilled: at
    rank 4 (高级工) or above (domain.md §2). Regions roll up county -> city -> province.
-#}
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

ranked_certificates as (
    select person_id, skill_rank, issue_date
    from certificates
    where is_valid and skill_rank is not null
),

employed_people as (
    select
        employment_months.person_id,
        employment_months.employment_month,
        employment_months.region_code as county_code,
        coalesce(regions.city_code, {{ city_of('employment_months.region_code') }}) as city_code,
        (
            select max(ranked_certificates.skill_rank)
            from ranked_certificates
            where
                ranked_certificates.person_id = employment_months.person_id
                and ranked_certificates.issue_date
                < (employment_months.employment_month + interval '1 month')::date
        ) as skill_rank
    from employment_months
    left join regions
        on employment_months.region_code = regions.region_code
),

by_region as (
    select
        employment_month,
        region_level,
        region_code,
        count(distinct person_id) as employed_persons,
        count(distinct person_id) filter (where skill_rank is not null) as skilled_persons,
        count(distinct person_id) filter (where skill_rank >= 4) as high_skilled_persons
    from employed_people
    cross join lateral (
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
