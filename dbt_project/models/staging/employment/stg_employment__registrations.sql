with

registrations as (
    select * from {{ source('employment', 'registrations') }}
),

person_pseudonyms as (
    {{ current_person_pseudonyms() }}
),

latest_registrations as (
    {{ latest_version('registrations', ['registration_id']) }}
),

final as (
    select
        latest_registrations.registration_id,
        person_pseudonyms.person_id,
        latest_registrations.event_type,
        latest_registrations.employer_code,
        latest_registrations.region_code,
        latest_registrations.event_date,
        latest_registrations.monthly_income,
        latest_registrations.updated_at,
        latest_registrations.batch_id
    from latest_registrations
    left join person_pseudonyms
        on latest_registrations.id_number = person_pseudonyms.id_number
)

select * from final
