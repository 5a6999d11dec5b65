{#-
    Incremental by certificate_id: a night ranks every version of the keys its batches delivered (macro
    changed_key_versions) and replaces those keys' rows; the indexes serve the models downstream, which look the
    night's persons and batches up here instead of ranking every delivered version again.
-#}
{{
    config(
        materialized='incremental',
        unique_key='certificate_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['certificate_id'], 'unique': true}, {'columns': ['batch_id']}, {'columns': ['person_id']}],
    )
}}

with

certificates as (
    {{ changed_key_versions(source('certificate', 'certificates'), 'certificate_id') }}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

skill_level_spellings as (
    select * from {{ ref('skill_level_spellings') }}
),

-- first_issue_date: the earliest issue date any delivered version gave the certificate, computed over the versions
-- the latest_version ranking reads anyway: the first month a correction of it can change (a corrected issue date
-- or holder changes the months from the old date on; metrics.skilled_talent_shares rebuilds from there).
versions as (
    select
        *,
        min(issue_date) over (partition by certificate_id) as first_issue_date
    from certificates
),

latest_certificates as (
    {{ latest_version('versions', ['certificate_id']) }}
),

stored_persons as (
    {{ stored_persons('certificate_id') }}
),

final as (
    select
        latest_certificates.certificate_id,
        {{ current_person_id('latest_certificates') }} as person_id,
        latest_certificates.certificate_type,
        latest_certificates.occupation_code,
        latest_certificates.occupation_name,
        skill_level_spellings.skill_rank,
        latest_certificates.issue_date,
        latest_certificates.first_issue_date,
        latest_certificates.issuer_code,
        latest_certificates.region_code,
        latest_certificates.status,
        latest_certificates.status = 'valid' as is_valid,
        latest_certificates.updated_at,
        latest_certificates.batch_id,
        -- the person the stored row named, when this version names someone else (macro stored_persons)
        nullif(stored_persons.person_id, {{ current_person_id('latest_certificates') }}) as replaced_person_id
    from latest_certificates
    {{ join_pseudonym_links('latest_certificates') }}
    left join stored_persons
        on latest_certificates.certificate_id = stored_persons.certificate_id
    left join skill_level_spellings
        on latest_certificates.skill_level = skill_level_spellings.spelling
)

select * from final
