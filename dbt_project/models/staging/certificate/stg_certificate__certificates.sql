with

certificates as (
    select * from {{ source('certificate', 'certificates') }}
),

person_pseudonyms as (
    {{ current_person_pseudonyms() }}
),

skill_level_spellings as (
    select * from {{ ref('skill_level_spellings') }}
),

latest_certificates as (
    {{ latest_version('certificates', ['certificate_id']) }}
),

final as (
    select
        latest_certificates.certificate_id,
        person_pseudonyms.person_id,
        latest_certificates.certificate_type,
        latest_certificates.occupation_code,
        latest_certificates.occupation_name,
        skill_level_spellings.skill_rank,
        latest_certificates.issue_date,
        latest_certificates.issuer_code,
        latest_certificates.region_code,
        latest_certificates.status,
        latest_certificates.status = 'valid' as is_valid,
        latest_certificates.updated_at,
        latest_certificates.batch_id
    from latest_certificates
    left join person_pseudonyms
        on latest_certificates.id_number = person_pseudonyms.id_number
    left join skill_level_spellings
        on latest_certificates.skill_level = skill_level_spellings.spelling
)

select * from final
