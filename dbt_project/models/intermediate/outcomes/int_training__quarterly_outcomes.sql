{#-
    Outcome measures per enrollment, after the US WIOA performance measures built from wage records: employed in
    the 2nd and in the 4th calendar quarter after the quarter of exit (the training's end), the monthly
    contribution base in the 2nd quarter (an earnings proxy), and a credential within a year of the training.
    Each measure has a status: excluded (with a reason code), employed / attained, not_employed / not_attained,
    or pending while its period is still open at the data's date (the latest loaded data date, not a clock).
    Exclusions: not_completed (every measure); enterprise_employee_on_the_job (employment measures, 001 §一).
-#}
{%- set quarters = ['second', 'fourth'] %}

with

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
),

trainee_categories as (
    select * from {{ ref('trainee_categories') }}
),

employment_months as (
    select * from {{ ref('int_employment__qualifying_months') }}
),

registrations as (
    select * from {{ ref('int_employment__qualifying_registrations') }}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
),

data_as_of as (
    select * from {{ ref('int_ingest__latest_data_date') }}
),

exits as (
    select
        enrollments.enrollment_id,
        enrollments.person_id,
        enrollments.program_type,
        enrollments.region_code,
        enrollments.start_date,
        enrollments.end_date,
        date_trunc('quarter', enrollments.end_date)::date as exit_quarter,
        (date_trunc('quarter', enrollments.end_date) + interval '6 months')::date as second_quarter_start,
        (date_trunc('quarter', enrollments.end_date) + interval '9 months - 1 day')::date as second_quarter_end,
        (date_trunc('quarter', enrollments.end_date) + interval '12 months')::date as fourth_quarter_start,
        (date_trunc('quarter', enrollments.end_date) + interval '15 months - 1 day')::date as fourth_quarter_end,
        (enrollments.end_date + interval '1 year')::date as credential_window_end,
        case
            when enrollments.completion_status <> 'completed' then 'not_completed'
            when trainee_categories.is_excluded_from_employment_rate then 'enterprise_employee_on_the_job'
        end as employment_exclusion,
        case when enrollments.completion_status <> 'completed' then 'not_completed' end as credential_exclusion
    from enrollments
    inner join trainee_categories
        on enrollments.trainee_category = trainee_categories.trainee_category
    where enrollments.end_date is not null
),

{% for quarter in quarters %}
    {{ quarter }}_quarter_contributions as (
        select
            exits.enrollment_id,
            round(avg(employment_months.contribution_base), 2) as contribution_base
        from exits
        inner join employment_months
            on
                exits.person_id = employment_months.person_id
                and employment_months.employment_month
                between exits.{{ quarter }}_quarter_start and exits.{{ quarter }}_quarter_end
        group by exits.enrollment_id
    ),

    {{ quarter }}_quarter_registrations as (
        select distinct exits.enrollment_id
        from exits
        inner join registrations
            on
                exits.person_id = registrations.person_id
                and registrations.event_date between exits.{{ quarter }}_quarter_start and exits.{{ quarter }}_quarter_end
    ),
{% endfor %}

credentials as (
    select
        exits.enrollment_id,
        min(certificates.issue_date) as first_credential_date
    from exits
    inner join certificates
        on
            exits.person_id = certificates.person_id
            and certificates.is_valid
            and certificates.issue_date between exits.start_date and exits.credential_window_end
    group by exits.enrollment_id
),

evidence as (
    select
        exits.*,
        data_as_of.as_of_date,
        second_quarter_contributions.contribution_base as second_quarter_contribution_base,
        {% for quarter in quarters %}
            {{ quarter }}_quarter_contributions.enrollment_id is not null as has_{{ quarter }}_quarter_contribution,
            {{ quarter }}_quarter_registrations.enrollment_id is not null as has_{{ quarter }}_quarter_registration,
        {% endfor %}
        credentials.first_credential_date
    from exits
    cross join data_as_of
    {% for quarter in quarters %}
        left join {{ quarter }}_quarter_contributions
            on exits.enrollment_id = {{ quarter }}_quarter_contributions.enrollment_id
        left join {{ quarter }}_quarter_registrations
            on exits.enrollment_id = {{ quarter }}_quarter_registrations.enrollment_id
    {% endfor %}
    left join credentials
        on exits.enrollment_id = credentials.enrollment_id
),

final as (
    select
        enrollment_id,
        person_id,
        program_type,
        region_code,
        end_date,
        exit_quarter,
        as_of_date,
        employment_exclusion,
        credential_exclusion,
        case when employment_exclusion is null then second_quarter_contribution_base end
            as second_quarter_contribution_base,
        {% for quarter in quarters %}
            case
                when employment_exclusion is not null then 'excluded'
                when has_{{ quarter }}_quarter_contribution or has_{{ quarter }}_quarter_registration then 'employed'
                when as_of_date is null or {{ quarter }}_quarter_end >= as_of_date then 'pending'
                else 'not_employed'
            end as {{ quarter }}_quarter_status,
            case
                when employment_exclusion is not null then null
                when has_{{ quarter }}_quarter_contribution and has_{{ quarter }}_quarter_registration
                    then 'contribution_and_registration'
                when has_{{ quarter }}_quarter_contribution then 'contribution'
                when has_{{ quarter }}_quarter_registration then 'registration'
                when as_of_date is null or {{ quarter }}_quarter_end >= as_of_date then 'pending'
            end as {{ quarter }}_quarter_evidence,
        {% endfor %}
        case
            when credential_exclusion is not null then 'excluded'
            when first_credential_date is not null then 'attained'
            when as_of_date is null or credential_window_end >= as_of_date then 'pending'
            else 'not_attained'
        end as credential_status,
        first_credential_date
    from evidence
)

select * from final
