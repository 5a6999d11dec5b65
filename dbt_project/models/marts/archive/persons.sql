-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql); the index
-- serves one-person lookups (the read API, archive exports).
{{
    config(
        meta={'county_filter': 'home_region_code'},
        indexes=[{'columns': ['person_id'], 'unique': true}],
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='replace_touched_persons',
        person_watermark='last_batch_id',
        on_schema_change='fail',
    )
}}

-- 劳动者终身职业技能培训电子档案: one row per person, with the whole timeline as a versioned JSON document.
-- Incremental by person, after person_events: a night rebuilds the persons whose staged records a batch after the
-- watermark carries (the persons person_events rebuilt; last_batch_id is the highest source batch of a person's
-- events), the newly known among them, and removes those nothing names any more (strategy replace_touched_persons);
-- `dbt build --full-refresh` rebuilds everyone.
-- depends_on: {{ ref('int_people__record_batches') }}
with

{% if is_incremental() %}
    touched_people as (
        {{ persons_touched_after(incremental_watermark('last_batch_id')) }}
    ),
{% endif %}

people as (
    select * from {{ ref('int_people__unified') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

events as (
    select * from {{ ref('person_events') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

awards as (
    select * from {{ ref('stg_competition__awards') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

skill_levels as (
    select * from {{ ref('skill_levels') }}
),

-- The highest level a valid certificate gives, or a competition's level promotion (002 §(十一)).
highest_levels as (
    select
        person_id,
        max(skill_rank) as highest_skill_rank
    from (
        select
            person_id,
            skill_rank
        from certificates
        where is_valid and skill_rank is not null
        union all
        select
            person_id,
            promoted_skill_rank as skill_rank
        from awards
        where promoted_skill_rank is not null
    ) as attained
    group by person_id
),

event_summaries as (
    select
        person_id,
        count(*) filter (where event_type = 'training') as trainings,
        count(*) filter (
            where event_type = 'training' and details ->> 'completion_status' = 'completed'
        ) as completed_trainings,
        count(*) filter (where event_type = 'certificate' and details ->> 'status' = 'valid') as valid_certificates,
        count(*) filter (where event_type = 'employment_spell') as employment_spells,
        min(event_date) as first_activity_date,
        max(coalesce(end_date, event_date)) as last_activity_date,
        max(updated_at) as updated_at,
        max(source_batch_id) as last_batch_id,
        jsonb_agg(
            jsonb_build_object(
                'event_id', event_id, 'event_type', event_type, 'event_date', event_date,
                'end_date', end_date, 'region_code', region_code, 'details', details
            )
            order by event_date, event_id
        ) as events
    from events
    group by person_id
),

final as (
    select
        people.person_id,
        people.birth_year,
        people.gender,
        people.home_region_code,
        highest_levels.highest_skill_rank,
        skill_levels.level_name as highest_skill_level,
        coalesce(skill_levels.is_high_skilled, false) as is_high_skilled,
        coalesce(event_summaries.trainings, 0) as trainings,
        coalesce(event_summaries.completed_trainings, 0) as completed_trainings,
        coalesce(event_summaries.valid_certificates, 0) as valid_certificates,
        coalesce(event_summaries.employment_spells, 0) as employment_spells,
        event_summaries.first_activity_date,
        event_summaries.last_activity_date,
        jsonb_build_object(
            'schema_version', 1,
            'person_id', people.person_id,
            'events', coalesce(event_summaries.events, '[]'::jsonb)
        ) as timeline,
        event_summaries.updated_at,
        event_summaries.last_batch_id
    from people
    left join highest_levels
        on people.person_id = highest_levels.person_id
    left join skill_levels
        on highest_levels.highest_skill_rank = skill_levels.skill_rank
    left join event_summaries
        on people.person_id = event_summaries.person_id
)

select * from final
