{{ config(materialized='view') }}

-- Every target the reports compare against: the policy documents' own (the `targets` seed, each citing its clause)
-- and those a bureau imported for years and regions the documents do not cover (ingest.imported_targets, written by
-- `skills-pipeline targets import`, which refuses a row the documents already set; the anti-join below keeps the
-- documents' word should one get in by another way). program_types is the target's scope: the programme types whose
-- trainings count, '|'-separated; empty for every type, or where the indicator counts no trainings.
with

documented as (
    select * from {{ ref('targets') }}
),

imported as (
    select * from {{ source('ingest', 'imported_targets') }}
),

from_documents as (
    select
        region_code,
        indicator,
        period_start,
        period_end,
        target_value,
        coalesce(program_types, '') as program_types,
        source,
        'document' as origin
    from documented
),

from_imports as (
    select
        imported.region_code,
        imported.indicator,
        imported.period_start,
        imported.period_end,
        imported.target_value,
        imported.program_types,
        imported.source,
        'import' as origin
    from imported
    where not exists (
            select
            from documented
            where
                documented.region_code = imported.region_code
                and documented.indicator = imported.indicator
                and daterange(documented.period_start, documented.period_end, '[]')
                && daterange(imported.period_start, imported.period_end, '[]')
        )
),

final as (
    select * from from_documents
    union all
    select * from from_imports
)

select * from final
