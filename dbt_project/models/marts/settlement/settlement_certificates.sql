{#-
    One row per certificate: is a certification subsidy payable (P-CERT, 001 §二(六)), every reason it is not, the
    rule and the amount. The payee is the institution or enterprise that organised it, known from the real-name
    training records (the latest training of the person in the same occupation started by the issue date): no such
    record, no subsidy (不录不补, 003 §5). A certificate counted twice (same person, occupation, type and level) is
    paid once, for the earliest.

    Incremental by person: a certificate's claim depends on its holder's certificates and training records and on
    the subsidy rules, so a night reassesses every certificate of the persons whose certificates or training records
    a batch after the watermark delivered, moved to them or took from them (source_batch_id, the newer batch of the
    certificate and of its training record, is the watermark). When the rules changed (rules_digest differs from the
    stored rows'), the night reassesses every certificate. A certificate never disappears, it can only move to
    another person, so dbt's delete+insert on certificate_id replaces every row a night changes. Rebuilt whole, the
    model grew with every certificate ever issued.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
-- depends_on: {{ ref('int_people__record_batches') }}
{{
    config(
        meta={'county_filter': 'region_code'},
        materialized='incremental',
        unique_key='certificate_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['certificate_id'], 'unique': true}, {'columns': ['source_batch_id']}],
    )
}}

{%- set watermark = incremental_watermark(
    'source_batch_id', unchanged={'rules_digest': subsidy_rules_digest()}
) %}

with

{% if is_incremental() %}
    touched_people as (
        {{ persons_touched_after(watermark, ['stg_certificate__certificates', 'stg_training__enrollments']) }}
    ),
{% endif %}

-- = any(array(...)): the night's persons as a list each table's person_id index is probed with, once per person. As
-- `in (select ...)` a misestimate of the list planned a semi-join that rescanned it per row (2.1 s instead of 0.2 s
-- at 1 M people); unfiltered, the enrollments were read whole for the join below.
certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
    {% if is_incremental() %}
        where person_id = any(array(select person_id from touched_people))
    {% endif %}
),

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
    {% if is_incremental() %}
        where person_id = any(array(select person_id from touched_people))
    {% endif %}
),

subsidy_rules as (
    select * from {{ ref('int_subsidy__rules') }}
),

training_records as (
    select distinct on (certificates.certificate_id)
        certificates.certificate_id,
        enrollments.enrollment_id,
        enrollments.class_id,
        enrollments.institution_code,
        enrollments.institution_name,
        enrollments.batch_id
    from certificates
    inner join enrollments
        on
            certificates.person_id = enrollments.person_id
            and certificates.occupation_code = enrollments.occupation_code
            and certificates.issue_date >= enrollments.start_date
    order by certificates.certificate_id asc, enrollments.start_date desc, enrollments.enrollment_id desc
),

first_of_kind as (
    select
        certificate_id,
        first_value(certificate_id) over same_certificate as first_certificate_id
    from certificates
    where is_valid
    window same_certificate as (
        partition by person_id, occupation_code, certificate_type, coalesce(skill_rank, 0)
        order by issue_date, certificate_id
    )
),

rules_matched as (
    {{ match_subsidy_rule(
        'certificates', 'certificate_id', 'certificate', 'issue_date', 'region_code',
        {'certificate_types': 'certificate_type', 'skill_ranks': 'skill_rank'}
    ) }}
),

assessed as (
    select
        certificates.*,
        training_records.enrollment_id,
        training_records.class_id,
        training_records.institution_code,
        training_records.institution_name,
        greatest(certificates.batch_id, training_records.batch_id) as source_batch_id,
        {{ matched_rule_columns() }}
        array_remove(array[
            case when not certificates.is_valid then 'certificate_revoked: 证书状态为 ' || certificates.status end,
            case
                when training_records.certificate_id is null
                    then 'not_in_real_name_records: 实名制培训系统中没有本人在该职业（工种）的培训记录（003 §五）'
            end,
            case
                when first_of_kind.first_certificate_id <> certificates.certificate_id
                    then 'duplicate_certificate: 同一证书已按 ' || first_of_kind.first_certificate_id || ' 计入'
            end,
            {{ rule_reason(
                'certificates.issue_date',
                "format('%s 地区等级为 %s 的 %s 证书', certificates.region_code,
                coalesce(certificates.skill_rank::text, '无'), certificates.certificate_type)"
            ) }}
        ], null) as reasons
    from certificates
    left join training_records
        on certificates.certificate_id = training_records.certificate_id
    left join first_of_kind
        on certificates.certificate_id = first_of_kind.certificate_id
    left join rules_matched
        on certificates.certificate_id = rules_matched.certificate_id
),

final as (
    select
        certificate_id,
        person_id,
        enrollment_id,
        class_id,
        institution_code as payee_code,
        institution_name as payee_name,
        certificate_type,
        occupation_code,
        skill_rank,
        region_code,
        issue_date,
        issue_date as settlement_date,
        extract(year from issue_date)::integer as subsidy_year,
        rule_id,
        rule_version,
        source_clause,
        basis,
        reasons,
        {{ eligibility_and_amount('reasons', 'null::integer') }},
        source_batch_id,
        {{ subsidy_rules_digest() }} as rules_digest
    from assessed
)

select * from final
