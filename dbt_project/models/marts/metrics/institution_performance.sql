{#-
    Each training institution's results per programme type and year of the training's end, in the manner of an
    eligible-training-provider list (docs/archive-and-metrics.md, institutions): enrolled, completed, certified,
    employment in the 2nd and 4th quarter after exit counting final cases only (a case whose quarter has not ended
    by the data date is pending, docs/time.md), the median quarterly contribution base of those employed in the 2nd
    quarter, the subsidies approved runs paid, the cost per completer and the findings against the institution.
-#}
with

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
),

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
),

quarterly as (
    select * from {{ ref('int_training__quarterly_outcomes') }}
),

run_lines as (
    select * from {{ source('payments', 'settlement_run_lines') }}
),

runs as (
    select * from {{ source('payments', 'settlement_runs') }}
),

catalogue as (
    select * from {{ ref('stg_catalogue__entries') }}
    where entry_kind = 'training_institution'
),

credit_events as (
    select * from {{ ref('int_institutions__credit_events') }}
),

data_as_of as (
    select as_of_date from {{ ref('int_ingest__latest_data_date') }}
),

paid as (
    select
        run_lines.source_id as enrollment_id,
        sum(run_lines.amount_yuan) as paid_yuan
    from run_lines
    inner join runs
        on run_lines.run_id = runs.run_id
    where runs.status = 'approved' and run_lines.line_kind = 'training'
    group by run_lines.source_id
),

institution_names as (
    select distinct on (institution_code)
        institution_code,
        institution_name
    from catalogue
    order by institution_code asc, catalogue_year desc
),

cases as (
    select
        enrollments.institution_code,
        enrollments.institution_name,
        enrollments.program_type,
        extract(year from enrollments.end_date)::integer as exit_year,
        enrollments.enrollment_id,
        enrollments.completion_status,
        outcomes.is_certified,
        quarterly.second_quarter_status,
        quarterly.fourth_quarter_status,
        quarterly.second_quarter_contribution_base,
        paid.paid_yuan
    from enrollments
    left join outcomes
        on enrollments.enrollment_id = outcomes.enrollment_id
    left join quarterly
        on enrollments.enrollment_id = quarterly.enrollment_id
    left join paid
        on enrollments.enrollment_id = paid.enrollment_id
),

findings as (
    select
        institution_code,
        event_year,
        count(*) as findings
    from credit_events
    group by institution_code, event_year
),

measured as (
    select
        institution_code,
        program_type,
        exit_year,
        max(institution_name) as reported_institution_name,
        count(*) as enrolled,
        count(*) filter (where completion_status = 'completed') as completed,
        count(*) filter (where completion_status = 'completed' and is_certified) as certified,
        {% for quarter in ['second', 'fourth'] %}
            count(*) filter (where {{ quarter }}_quarter_status = 'employed') as {{ quarter }}_quarter_employed,
            count(*) filter (where {{ quarter }}_quarter_status in ('employed', 'not_employed'))
                as {{ quarter }}_quarter_final_cases,
            count(*) filter (where {{ quarter }}_quarter_status = 'pending') as {{ quarter }}_quarter_pending,
        {% endfor %}
        percentile_cont(0.5) within group (order by second_quarter_contribution_base) filter (
            where second_quarter_status = 'employed'
        ) as median_contribution_base,
        coalesce(sum(paid_yuan), 0)::{{ money_type() }} as subsidies_paid_yuan
    from cases
    group by institution_code, program_type, exit_year
),

final as (
    select
        measured.institution_code,
        coalesce(institution_names.institution_name, measured.reported_institution_name) as institution_name,
        measured.program_type,
        measured.exit_year,
        data_as_of.as_of_date,
        measured.enrolled,
        measured.completed,
        measured.certified,
        {% for quarter in ['second', 'fourth'] %}
            measured.{{ quarter }}_quarter_employed,
            measured.{{ quarter }}_quarter_final_cases,
            measured.{{ quarter }}_quarter_pending,
            round(
                measured.{{ quarter }}_quarter_employed::numeric
                / nullif(measured.{{ quarter }}_quarter_final_cases, 0), 4
            ) as {{ quarter }}_quarter_employment_rate,
            case
                when measured.{{ quarter }}_quarter_final_cases = 0 then 'pending'
                when measured.{{ quarter }}_quarter_pending > 0 then 'provisional'
                else 'final'
            end as {{ quarter }}_quarter_status,
        {% endfor %}
        round(measured.median_contribution_base::numeric, 2) as median_contribution_base,
        measured.subsidies_paid_yuan,
        round(measured.subsidies_paid_yuan / nullif(measured.completed, 0), 2)::{{ money_type() }}
            as cost_per_completer_yuan,
        coalesce(findings.findings, 0) as findings_in_year
    from measured
    cross join data_as_of
    left join institution_names
        on measured.institution_code = institution_names.institution_code
    left join findings
        on
            measured.institution_code = findings.institution_code
            and measured.exit_year = findings.event_year
)

select * from final
