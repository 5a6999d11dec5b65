{#-
    The evidence behind the WIOA-style outcome measures, per enrollment (after the US WIOA performance measures built
    from wage records): the exit quarter (the quarter the training ended) and the periods that follow it, whether a
    qualifying contribution or an employment registration falls in the 2nd and in the 4th calendar quarter after
    it, the average monthly contribution base in the 2nd (an earnings proxy), the first valid credential within a
    year of the training, and the exclusions: not_exited (an enrollment still in training, every measure);
    enterprise_employee_on_the_job (employment measures, 001 §一). Every exiter counts, whether they completed or
    dropped out (as WIOA counts every exiter); completion_status is carried as a breakdown. The policy's own
    completion-based rate (培训结束后就业率) is int_training__outcomes. int_training__quarterly_outcomes turns the
    evidence into statuses at the data's date.

    Incremental by person, as int_training__outcomes: the evidence depends only on the trainee's records and on no
    date, so a night recomputes the enrollments of the persons a batch after the watermark named
    (int_people__unified.last_batch_id). The statuses, which move with the data's date, are not stored: a period
    closing turns `pending` into a final status without any record changing. A changed seed (trainee categories,
    the minimum living standards) needs `dbt build --full-refresh`.
-#}
{{
    config(
        materialized='incremental',
        unique_key='enrollment_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['enrollment_id'], 'unique': true}],
    )
}}

{%- set quarters = ['second', 'fourth'] %}
{#- completion_status came with counting every exiter: a table built before it is rebuilt whole on its first night. #}
{%- set watermark = incremental_watermark('last_batch_id', requires=['completion_status']) %}

with

people as (
    select * from {{ ref('int_people__unified') }}
    {% if is_incremental() %}
        where last_batch_id > {{ watermark }}
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

-- not materialized: each is read once per quarter, and PostgreSQL would otherwise copy every stored month (and
-- registration) into the query's work space each night, instead of looking the night's persons up by index.
employment_months as not materialized (
    select * from {{ ref('int_employment__qualifying_months') }}
),

registrations as not materialized (
    select * from {{ ref('int_employment__qualifying_registrations') }}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
),

exits as (
    select
        enrollments.enrollment_id,
        enrollments.person_id,
        enrollments.program_type,
        enrollments.region_code,
        enrollments.start_date,
        enrollments.end_date,
        enrollments.completion_status,
        date_trunc('quarter', enrollments.end_date)::date as exit_quarter,
        (date_trunc('quarter', enrollments.end_date) + interval '6 months')::date as second_quarter_start,
        (date_trunc('quarter', enrollments.end_date) + interval '9 months - 1 day')::date as second_quarter_end,
        (date_trunc('quarter', enrollments.end_date) + interval '12 months')::date as fourth_quarter_start,
        (date_trunc('quarter', enrollments.end_date) + interval '15 months - 1 day')::date as fourth_quarter_end,
        (enrollments.end_date + interval '1 year')::date as credential_window_end,
        case
            when enrollments.completion_status = 'in_progress' then 'not_exited'
            when trainee_categories.is_excluded_from_employment_rate then 'enterprise_employee_on_the_job'
        end as employment_exclusion,
        case when enrollments.completion_status = 'in_progress' then 'not_exited' end as credential_exclusion
    -- every enrollment, an open one (no end date) too: delete+insert replaces only the keys it writes, so an end date
    -- corrected away must replace the row; int_training__quarterly_outcomes reads the ended ones
    from enrollments
    inner join trainee_categories
        on enrollments.trainee_category = trainee_categories.trainee_category
),

{% for quarter in quarters %}
    -- a lateral aggregate per exit, by the (person_id, employment_month) index: joined as sets, every stored month
    -- was hashed for the night's few persons (int_training__outcomes says more); an exit without a month has no row
    {{ quarter }}_quarter_contributions as (
        select
            exits.enrollment_id,
            found.contribution_base
        from exits
        cross join
            lateral (
                select
                    round(avg(employment_months.contribution_base), 2) as contribution_base,
                    count(*) as months
                from employment_months
                where
                    employment_months.person_id = exits.person_id
                    and employment_months.employment_month
                    between exits.{{ quarter }}_quarter_start and exits.{{ quarter }}_quarter_end
            ) as found
        where found.months > 0
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

final as (
    select
        exits.enrollment_id,
        exits.person_id,
        exits.program_type,
        exits.region_code,
        exits.end_date,
        exits.completion_status,
        exits.exit_quarter,
        exits.second_quarter_end,
        exits.fourth_quarter_end,
        exits.credential_window_end,
        exits.employment_exclusion,
        exits.credential_exclusion,
        second_quarter_contributions.contribution_base as second_quarter_contribution_base,
        {% for quarter in quarters %}
            {{ quarter }}_quarter_contributions.enrollment_id is not null as has_{{ quarter }}_quarter_contribution,
            {{ quarter }}_quarter_registrations.enrollment_id is not null as has_{{ quarter }}_quarter_registration,
        {% endfor %}
        credentials.first_credential_date,
        people.last_batch_id
    from exits
    left join people
        on exits.person_id = people.person_id
    {% for quarter in quarters %}
        left join {{ quarter }}_quarter_contributions
            on exits.enrollment_id = {{ quarter }}_quarter_contributions.enrollment_id
        left join {{ quarter }}_quarter_registrations
            on exits.enrollment_id = {{ quarter }}_quarter_registrations.enrollment_id
    {% endfor %}
    left join credentials
        on exits.enrollment_id = credentials.enrollment_id
)

select * from final
