{#-
    One row per enrollment of a trainee a living-allowance rule covers (P-LIV, 001 §二(五): poor labourers, 15 yuan
    a day during subsidised training), paid to the trainee. The allowance follows its training: a training refused
    under the person-level limits of 001 §二(六) carries no allowance either.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

with

enrollments as (
    select * from {{ ref('settlement_enrollments') }}
),

subsidy_rules as (
    select * from {{ ref('int_subsidy__rules') }}
),

rules_matched as (
    {{ match_subsidy_rule(
        'enrollments', 'enrollment_id', 'living_allowance', 'end_date', 'region_code',
        {'program_types': 'program_type', 'trainee_categories': 'trainee_category'}
    ) }}
),

assessed as (
    select
        enrollments.enrollment_id,
        enrollments.class_id,
        enrollments.person_id,
        enrollments.region_code,
        enrollments.end_date,
        enrollments.training_days,
        enrollments.subsidy_year,
        enrollments.end_date as settlement_date,
        {{ matched_rule_columns() }}
        array_remove(array[
            case
                when enrollments.completion_status <> 'completed'
                    then 'not_completed: 结业状态为 ' || enrollments.completion_status || '，未结业'
            end,
            {{ rule_reason("enrollments.end_date", "enrollments.region_code || ' 地区的生活费补贴'", 'rules_matched') }},
            enrollments.limit_reason
        ], null) as reasons
    from enrollments
    inner join rules_matched
        on enrollments.enrollment_id = rules_matched.enrollment_id
),

final as (
    select
        enrollment_id,
        class_id,
        person_id,
        region_code,
        end_date,
        training_days,
        subsidy_year,
        settlement_date,
        rule_id,
        rule_version,
        source_clause,
        basis,
        reasons,
        {{ eligibility_and_amount('reasons', 'training_days') }}
    from assessed
)

select * from final
