{#-
    Institution credit grades (003 §七(四)) as of each data date: a night adds the grades as of its data date and
    keeps those of the dates before, so a past decision (a claim held for review, a catalogue proposal) can be
    explained by the grade in force when it was made. A rebuild of the same data date replaces that date's rows;
    no other date's are touched, and a --full-refresh leaves the history alone (full_refresh=false). A year's grade
    is provisional until the year has ended.
-#}
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date'],
        incremental_strategy='delete+insert',
        full_refresh=false,
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date']}],
    )
}}

with

scores as (
    select * from {{ ref('int_institutions__credit_scores') }}
),

data_as_of as (
    select as_of_date from {{ ref('int_ingest__latest_data_date') }}
),

final as (
    select
        scores.institution_code,
        scores.grade_year,
        data_as_of.as_of_date,
        case when data_as_of.as_of_date > make_date(scores.grade_year, 12, 31) then 'final' else 'provisional' end
            as grade_status,
        scores.credit_score,
        scores.credit_grade,
        scores.consequence,
        scores.consequence_label,
        scores.source_clause,
        scores.consequence = 'review_claims' as are_claims_held_for_review,
        scores.consequence <> 'off_next_catalogue' as is_proposed_for_next_catalogue,
        scores.deducted_points,
        scores.counted_findings,
        scores.deductions,
        scores.has_repaired_findings
    from scores
    cross join data_as_of
    where data_as_of.as_of_date is not null
)

select * from final
