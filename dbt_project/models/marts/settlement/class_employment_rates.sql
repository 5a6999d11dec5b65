-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

-- Each class's post-training employment rate (denominator: completed trainees excluding enterprise employees on
-- the job, 001 §一), the figure outcome-based rules such as L-ORD (003 §三(一)) are conditioned on, with how much
-- of the employment rests on evidence a checker distrusts (docs/policy.md, risk warnings).
with

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
),

final as (
    select
        class_id,
        min(institution_code) as institution_code,
        min(program_type) as program_type,
        min(region_code) as region_code,
        min(start_date) as start_date,
        max(end_date) as end_date,
        max(window_end_date) as window_end_date,
        count(*) as trainees,
        count(*) filter (where completion_status = 'completed') as completed_trainees,
        count(*) filter (where is_in_employment_rate) as employment_rate_denominator,
        count(*) filter (where is_in_employment_rate and is_employed_in_window) as employed_trainees,
        round(
            count(*) filter (where is_in_employment_rate and is_employed_in_window)::numeric
            / nullif(count(*) filter (where is_in_employment_rate), 0),
            4
        ) as employment_rate,
        count(*) filter (
            where is_in_employment_rate and is_employed_in_window and is_employed_only_by_institution
        ) as employed_only_by_institution,
        count(*) filter (where is_in_employment_rate and is_employed_in_window and is_one_month_spell)
            as employed_by_one_month_spell
    from outcomes
    group by class_id
)

select * from final
