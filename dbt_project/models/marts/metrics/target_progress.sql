{#-
    Progress against the year's count and share targets (docs/policy.md, targets; Liulin 2023: 003 §二 and §三(三))
    for the province, each city and each county: the actual to date, the share of the target reached, what remains,
    the pace needed for the rest of the year per fortnight (the bi-weekly scheduling of 003 §七(二)) and per month,
    the pace so far projected to the year's end, and whether it would reach the target.
    Measured as:
      subsidised_trainings and its parts  real-name training records (人次) of classes started in the year, not
        (order_project_, enterprise_staff_, dropped, whose programme type is in the target's scope
        entrepreneurship_, institution_worker_trainings)   (int_targets__in_force.program_types: 003 §二(一) sets
                                           1,500 as four parts and the 吕梁山护工 labour brand's 900 apart)
      new_skilled_persons          persons whose first valid levelled certificate was issued in the year
      new_high_skilled_persons     persons whose first valid certificate at rank 4 (高级工) or above was issued
      vocational_first_intermediate_persons
                                   persons whose first valid 中级工 (rank 3) skill-level certificate was issued in the
                                   year and who trained as graduating-year students (毕业年度学生), the feeds' mark of
                                   the 中职院校 students 003 §二(二) counts
      caregiver_trainees           labour-brand trainings in a 吕梁山护工 occupation (labour_brands), started
      caregiver_certified_share    of those completed, the share certified after the training
      caregiver_employed_trainees  of those completed, employed within the employment window
    An indicator's scope for regions and years without a target of their own is that of its latest target.
    One model of time (docs/time.md): as_of_date is the latest loaded data date, held within the year; a row is final
    once the year has ended and every employment window it counts has closed at that date, provisional until then.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': "case when region_level = 'county' then region_code end"}) }}

{%- set training_counts = [
    'subsidised_trainings', 'order_project_trainings', 'enterprise_staff_trainings', 'entrepreneurship_trainings',
    'institution_worker_trainings',
] -%}
{%- set indicators = training_counts + [
    'new_skilled_persons', 'new_high_skilled_persons', 'vocational_first_intermediate_persons',
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
    select * from {{ ref('int_targets__in_force') }}
),

caregiver_occupations as (
    select * from {{ ref('labour_brands') }}
    where brand_code = 'lvliangshan_caregiver'
),

data_as_of as (
    select * from {{ ref('int_ingest__latest_data_date') }}
),

-- The programme types each training count takes in: its latest target's scope (empty: every type).
indicator_scopes as (
    select distinct on (indicator)
        indicator,
        string_to_array(nullif(program_types, ''), '|') as program_types
    from targets
    where indicator in ('{{ training_counts | join("', '") }}')
    order by indicator asc, period_start desc, region_code asc
),

trainings as (
    select
        outcomes.person_id,
        outcomes.program_type,
        outcomes.start_date as activity_date,
        outcomes.region_code as county_code,
        outcomes.window_end_date,
        outcomes.completion_status = 'completed' as is_completed,
        outcomes.is_certified,
        outcomes.is_employed_in_window,
        outcomes.program_type = 'labour_brand' and caregiver_occupations.occupation_code is not null as is_caregiver
    from outcomes
    left join caregiver_occupations
        on outcomes.occupation_code = caregiver_occupations.occupation_code
    where outcomes.completion_status <> 'dropped'
),

graduating_students as (
    select distinct person_id
    from outcomes
    where trainee_category = 'graduate'
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

first_intermediate as (
    select distinct on (person_id)
        person_id,
        issue_date as activity_date,
        region_code as county_code
    from certificates
    where is_valid and skill_rank = 3 and certificate_type = 'skill_level'
    order by person_id asc, issue_date asc, certificate_id asc
),

-- One row per counted unit: numerator 1 (or 0 for a share's non-qualifying member), denominator 1 for shares, and
-- the end of the employment window a unit waits on (null where none).
measures as (
    {% for indicator in training_counts %}
        select
            trainings.activity_date,
            trainings.county_code,
            '{{ indicator }}' as indicator,
            1 as numerator,
            null::integer as denominator,
            null::date as window_end_date
        from trainings
        left join indicator_scopes
            on indicator_scopes.indicator = '{{ indicator }}'
        where
            indicator_scopes.program_types is null
            or trainings.program_type = any(indicator_scopes.program_types)
        union all
    {% endfor %}
    select
        activity_date,
        county_code,
        'caregiver_trainees' as indicator,
        1 as numerator,
        null::integer as denominator,
        null::date as window_end_date
    from trainings
    where is_caregiver
    union all
    select
        activity_date,
        county_code,
        'caregiver_certified_share' as indicator,
        case when is_certified then 1 else 0 end as numerator,
        1 as denominator,
        null::date as window_end_date
    from trainings
    where is_caregiver and is_completed
    union all
    select
        activity_date,
        county_code,
        'caregiver_employed_trainees' as indicator,
        case when is_employed_in_window then 1 else 0 end as numerator,
        null::integer as denominator,
        window_end_date
    from trainings
    where is_caregiver and is_completed
    union all
    select
        activity_date,
        county_code,
        'new_skilled_persons' as indicator,
        1 as numerator,
        null::integer as denominator,
        null::date as window_end_date
    from first_skilled
    union all
    select
        activity_date,
        county_code,
        'new_high_skilled_persons' as indicator,
        1 as numerator,
        null::integer as denominator,
        null::date as window_end_date
    from first_high_skilled
    union all
    select
        first_intermediate.activity_date,
        first_intermediate.county_code,
        'vocational_first_intermediate_persons' as indicator,
        1 as numerator,
        null::integer as denominator,
        null::date as window_end_date
    from first_intermediate
    inner join graduating_students
        on first_intermediate.person_id = graduating_students.person_id
),

located_measures as (
    {{ located('measures', 'county_code') }}
),

with_geography as (
    select
        indicator,
        numerator,
        denominator,
        window_end_date,
        county_code,
        city_code,
        extract(year from activity_date)::integer as target_year
    from located_measures
),

actuals as (
    {% for level, column in levels.items() %}
        select
            target_year,
            '{{ level }}' as region_level,
            {{ column }}::text as region_code,
            indicator,
            sum(numerator) as numerator,
            sum(denominator) as denominator,
            max(window_end_date) as latest_window_end_date
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
        targets.origin,
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
        actuals.latest_window_end_date,
        yearly_targets.target_value,
        yearly_targets.source,
        yearly_targets.origin as target_origin
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
        make_date(combined.target_year, 1, 1) as year_start,
        make_date(combined.target_year, 12, 31) as year_end,
        data_as_of.as_of_date as data_date,
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
        ceil((measured.year_end - measured.as_of_date) / 14.0)::integer as fortnights_left,
        -- calendar months still to come, the as-of date's own month counted unless it is that month's last day
        case
            when measured.as_of_date < measured.year_start then 12
            else
                12 - extract(month from measured.as_of_date)::integer
                + case
                    when measured.as_of_date = (date_trunc('month', measured.as_of_date) + interval '1 month - 1 day')::date
                        then 0
                    else 1
                end
        end as months_left,
        measured.as_of_date - measured.year_start + 1 as days_elapsed,
        measured.year_end - measured.year_start + 1 as days_in_year
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
            when unit = 'persons' and target_value is not null and as_of_date < year_end
                then round(greatest(target_value - actual_value, 0) / fortnights_left, 1)
        end as pace_needed_per_fortnight,
        source,
        months_left,
        case
            when unit = 'persons' and target_value is not null and as_of_date < year_end
                then round(greatest(target_value - actual_value, 0) / months_left, 1)
        end as pace_needed_per_month,
        -- the pace so far carried to 31 December (a count), or the share as it stands
        case
            when unit = 'share' then actual_value
            when days_elapsed > 0 then round(actual_value * days_in_year / days_elapsed, 1)
        end as projected_value,
        case
            when target_value is null then null
            when unit = 'share' then actual_value >= target_value
            when days_elapsed > 0 then actual_value * days_in_year / days_elapsed >= target_value
        end as is_on_pace,
        case
            when
                data_date > year_end
                and (latest_window_end_date is null or latest_window_end_date < data_date)
                then 'final'
            else 'provisional'
        end as progress_status,
        coalesce(target_origin, 'none') as target_origin
    from with_time_left
)

select * from final
