{#-
    目录清单, one row per catalogue entry (its latest version): each year's training-institution list (a row per
    licensed occupation), evaluation-institution list (a row per occupation filed for, with its filing number) and
    training-project catalogue. Small (thousands of rows a year): rebuilt whole each night.
-#}
{{ config(materialized='table') }}

with

entries as (
    select * from {{ source('catalogue', 'entries') }}
),

latest_entries as (
    {{ latest_version('entries', ['entry_id']) }}
),

final as (
    select
        entry_id,
        catalogue_year,
        entry_kind,
        institution_code,
        institution_name,
        region_code,
        occupation_code,
        occupation_name,
        program_type,
        subsidy_class,
        filing_number,
        valid_from,
        valid_to,
        updated_at,
        batch_id
    from latest_entries
)

select * from final
