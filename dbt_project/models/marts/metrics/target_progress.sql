{#-
    Progress against the year's count targets (docs/policy.md, targets; Liulin 2023: 003 §二 and §三(三)) for the
    province, each city and each county: the actual to date, the share of the target reached, and the pace needed
    for the rest of the year per fortnight (the bi-weekly progress scheduling of 003 §七(二)).
    Measured as:
      subsidised_trainings         real-name training records (人次) of classes started in the year, not dropped
      new_skilled_persons          persons whose first valid levelled certificate was issued in the year
      new_high_skilled_persons     persons whose first valid certificate at rank 4 (高级工) or above was issued
      caregiver_trainees           labour-brand trainings in a 吕梁山护工 occupation (labour_brands), started
      caregiver_certified_share    of those completed, the share certified after the training
      caregiver_employed_trainees  of those completed, employed within the employment window
    Data are as of the latest training start or certificate issue in the warehouse (no clock in business logic).
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': "case when region_level = 'county' then region_code end"}) }}

{%- set indicators = [
    'subsidised_trainings', 'new_skilled_persons', 'new_high_skilled_persons',
    'caregiver_trainees', 'caregiver_certified_share', 'caregiver_employed_trainees',
] -%}
{%- set levels = {'county': 'county_code', 'city': 'city_code', 'province': "'140000'"} -%}

with

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
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

caregiver_occupations as (
    select * from {{ ref('labour_brands') }}
    where brand_code = 'lvliangshan_caregiver'
),

data_as_of as (
    select greatest(
        (select max(start_date) from outcomes),
        (select max(issue_date) from certificates)
    ) as as_of_date
),

trainings as (
    select
        outcomes.start_date as activity_date,
        outcomes.region_code as county_code,
        outcomes.completion_status = 'completed' as is_completed,
        outcomes.is_certified,
        outcomes.is_employed_in_window,
        outcomes.program_type = 'labour_brand' and caregiver_occupations.occupation_code is not null as is_caregiver
    from outcomes
    left join caregiver_occupations
        on outcomes.occupation_code = caregiver_occupations.occupation_code
    where outcomes.completion_status <> 'dropped'
),

first_skilled as (
    select distinct on (person_id)
        issue_date as activity_date,
        region_code as county_code
    from certificates
    where is_valid and skill_rank is not null
    order by person_id asc, issue_date asc, certificate_id asc
),

first_high_skilled as (
    select distinct on (person_id)
        issue_date as activity_date,
        region_code as county_code
    from certificates
    where is_valid and skill_rank >= 4
    order by person_id asc, issue_date asc, certificate_id asc
),

-- One row per counted unit: numerator 1 (or 0 for a share's non-qualifying member), denominator 1 for shares.
measures as (
    select
        activity_date,
        county_code,
        'subsidised_trainings' as indicator,
        1 as numerator,
        null::integer as denominator
    from trainings
    union all
    select
        activity_date,
        county_code,
        'caregiver_trainees' as indicator,
        1 as numerator,
        null::integer as denominator
    from trainings
    where is_caregiver
    union all
    select
        activity_date,
        county_code,
        'caregiver_certified_share' as indicator,
        case when is_certified then 1 else 0 end as numerator,
        1 as denominator
    from trainings
    where is_caregiver and is_completed
    union all
    select
        activity_date,
        county_code,
        'caregiver_employed_trainees' as indicator,
        1 as numerator,
        null::integer as denominator
    from trainings
    where is_caregiver and is_completed and is_employed_in_window
    union all
    select
        activity_date,
        county_code,
        'new_skilled_persons' as indicator,
        1 as numerator,
        null::integer as denominator
    from first_skilled
    union all
    select
        activity_date,
        county_code,
        'new_high_skilled_persons' as indicator,
        1 as numerator,
        null::integer as denominator
    from first_high_skilled
),

with_geography as (
    select
        measures.indicator,
        measures.numerator,
        measures.denominator,
        measures.county_code,
        extract(year from measures.activity_date)::integer as target_year,
        coalesce(regions.city_code, {{ city_of('measures.county_code') }}) as city_code
    from measures
    left join regions
        on measures.county_code = regions.region_code
),

actuals as (
    {% for level, column in levels.items() %}
        select
            target_year,
            '{{ level }}' as region_level,
            {{ column }}::text as region_code,
            indicator,
            sum(numerator) as numerator,
            sum(denominator) as denominator
        from with_geography
        group by target_year, indicator{% if level != 'province' %}, {{ column }}{% endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

yearly_targets as (
    select
        targets.region_code,
        targets.indicator,
        targets.target_value,
        targets.source,
        extract(year from targets.period_start)::integer as target_year,
        coalesce(regions.region_level, 'county') as region_level
    from targets
    left join regions
        on targets.region_code = regions.region_code
    where targets.indicator in ('{{ indicators | join("', '") }}')
),

combined as (
    select
        coalesce(actuals.target_year, yearly_targets.target_year) as target_year,
        coalesce(actuals.region_level, yearly_targets.region_level) as region_level,
        coalesce(actuals.region_code, yearly_targets.region_code) as region_code,
        coalesce(actuals.indicator, yearly_targets.indicator) as indicator,
        coalesce(actuals.numerator, 0) as actual_numerator,
        actuals.denominator as actual_denominator,
        yearly_targets.target_value,
        yearly_targets.source
    from actuals
    full outer join yearly_targets
        on
            actuals.target_year = yearly_targets.target_year
            and actuals.region_code = yearly_targets.region_code
            and actuals.indicator = yearly_targets.indicator
),

measured as (
    select
        combined.*,
        case when combined.indicator like '%\_share' then 'share' else 'persons' end as unit,
        case
            when combined.indicator like '%\_share'
                then round(combined.actual_numerator::numeric / nullif(combined.actual_denominator, 0), 4)
            else combined.actual_numerator::numeric
        end as actual_value,
        -- within the target year: a past year is measured at its end, a coming one from its start
        least(
            greatest(data_as_of.as_of_date, make_date(combined.target_year, 1, 1) - 1),
            make_date(combined.target_year, 12, 31)
        ) as as_of_date
    from combined
    cross join data_as_of
),

with_time_left as (
    select
        measured.*,
        ceil((make_date(measured.target_year, 12, 31) - measured.as_of_date) / 14.0)::integer as fortnights_left
    from measured
),

final as (
    select
        target_year,
        region_level,
        region_code,
        indicator,
        unit,
        actual_numerator,
        actual_denominator,
        actual_value,
        target_value,
        round(actual_value / nullif(target_value, 0), 4) as share_of_target,
        as_of_date,
        fortnights_left,
        case
            when unit = 'persons' and target_value is not null then greatest(target_value - actual_value, 0)
        end as remaining_to_target,
        case
            when unit = 'persons' and target_value is not null and as_of_date < make_date(target_year, 12, 31)
                then round(greatest(target_value - actual_value, 0) / fortnights_left, 1)
        end as pace_needed_per_fortnight,
        source
    from with_time_left
)

select * from final
