{#-
    What is still open against the payment deadline: subsidies of a year are to be settled by the end of March of
    the next year (003 §六, docs/policy.md). Per subsidy year and payee: the eligible amount as computed today, what
    approved runs have settled (originals plus adjustments), and what remains. A view, so approving a run shows
    here at once.
-#}
{{ config(materialized='view') }}

with

lines as (
    select * from {{ ref('settlement_lines') }}
),

runs as (
    select * from {{ source('payments', 'settlement_runs') }}
),

run_lines as (
    select * from {{ source('payments', 'settlement_run_lines') }}
),

due as (
    select
        subsidy_year,
        payee_code,
        min(payee_kind) as payee_kind,
        min(payee_name) as payee_name,
        sum(amount_yuan) as eligible_yuan,
        count(*) filter (where is_eligible) as eligible_lines
    from lines
    where payee_code is not null
    group by subsidy_year, payee_code
),

settled as (
    select
        run_lines.subsidy_year,
        run_lines.payee_code,
        sum(run_lines.amount_yuan) as settled_yuan,
        max(runs.approved_at) as last_approved_at
    from run_lines
    inner join runs
        on run_lines.run_id = runs.run_id
    where runs.status = 'approved' and run_lines.payee_code is not null
    group by run_lines.subsidy_year, run_lines.payee_code
),

final as (
    select
        coalesce(due.subsidy_year, settled.subsidy_year) as subsidy_year,
        coalesce(due.payee_code, settled.payee_code) as payee_code,
        due.payee_kind,
        due.payee_name,
        coalesce(due.eligible_yuan, 0)::{{ money_type() }} as eligible_yuan,
        coalesce(due.eligible_lines, 0) as eligible_lines,
        coalesce(settled.settled_yuan, 0)::{{ money_type() }} as settled_yuan,
        (coalesce(due.eligible_yuan, 0) - coalesce(settled.settled_yuan, 0))::{{ money_type() }} as open_yuan,
        settled.last_approved_at,
        make_date(coalesce(due.subsidy_year, settled.subsidy_year) + 1, 3, 31) as payment_deadline,
        case
            when coalesce(due.eligible_yuan, 0) = coalesce(settled.settled_yuan, 0) then 'settled'
            when current_date > make_date(coalesce(due.subsidy_year, settled.subsidy_year) + 1, 3, 31) then 'overdue'
            else 'open'
        end as deadline_status
    from due
    full outer join settled
        on due.subsidy_year = settled.subsidy_year and due.payee_code = settled.payee_code
)

select * from final
