-- The person spine: everyone any agency knows, with what the ID number may reveal outside the vault.
-- Incremental by person: a person's row depends on their ID number and on their being named by a staged record, so
-- a night writes only the persons its batches touched (last_batch_id: the newest batch of any of their staged
-- records, the watermark); a key rotation or a change to division_code_history needs `dbt build --full-refresh`.
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['person_id'], 'unique': true}, {'columns': ['last_batch_id']}],
        post_hook="{{ analyze_watermark('last_batch_id') }}",
    )
}}

{%- set watermark = incremental_watermark('last_batch_id') %}

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

-- Every staged record's person and batch (on a night, only the batches after the watermark).
staged_records as (
    {%- for staged in ['enrollments', 'contributions', 'registrations', 'certificates'] %}
        select
            person_id,
            batch_id
        from {{ staged }}
        where
            person_id is not null
            {%- if is_incremental() %}
                and batch_id > {{ watermark }}
            {%- endif %}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- Everyone the loader has pseudonymised and an agency's loaded records name, with the newest such batch.
known_people as (
    select
        person_id,
        max(batch_id) as last_batch_id
    from staged_records
    group by person_id
),

-- Birth date, gender and the division prefix are read from the ID here, inside the warehouse's own process:
-- only the derived values leave this model.
id_attributes as (
    select
        person_pseudonyms.person_id,
        {{ birth_date_from_id('person_pseudonyms.id_number') }} as birth_date,
        {{ gender_from_id('person_pseudonyms.id_number') }} as gender,
        left(person_pseudonyms.id_number, 6) as id_division_code
    from person_pseudonyms
    inner join known_people
        on person_pseudonyms.person_id = known_people.person_id
),

final as (
    select
        known_people.person_id,
        id_attributes.birth_date,
        extract(year from id_attributes.birth_date)::integer as birth_year,
        id_attributes.gender,
        id_attributes.id_division_code,
        coalesce(division_code_history.current_code, id_attributes.id_division_code) as home_region_code,
        known_people.last_batch_id
    from known_people
    inner join id_attributes
        on known_people.person_id = id_attributes.person_id
    left join division_code_history
        on id_attributes.id_division_code = division_code_history.historical_code
)

select * from final
