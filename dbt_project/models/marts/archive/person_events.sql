-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql); the index
-- serves one-person lookups (the read API, archive exports).
{{
    config(
        meta={'county_filter': 'region_code'},
        indexes=[{'columns': ['person_id']}, {'columns': ['source_batch_id'], 'type': 'brin'}],
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='replace_touched_persons',
        person_watermark='source_batch_id',
        on_schema_change='fail',
    )
}}

-- One row per archive event (training, certificate, employment spell, registration) for downstream systems to
-- consume incrementally by updated_at.
-- Incremental by person: a night rebuilds the events of the persons that a batch loaded since the last build
-- touched (source_batch_id above the table's highest), every event of each, and leaves everyone else's as they
-- are; a person no record names any more loses their events (strategy replace_touched_persons). A change no batch
-- carries (a seed such as the minimum living standards, a key rotation) needs `dbt build --full-refresh`.
-- depends_on: {{ ref('int_people__record_batches') }}
with

{% if is_incremental() %}
    touched_people as (
        {{ persons_touched_after(incremental_watermark('source_batch_id')) }}
    ),
{% endif %}

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
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

registrations as (
    select * from {{ ref('stg_employment__registrations') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

-- Names beside codes: an institution's as the latest catalogue gives it, an occupation's as the classification.
institution_names as (
    select distinct on (institution_code)
        institution_code,
        institution_name
    from {{ ref('stg_catalogue__entries') }}
    where institution_code is not null and institution_name is not null
    order by institution_code asc, catalogue_year desc, updated_at desc
),

occupation_names as (
    select * from {{ ref('occupations') }}
),

employment_months as (
    select * from {{ ref('int_employment__qualifying_months') }}
    {% if is_incremental() %}
        where person_id in (select person_id from touched_people)
    {% endif %}
),

-- The newest update and batch of each person's contributions per employer, kept incrementally (reading every
-- contribution of each touched person made the night grow with history). Not filtered to the touched persons: it
-- is only joined to their spells, and unfiltered it is a plain table the join can reach by its unique index. Filtered,
-- one 1 M-people night planned person_events' select at 13 s that ran in 0.8 s on the same data afterwards (the
-- plan was not captured; a semi-join re-run per spell would explain it).
contribution_updates as (
    select * from {{ ref('int_employment__employer_contribution_updates') }}
),

-- Consecutive qualifying months with the same employer form one spell (gaps and islands).
numbered_months as (
    select
        person_id,
        coalesce(employer_code, '') as employer_code,
        region_code,
        employment_month,
        last_batch_id,
        (extract(year from employment_month) * 12 + extract(month from employment_month))::integer
        - row_number() over (
            partition by person_id, coalesce(employer_code, '') order by employment_month
        )::integer as island
    from employment_months
),

-- A registered employment (就业、灵活就业、创业登记) ends at the person's first later registration that ends it: an
-- unemployment registration, or the end of that job (终止就业 naming its employer, or naming none).
registration_ends as (
    select distinct on (started.registration_id)
        started.registration_id,
        ended.event_date as end_date,
        ended.batch_id as last_batch_id,
        ended.updated_at
    from registrations as started
    inner join registrations as ended
        on
            started.person_id = ended.person_id
            and started.registration_id <> ended.registration_id
            and started.event_date <= ended.event_date
            and (
                ended.event_type = 'unemployment'
                or (
                    ended.event_type = 'employment_end'
                    and (ended.employer_code is null or started.employer_code = ended.employer_code)
                )
            )
    where started.event_type in ('employment', 'flexible_employment', 'entrepreneurship')
    order by started.registration_id asc, ended.event_date asc, ended.registration_id asc
),

employment_spells as (
    select
        numbered_months.person_id,
        numbered_months.employer_code,
        min(numbered_months.region_code) as region_code,
        min(numbered_months.employment_month) as start_date,
        (max(numbered_months.employment_month) + interval '1 month - 1 day')::date as end_date,
        count(*) as months,
        max(numbered_months.last_batch_id) as last_batch_id
    from numbered_months
    group by numbered_months.person_id, numbered_months.employer_code, numbered_months.island
),

events as (
    select
        'training:' || enrollments.enrollment_id as event_id,
        enrollments.person_id,
        'training' as event_type,
        enrollments.start_date as event_date,
        enrollments.end_date,
        enrollments.region_code,
        jsonb_build_object(
            'enrollment_id', enrollments.enrollment_id, 'class_id', enrollments.class_id,
            'institution_code', enrollments.institution_code,
            'institution_name', coalesce(institution_names.institution_name, enrollments.institution_name),
            'program_type', enrollments.program_type, 'trainee_category', enrollments.trainee_category,
            'occupation_code', enrollments.occupation_code, 'occupation_name', occupation_names.occupation_name,
            'skill_rank', enrollments.skill_rank, 'training_days', enrollments.training_days,
            'completion_status', enrollments.completion_status, 'voucher_id', enrollments.voucher_id
        ) as details,
        enrollments.updated_at,
        enrollments.batch_id as source_batch_id
    from enrollments
    left join institution_names
        on enrollments.institution_code = institution_names.institution_code
    left join occupation_names
        on enrollments.occupation_code = occupation_names.occupation_code

    union all

    select
        'certificate:' || certificates.certificate_id as event_id,
        certificates.person_id,
        'certificate' as event_type,
        certificates.issue_date as event_date,
        null::date as end_date,
        certificates.region_code,
        jsonb_build_object(
            'certificate_id', certificates.certificate_id, 'certificate_type', certificates.certificate_type,
            'occupation_code', certificates.occupation_code, 'occupation_name', certificates.occupation_name,
            'skill_rank', certificates.skill_rank, 'issuer_code', certificates.issuer_code,
            'issuer_name', institution_names.institution_name, 'status', certificates.status
        ) as details,
        certificates.updated_at,
        certificates.batch_id as source_batch_id
    from certificates
    left join institution_names
        on certificates.issuer_code = institution_names.institution_code

    union all

    select
        'competition:' || awards.award_id as event_id,
        awards.person_id,
        'competition' as event_type,
        awards.award_date as event_date,
        null::date as end_date,
        awards.region_code,
        jsonb_build_object(
            'award_id', awards.award_id, 'competition_name', awards.competition_name, 'tier', awards.tier,
            'occupation_code', awards.occupation_code, 'occupation_name', occupation_names.occupation_name,
            'award', awards.award, 'place', awards.place, 'honour', awards.honour,
            'promoted_skill_rank', awards.promoted_skill_rank
        ) as details,
        awards.updated_at,
        awards.batch_id as source_batch_id
    from awards
    left join occupation_names
        on awards.occupation_code = occupation_names.occupation_code

    union all

    select
        'registration:' || registrations.registration_id as event_id,
        registrations.person_id,
        'registration' as event_type,
        registrations.event_date,
        registration_ends.end_date,
        registrations.region_code,
        jsonb_build_object(
            'registration_id', registrations.registration_id, 'event_type', registrations.event_type,
            'employer_code', registrations.employer_code, 'monthly_income', registrations.monthly_income
        ) as details,
        greatest(registrations.updated_at, registration_ends.updated_at) as updated_at,
        greatest(registrations.batch_id, registration_ends.last_batch_id) as source_batch_id
    from registrations
    left join registration_ends
        on registrations.registration_id = registration_ends.registration_id

    union all

    select
        'employment_spell:' || md5(
            employment_spells.person_id || ':' || employment_spells.employer_code || ':'
            || employment_spells.start_date::text
        ) as event_id,
        employment_spells.person_id,
        'employment_spell' as event_type,
        employment_spells.start_date as event_date,
        employment_spells.end_date,
        employment_spells.region_code,
        jsonb_build_object(
            'employer_code', nullif(employment_spells.employer_code, ''), 'months', employment_spells.months
        ) as details,
        coalesce(contribution_updates.updated_at, employment_spells.end_date::timestamptz) as updated_at,
        greatest(employment_spells.last_batch_id, contribution_updates.last_batch_id) as source_batch_id
    from employment_spells
    left join contribution_updates
        on
            employment_spells.person_id = contribution_updates.person_id
            and employment_spells.employer_code = contribution_updates.employer_code
),

final as (
    select * from events
    where person_id is not null
)

select * from final
