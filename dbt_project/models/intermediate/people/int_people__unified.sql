-- The person spine: everyone any agency knows, with what the ID number may reveal outside the vault.
-- Incremental by person: a person's row depends on their ID number and on their being named by a staged record, so
-- a night rewrites only the persons its batches touched (persons_touched_after), and removes those no record names
-- any more (a corrected ID number moved their only record; strategy replace_touched_persons). last_batch_id is the
-- newest batch of any of their staged records, the watermark; a key rotation or a change to division_code_history
-- needs `dbt build --full-refresh`.
{{
    config(
        materialized='incremental',
        unique_key='person_id',
        incremental_strategy='replace_touched_persons',
        person_watermark='last_batch_id',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['person_id'], 'unique': true}, {'columns': ['last_batch_id']}],
        post_hook="{{ analyze_watermark('last_batch_id') }}",
    )
}}

{%- set watermark = incremental_watermark('last_batch_id') %}

with

-- not materialized: a night reads each twice (by batch and by replaced person), and PostgreSQL would otherwise copy
-- every staged record into the query's work space before the index lookups.
enrollments as not materialized (
    select * from {{ ref('stg_training__enrollments') }}
),

contributions as not materialized (
    select * from {{ ref('stg_social_security__contributions') }}
),

registrations as not materialized (
    select * from {{ ref('stg_employment__registrations') }}
),

certificates as not materialized (
    select * from {{ ref('stg_certificate__certificates') }}
),

person_pseudonyms as (
    {{ current_person_pseudonyms() }}
),

division_code_history as (
    select * from {{ ref('division_code_history') }}
),

{% if is_incremental() %}
    -- Persons a corrected record stopped naming tonight: their remaining records decide whether they stay.
    replaced_people as (
        {%- for staged in ['enrollments', 'registrations', 'certificates'] %}
            select replaced_person_id as person_id
            from {{ staged }}
            where batch_id > {{ watermark }} and replaced_person_id is not null
            {% if not loop.last %}union{% endif %}
        {%- endfor %}
    ),
{% endif %}

-- Every staged record's person and batch; on a night, those of the batches after the watermark, and every record of
-- the replaced persons (a union of two index lookups: an `or` would scan every contribution).
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
    {%- if is_incremental() %}
        {%- for staged in ['enrollments', 'contributions', 'registrations', 'certificates'] %}
            union all
            select
                {{ staged }}.person_id,
                {{ staged }}.batch_id
            from {{ staged }}
            inner join replaced_people
                on {{ staged }}.person_id = replaced_people.person_id
        {%- endfor %}
    {%- endif %}
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
