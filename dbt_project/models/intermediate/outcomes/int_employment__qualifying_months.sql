-- Person-months employed by social-security evidence: the qualifying rows of int_employment__contribution_months,
-- which holds the verdict for every month with a contribution (so a correction can withdraw one).
{{ config(materialized='view') }}

with

contribution_months as (
    select * from {{ ref('int_employment__contribution_months') }}
),

final as (
    select
        person_id,
        employment_month,
        employer_code,
        region_code,
        contribution_base,
        last_batch_id
    from contribution_months
    where is_qualifying
)

select * from final
