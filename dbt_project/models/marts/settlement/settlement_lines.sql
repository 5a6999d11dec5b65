{#-
    Every claim the finance office settles, in one shape: training subsidies, living allowances and certification
    subsidies, eligible or not, each with its rule and source clause. Settlement runs (skills_pipeline.settlement)
    freeze these lines per period of settlement_date; this model is always the current computation.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

with

enrollments as (
    select * from {{ ref('settlement_enrollments') }}
),

living_allowances as (
    select * from {{ ref('settlement_living_allowances') }}
),

certificates as (
    select * from {{ ref('settlement_certificates') }}
),

training_lines as (
    select
        'training:' || enrollment_id as line_key,
        'training' as line_kind,
        enrollment_id as source_id,
        person_id,
        class_id,
        region_code,
        payee_kind,
        payee_code,
        payee_name,
        rule_id,
        rule_version,
        source_clause,
        training_days as quantity,
        subsidy_year,
        settlement_date,
        is_eligible,
        reasons,
        amount_yuan
    from enrollments
),

living_allowance_lines as (
    select
        'living_allowance:' || enrollment_id as line_key,
        'living_allowance' as line_kind,
        enrollment_id as source_id,
        person_id,
        class_id,
        region_code,
        'trainee' as payee_kind,
        -- Paid to the trainee, who is known here only by pseudonym: the vault officer resolves the account.
        person_id as payee_code,
        null::text as payee_name,
        rule_id,
        rule_version,
        source_clause,
        training_days as quantity,
        subsidy_year,
        settlement_date,
        is_eligible,
        reasons,
        amount_yuan
    from living_allowances
),

certificate_lines as (
    select
        'certificate:' || certificate_id as line_key,
        'certificate' as line_kind,
        certificate_id as source_id,
        person_id,
        class_id,
        region_code,
        'institution' as payee_kind,
        payee_code,
        payee_name,
        rule_id,
        rule_version,
        source_clause,
        1 as quantity,
        subsidy_year,
        settlement_date,
        is_eligible,
        reasons,
        amount_yuan
    from certificates
),

final as (
    select * from training_lines
    union all
    select * from living_allowance_lines
    union all
    select * from certificate_lines
)

select * from final
