-- The person spine: everyone any agency knows, with what the ID number may reveal outside the vault (birth date,
-- gender, the division prefix: pseudonymised.person_attributes, recorded by the loader).
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

-- not materialized: a night reads it twice (by batch and by replaced person), and PostgreSQL would otherwise copy
-- every staged record into the query's work space before the index lookups.
record_batches as not materialized (
    select * from {{ ref('int_people__record_batches') }}
),

-- What the loader read from each ID number (pseudonymised.person_attributes): the ID number itself is not here.
person_attributes as (
    select * from {{ source('pseudonymised', 'person_attributes') }}
    where key_version = {{ var('pseudonym_key_version') }}
),

division_code_history as (
    select * from {{ ref('division_code_history') }}
),

{% if is_incremental() %}
    -- Persons a corrected record stopped naming tonight: their remaining records decide whether they stay.
    replaced_people as (
        select distinct person_id
        from record_batches
        where batch_id > {{ watermark }} and not is_named
    ),
{% endif %}

-- Every staged record's person and batch; on a night, those of the batches after the watermark, and every record of
-- the replaced persons (a union of two index lookups: an `or` would scan every contribution).
staged_records as (
    select
        person_id,
        batch_id
    from record_batches
    where
        is_named
        {%- if is_incremental() %}
            and batch_id > {{ watermark }}
        {%- endif %}
    {%- if is_incremental() %}
        union all
        select
            record_batches.person_id,
            record_batches.batch_id
        from record_batches
        inner join replaced_people
            on record_batches.person_id = replaced_people.person_id
        where record_batches.is_named
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

final as (
    select
        known_people.person_id,
        person_attributes.birth_date,
        extract(year from person_attributes.birth_date)::integer as birth_year,
        person_attributes.gender,
        person_attributes.id_division_code,
        coalesce(division_code_history.current_code, person_attributes.id_division_code) as home_region_code,
        known_people.last_batch_id
    from known_people
    inner join person_attributes
        on known_people.person_id = person_attributes.person_id
    left join division_code_history
        on person_attributes.id_division_code = division_code_history.historical_code
)

select * from final
