-- For each enrollment: was the trainee employed within the window after the end date, on which evidence, and
-- was a certificate of the same occupation obtained. The window length is a setting (pipeline_settings seed).
-- Also the months of paid employee insurance during the training itself (from the month it starts to its end date),
-- whatever their base: risk_warnings flags unemployed trainees who paid it.
-- Incremental by person: an enrollment's outcome depends only on its trainee's records, so a night recomputes the
-- enrollments of the persons whose records a batch after the watermark named (int_people__unified.last_batch_id,
-- carried here as last_batch_id), keyed on enrollment_id so that an enrollment corrected onto another person moves.
-- A changed seed (the window, the minimum living standards) needs `dbt build --full-refresh`.
{{
    config(
        materialized='incremental',
        unique_key='enrollment_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['enrollment_id'], 'unique': true}],
    )
}}

with

people as (
    select * from {{ ref('int_people__unified') }}
    {% if is_incremental() %}
        where last_batch_id > {{ incremental_watermark(
            'last_batch_id', requires=['employee_insurance_months_in_training']
        ) }}
    {% endif %}
),

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
    {% if is_incremental() %}
        where person_id in (select person_id from people)
    {% endif %}
),

trainee_categories as (
    select * from {{ ref('trainee_categories') }}
),

employment_months as (
    select * from {{ ref('int_employment__qualifying_months') }}
),

contribution_months as (
    select * from {{ ref('int_employment__contribution_months') }}
),

registrations as (
    select * from {{ ref('int_employment__qualifying_registrations') }}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
),

window_length as (
    select {{ pipeline_setting('employment_window_months', 'integer') }} as months
),

windows as (
    select
        enrollments.*,
        enrollments.end_date + 1 as window_start_date,
        (enrollments.end_date + make_interval(months => window_length.months))::date as window_end_date,
        not trainee_categories.is_excluded_from_employment_rate
        and enrollments.completion_status = 'completed' as is_in_employment_rate
    from enrollments
    cross join window_length
    inner join trainee_categories
        on enrollments.trainee_category = trainee_categories.trainee_category
),

-- Each window's months looked up by the trainee's (person_id, employment_month) index, a lateral aggregate per
-- window: joined as sets, PostgreSQL hashed every stored month to find the night's few persons' (3.7 million rows
-- for 32,000 windows on 12 months of a million people, 1.1 s each time, where one month of history hashes a tenth).
-- A window without a month has no row, as it had none in the join.
contribution_evidence as (
    select
        windows.enrollment_id,
        found.first_employment_month,
        found.employment_months_in_window,
        found.is_employed_only_by_institution
    from windows
    cross join
        lateral (
            select
                min(employment_months.employment_month) as first_employment_month,
                count(*) as employment_months_in_window,
                bool_and(employment_months.employer_code = windows.institution_code) as is_employed_only_by_institution
            from employment_months
            where
                employment_months.person_id = windows.person_id
                and employment_months.employment_month
                between date_trunc('month', windows.window_start_date)::date and windows.window_end_date
        ) as found
    where found.employment_months_in_window > 0
),

employee_insurance_in_training as (
    select
        windows.enrollment_id,
        found.months
    from windows
    cross join
        lateral (
            select count(*) as months
            from contribution_months
            where
                contribution_months.person_id = windows.person_id
                and contribution_months.employment_month
                between date_trunc('month', windows.start_date)::date and windows.end_date
                and contribution_months.has_paid_employee_insurance
        ) as found
    where found.months > 0
),

registration_evidence as (
    select
        windows.enrollment_id,
        min(registrations.event_date) as first_registration_date
    from windows
    inner join registrations
        on
            windows.person_id = registrations.person_id
            and registrations.event_date between windows.window_start_date and windows.window_end_date
    group by windows.enrollment_id
),

certificate_evidence as (
    select
        windows.enrollment_id,
        min(certificates.issue_date) as first_certificate_date
    from windows
    inner join certificates
        on
            windows.person_id = certificates.person_id
            and windows.occupation_code = certificates.occupation_code
            and certificates.is_valid
            and windows.start_date <= certificates.issue_date
    group by windows.enrollment_id
),

final as (
    select
        windows.enrollment_id,
        windows.class_id,
        windows.person_id,
        windows.institution_code,
        windows.institution_name,
        windows.program_type,
        windows.trainee_category,
        windows.occupation_code,
        windows.skill_rank,
        windows.region_code,
        windows.start_date,
        windows.end_date,
        windows.training_days,
        date_trunc('month', windows.end_date)::date as completion_month,
        windows.completion_status,
        windows.voucher_id,
        windows.is_in_employment_rate,
        windows.window_end_date,
        contribution_evidence.first_employment_month,
        registration_evidence.first_registration_date,
        coalesce(contribution_evidence.employment_months_in_window, 0) as employment_months_in_window,
        -- Evidence a subsidy checker distrusts (docs/policy.md, risk warnings): employed only by the training institution itself, or
        -- one month of contributions and nothing else.
        registration_evidence.enrollment_id is null
        and coalesce(contribution_evidence.is_employed_only_by_institution, false) as is_employed_only_by_institution,
        registration_evidence.enrollment_id is null
        and contribution_evidence.employment_months_in_window = 1 as is_one_month_spell,
        windows.completion_status = 'completed'
        and (
            contribution_evidence.enrollment_id is not null
            or registration_evidence.enrollment_id is not null
        ) as is_employed_in_window,
        case
            when contribution_evidence.enrollment_id is not null and registration_evidence.enrollment_id is not null
                then 'contribution_and_registration'
            when contribution_evidence.enrollment_id is not null then 'contribution'
            when registration_evidence.enrollment_id is not null then 'registration'
        end as employment_evidence,
        certificate_evidence.first_certificate_date,
        certificate_evidence.enrollment_id is not null as is_certified,
        coalesce(employee_insurance_in_training.months, 0) as employee_insurance_months_in_training,
        people.last_batch_id
    from windows
    left join people
        on windows.person_id = people.person_id
    left join contribution_evidence
        on windows.enrollment_id = contribution_evidence.enrollment_id
    left join registration_evidence
        on windows.enrollment_id = registration_evidence.enrollment_id
    left join certificate_evidence
        on windows.enrollment_id = certificate_evidence.enrollment_id
    left join employee_insurance_in_training
        on windows.enrollment_id = employee_insurance_in_training.enrollment_id
)

select * from final
