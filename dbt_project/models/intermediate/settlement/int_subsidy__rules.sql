-- The version of each subsidy rule that applies now, with how specific its region and scope are (for precedence).
with

subsidy_rules as (
    select * from {{ ref('subsidy_rules') }}
),

latest_versions as (
    select distinct on (rule_id) *
    from subsidy_rules
    order by rule_id asc, rule_version desc
),

final as (
    select
        *,
        case
            when region_code like '__0000' then 1
            when region_code like '____00' then 2
            else 3
        end as region_specificity,
        (program_types <> '*')::integer
        + (trainee_categories <> '*')::integer
        + (certificate_types <> '*')::integer
        + (skill_ranks <> '*')::integer as scope_specificity
    from latest_versions
)

select * from final
