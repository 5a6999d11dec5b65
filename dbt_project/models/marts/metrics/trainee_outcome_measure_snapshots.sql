{#-
    Every night's outcome measures, kept under the data date they were computed on: a report of a past period is
    regenerated from the snapshot of its date, exactly as it was issued, however the data have been corrected since.
    A rebuild of the same data date replaces that date's rows (idempotent); no other date's rows are touched, and a
    --full-refresh leaves the history alone (full_refresh=false). Each row keeps the status it had at its as-of date
    (final or provisional), so a past report shows a figure as final exactly when it was. Columns added later are
    appended (older snapshots hold null in them).
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date'],
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
        meta={'county_filter': 'case when breakdown = \'county\' then breakdown_value end'},
    )
}}

with

measures as (
    select * from {{ ref('trainee_outcome_measures') }}
),

final as (
    select
        as_of_date,
        exit_quarter,
        breakdown,
        breakdown_value,
        measure,
        numerator,
        denominator,
        pending,
        excluded,
        exclusions,
        by_contribution,
        by_registration,
        measure_value,
        pending_with_evidence,
        measure_status,
        latest_window_end_date
    from measures
    where as_of_date is not null
)

select * from final
