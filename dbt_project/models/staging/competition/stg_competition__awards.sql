{#-
    职业技能竞赛获奖, one row per award (its latest version), incremental by award_id like the certificates.
-#}
{{
    config(
        materialized='incremental',
        unique_key='award_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['award_id'], 'unique': true}, {'columns': ['batch_id']}, {'columns': ['person_id']}],
    )
}}

with

awards as (
    {{ changed_key_versions(source('competition', 'awards'), 'award_id') }}
),

pseudonym_links as (
    {{ pseudonym_links() }}
),

skill_level_spellings as (
    select * from {{ ref('skill_level_spellings') }}
),

latest_awards as (
    {{ latest_version('awards', ['award_id']) }}
),

stored_persons as (
    {{ stored_persons('award_id') }}
),

final as (
    select
        latest_awards.award_id,
        {{ current_person_id('latest_awards') }} as person_id,
        latest_awards.competition_name,
        latest_awards.tier,
        latest_awards.occupation_code,
        latest_awards.award,
        latest_awards.place,
        latest_awards.honour,
        skill_level_spellings.skill_rank as promoted_skill_rank,
        latest_awards.award_date,
        latest_awards.region_code,
        latest_awards.updated_at,
        latest_awards.batch_id,
        nullif(stored_persons.person_id, {{ current_person_id('latest_awards') }}) as replaced_person_id
    from latest_awards
    {{ join_pseudonym_links('latest_awards') }}
    left join stored_persons
        on latest_awards.award_id = stored_persons.award_id
    left join skill_level_spellings
        on latest_awards.promoted_level = skill_level_spellings.spelling
)

select * from final
