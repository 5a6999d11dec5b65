{#-
    Incremental by enrollment_id: a night ranks every version of the keys its batches delivered (macro
    changed_key_versions) and replaces those keys' rows; the indexes serve the models downstream, which look the
    night's persons and batches up here instead of ranking every delivered version again.
-#}
{{
    config(
        materialized='incremental',
        unique_key='enrollment_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['enrollment_id'], 'unique': true}, {'columns': ['batch_id']}, {'columns': ['person_id']}],
    )
}}

with

enrollments as (
    {{ changed_key_versions(source('training', 'enrollments'), 'enrollment_id') }}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

skill_level_spellings as (
    select * from {{ ref('skill_level_spellings') }}
),

latest_enrollments as (
    {{ latest_version('enrollments', ['enrollment_id']) }}
),

stored_persons as (
    {{ stored_persons('enrollment_id') }}
),

final as (
    select
        latest_enrollments.enrollment_id,
        latest_enrollments.class_id,
        {{ current_person_id('latest_enrollments') }} as person_id,
        latest_enrollments.institution_code,
        latest_enrollments.institution_name,
        latest_enrollments.program_type,
        latest_enrollments.trainee_category,
        latest_enrollments.occupation_code,
        skill_level_spellings.skill_rank,
        latest_enrollments.start_date,
        latest_enrollments.end_date,
        latest_enrollments.training_days,
        latest_enrollments.completion_status,
        latest_enrollments.region_code,
        latest_enrollments.voucher_id,
        latest_enrollments.updated_at,
        latest_enrollments.batch_id,
        -- the person the stored row named, when this version names someone else (macro stored_persons)
        nullif(stored_persons.person_id, {{ current_person_id('latest_enrollments') }}) as replaced_person_id
    from latest_enrollments
    {{ join_pseudonym_links('latest_enrollments') }}
    left join stored_persons
        on latest_enrollments.enrollment_id = stored_persons.enrollment_id
    left join skill_level_spellings
        on latest_enrollments.skill_level = skill_level_spellings.spelling
)

select * from final
