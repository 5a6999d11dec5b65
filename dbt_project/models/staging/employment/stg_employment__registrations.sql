{#-
    Incremental by registration_id: a night ranks every version of the keys its batches delivered (macro
    changed_key_versions) and replaces those keys' rows; the indexes serve the models downstream, which look the
    night's persons and batches up here instead of ranking every delivered version again.
-#}
{{
    config(
        materialized='incremental',
        unique_key='registration_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['registration_id'], 'unique': true}, {'columns': ['batch_id']}, {'columns': ['person_id']}],
    )
}}

with

registrations as (
    {{ changed_key_versions(source('employment', 'registrations'), 'registration_id') }}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

latest_registrations as (
    {{ latest_version('registrations', ['registration_id']) }}
),

stored_persons as (
    {{ stored_persons('registration_id') }}
),

final as (
    select
        latest_registrations.registration_id,
        {{ current_person_id('latest_registrations') }} as person_id,
        latest_registrations.event_type,
        latest_registrations.employer_code,
        latest_registrations.region_code,
        latest_registrations.event_date,
        latest_registrations.monthly_income,
        latest_registrations.updated_at,
        latest_registrations.batch_id,
        -- the person the stored row named, when this version names someone else (macro stored_persons)
        nullif(stored_persons.person_id, {{ current_person_id('latest_registrations') }}) as replaced_person_id
    from latest_registrations
    {{ join_pseudonym_links('latest_registrations') }}
    left join stored_persons
        on latest_registrations.registration_id = stored_persons.registration_id
)

select * from final
