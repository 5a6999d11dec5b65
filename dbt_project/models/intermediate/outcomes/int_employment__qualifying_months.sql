-- Person-months employed by social-security evidence: the qualifying rows of int_employment__contribution_months,
-- which holds the verdict for every month with a contribution (so a correction can withdraw one).
-- One select, no CTEs, on purpose: PostgreSQL plans a view with a WITH clause as a closed subquery, so a model
-- joining its few persons to this view scanned every stored month; without one the view is inlined into the
-- caller's query and the join reaches the (person_id, employment_month) index (an incremental night, bench-province).
{{ config(materialized='view') }}

select
    person_id,
    employment_month,
    employer_code,
    region_code,
    contribution_base,
    last_batch_id
from {{ ref('int_employment__contribution_months') }}
where is_qualifying
