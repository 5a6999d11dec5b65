{#-
    高技能人才库 (002 §(十)): one row per high-skilled person and occupation, at the highest level reached in it —
    by a valid certificate, or by a competition's level promotion (002 §(十一)) — with its evidence. Counties see
    their own residents (row-level security on the person's home region).
-#}
{{ config(meta={'county_filter': 'region_code'}, indexes=[{'columns': ['region_code', 'occupation_code']}]) }}

with

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
    where is_valid and skill_rank is not null
),

awards as (
    select * from {{ ref('stg_competition__awards') }}
    where promoted_skill_rank is not null
),

people as (
    select * from {{ ref('int_people__unified') }}
),

skill_levels as (
    select * from {{ ref('skill_levels') }}
),

occupations as (
    select * from {{ ref('occupations') }}
),

attainments as (
    select
        person_id,
        occupation_code,
        skill_rank,
        issue_date as attained_date,
        'certificate' as evidence_kind,
        certificate_id as evidence_id
    from certificates
    union all
    select
        person_id,
        occupation_code,
        promoted_skill_rank as skill_rank,
        award_date as attained_date,
        'competition' as evidence_kind,
        award_id as evidence_id
    from awards
),

highest as (
    select distinct on (attainments.person_id, attainments.occupation_code) attainments.*
    from attainments
    inner join skill_levels
        on attainments.skill_rank = skill_levels.skill_rank
    where skill_levels.is_high_skilled and attainments.person_id is not null
    order by
        attainments.person_id asc, attainments.occupation_code asc, attainments.skill_rank desc,
        attainments.attained_date asc, attainments.evidence_id asc
),

final as (
    select
        highest.person_id,
        people.home_region_code as region_code,
        highest.occupation_code,
        occupations.occupation_name,
        highest.skill_rank,
        skill_levels.level_name,
        highest.attained_date,
        highest.evidence_kind,
        highest.evidence_id
    from highest
    inner join people
        on highest.person_id = people.person_id
    inner join skill_levels
        on highest.skill_rank = skill_levels.skill_rank
    left join occupations
        on highest.occupation_code = occupations.occupation_code
)

select * from final
