-- The person spine: everyone any agency knows, with what the ID number may reveal outside the vault.
with

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
),

contributions as (
    select * from {{ ref('stg_social_security__contributions') }}
),

registrations as (
    select * from {{ ref('stg_employment__registrations') }}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
),

person_pseudonyms as (
    {{ current_person_pseudonyms() }}
),

division_code_history as (
    select * from {{ ref('division_code_history') }}
),

-- Everyone the loader has pseudonymised, kept if any agency's loaded records name them. EXISTS probes the
-- staging tables' person indexes instead of scanning every contribution ever loaded each night.
known_person_ids as (
    select person_pseudonyms.person_id
    from person_pseudonyms
    where
        exists (
            select from enrollments
            where enrollments.person_id = person_pseudonyms.person_id
        )
        or exists (
            select from contributions
            where contributions.person_id = person_pseudonyms.person_id
        )
        or exists (
            select from registrations
            where registrations.person_id = person_pseudonyms.person_id
        )
        or exists (
            select from certificates
            where certificates.person_id = person_pseudonyms.person_id
        )
),

-- Birth date, gender and the division prefix are read from the ID here, inside the warehouse's own process:
-- only the derived values leave this model.
id_attributes as (
    select
        person_id,
        {{ birth_date_from_id('id_number') }} as birth_date,
        {{ gender_from_id('id_number') }} as gender,
        left(id_number, 6) as id_division_code
    from person_pseudonyms
),

final as (
    select
        known_person_ids.person_id,
        id_attributes.birth_date,
        extract(year from id_attributes.birth_date)::integer as birth_year,
        id_attributes.gender,
        id_attributes.id_division_code,
        coalesce(division_code_history.current_code, id_attributes.id_division_code) as home_region_code
    from known_person_ids
    inner join id_attributes
        on known_person_ids.person_id = id_attributes.person_id
    left join division_code_history
        on id_attributes.id_division_code = division_code_history.historical_code
)

select * from final
