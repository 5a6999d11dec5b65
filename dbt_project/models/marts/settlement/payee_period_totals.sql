-- Per payee and month of settlement: what is payable, for how many trainees, and the employment rates of the
-- payee's classes settled that month (numerator and denominator, so rates can be re-aggregated).
with

lines as (
    select * from {{ ref('settlement_lines') }}
),

class_rates as (
    select * from {{ ref('class_employment_rates') }}
),

line_totals as (
    select
        payee_code,
        min(payee_name) as payee_name,
        min(payee_kind) as payee_kind,
        date_trunc('month', settlement_date)::date as settlement_month,
        sum(amount_yuan)::{{ money_type() }} as amount_yuan,
        count(*) filter (where is_eligible) as eligible_lines,
        count(*) filter (where not is_eligible) as refused_lines,
        count(distinct person_id) filter (where is_eligible) as paid_trainees
    from lines
    where payee_code is not null
    group by payee_code, date_trunc('month', settlement_date)
),

payee_classes as (
    select distinct
        payee_code,
        date_trunc('month', settlement_date)::date as settlement_month,
        class_id
    from lines
    where payee_code is not null and line_kind = 'training'
),

class_totals as (
    select
        payee_classes.payee_code,
        payee_classes.settlement_month,
        count(*) as classes,
        sum(class_rates.employed_trainees)::bigint as class_employed_trainees,
        sum(class_rates.employment_rate_denominator)::bigint as class_employment_rate_denominator
    from payee_classes
    inner join class_rates
        on payee_classes.class_id = class_rates.class_id
    group by payee_classes.payee_code, payee_classes.settlement_month
),

final as (
    select
        line_totals.*,
        coalesce(class_totals.classes, 0) as classes,
        coalesce(class_totals.class_employed_trainees, 0) as class_employed_trainees,
        coalesce(class_totals.class_employment_rate_denominator, 0) as class_employment_rate_denominator,
        round(
            class_totals.class_employed_trainees::numeric / nullif(class_totals.class_employment_rate_denominator, 0), 4
        ) as class_employment_rate
    from line_totals
    left join class_totals
        on
            line_totals.payee_code = class_totals.payee_code
            and line_totals.settlement_month = class_totals.settlement_month
)

select * from final
