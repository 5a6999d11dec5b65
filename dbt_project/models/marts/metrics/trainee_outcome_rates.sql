{#-
    The policy's completion-based trainee employment rate (培训结束后就业率, 001 §一: completed trainees excluding
    enterprise employees on the job; employed within the employment window after the end date; the measure
    settlement and its class threshold use) and the certification rate, per completion month and breakdown. It is a
    measure of its own, apart from the WIOA-style exiter measures of trainee_outcome_measures.
    Each row carries its as-of date (the latest loaded data date) and its status: final once every window of the
    month has closed at the as-of date (latest_window_end_date before it), provisional until then (docs/time.md).
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'case when breakdown = \'county\' then breakdown_value end'}) }}

{%- set breakdowns = {
    'province': "'140000'",
    'city': 'city_code',
    'county': 'region_code',
    'institution': 'institution_code',
    'program_type': 'program_type',
    'trainee_category': 'trainee_category',
    'class': 'class_id',
} -%}

with

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
    where completion_status = 'completed'
),

targets as (
    select * from {{ ref('int_targets__in_force') }}
    where indicator = 'trainee_employment_rate'
),

data_as_of as (
    select * from {{ ref('int_ingest__latest_data_date') }}
),

with_geography as (
    {{ located('outcomes', 'region_code') }}
),

rates as (
    {% for breakdown, column in breakdowns.items() %}
        select
            completion_month,
            '{{ breakdown }}' as breakdown,
            {{ column }}::text as breakdown_value,
            count(*) filter (where is_in_employment_rate and is_employed_in_window) as employed_trainees,
            count(*) filter (where is_in_employment_rate) as employment_rate_denominator,
            count(*) filter (where is_certified) as certified_trainees,
            count(*) as completed_trainees,
            max(window_end_date) as latest_window_end_date
        from with_geography
        group by completion_month{% if breakdown != 'province' %}, {{ column }}{% endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        rates.completion_month,
        rates.breakdown,
        rates.breakdown_value,
        rates.employed_trainees,
        rates.employment_rate_denominator,
        round(rates.employed_trainees::numeric / nullif(rates.employment_rate_denominator, 0), 4) as employment_rate,
        targets.target_value as employment_rate_target,
        rates.certified_trainees,
        rates.completed_trainees,
        round(rates.certified_trainees::numeric / nullif(rates.completed_trainees, 0), 4) as certification_rate,
        rates.latest_window_end_date,
        data_as_of.as_of_date,
        case
            when rates.latest_window_end_date < data_as_of.as_of_date then 'final' else 'provisional'
        end as rate_status
    from rates
    cross join data_as_of
    left join targets
        on
            targets.region_code = '140000'
            and rates.completion_month between targets.period_start and targets.period_end
)

select * from final
