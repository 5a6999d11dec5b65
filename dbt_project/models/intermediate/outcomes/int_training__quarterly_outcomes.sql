{#-
    Outcome statuses per ended enrollment, after the US WIOA performance measures: employed in the 2nd and in the
    4th calendar quarter after the exit quarter, the 2nd quarter's contribution base, a credential within a year.
    Each measure is excluded (with its reason code), or pending until its window has closed at the as-of date (the
    latest loaded data date, not a clock), and only then final: employed / attained or not_employed / not_attained.

    A window closes at the end of its last day, so it is closed at an as-of date after that day (docs/time.md).
    Evidence that arrives while the window is open leaves the case pending: were early successes final at once and
    failures only at the window's end, every open cohort's rate over final cases would be biased upward. The
    evidence found so far is carried (`*_evidence`) so a provisional figure can be shown beside the final ones.

    A view over int_training__quarterly_evidence: the statuses move with the data's date alone (a quarter closing
    turns `pending` into a final status with no record changing), so they are computed when read, from evidence that
    is stored and kept incrementally.
-#}
{{ config(materialized='view') }}

{%- set quarters = ['second', 'fourth'] %}

with

evidence as (
    select * from {{ ref('int_training__quarterly_evidence') }}
),

data_as_of as (
    select * from {{ ref('int_ingest__latest_data_date') }}
),

final as (
    select
        evidence.enrollment_id,
        evidence.person_id,
        evidence.program_type,
        evidence.region_code,
        evidence.end_date,
        evidence.completion_status,
        evidence.exit_quarter,
        data_as_of.as_of_date,
        evidence.employment_exclusion,
        evidence.credential_exclusion,
        case when evidence.employment_exclusion is null then evidence.second_quarter_contribution_base end
            as second_quarter_contribution_base,
        {% for quarter in quarters %}
            evidence.{{ quarter }}_quarter_end,
            case
                when evidence.employment_exclusion is not null then 'excluded'
                when
                    data_as_of.as_of_date is null
                    or evidence.{{ quarter }}_quarter_end >= data_as_of.as_of_date
                    then 'pending'
                when
                    evidence.has_{{ quarter }}_quarter_contribution
                    or evidence.has_{{ quarter }}_quarter_registration
                    then 'employed'
                else 'not_employed'
            end as {{ quarter }}_quarter_status,
            -- the evidence found so far, final or not: what a provisional figure counts
            case
                when evidence.employment_exclusion is not null then null
                when
                    evidence.has_{{ quarter }}_quarter_contribution
                    and evidence.has_{{ quarter }}_quarter_registration
                    then 'contribution_and_registration'
                when evidence.has_{{ quarter }}_quarter_contribution then 'contribution'
                when evidence.has_{{ quarter }}_quarter_registration then 'registration'
            end as {{ quarter }}_quarter_evidence,
        {% endfor %}
        evidence.credential_window_end,
        case
            when evidence.credential_exclusion is not null then 'excluded'
            when data_as_of.as_of_date is null or evidence.credential_window_end >= data_as_of.as_of_date then 'pending'
            when evidence.first_credential_date is not null then 'attained'
            else 'not_attained'
        end as credential_status,
        evidence.first_credential_date
    from evidence
    cross join data_as_of
    where evidence.end_date is not null
)

select * from final
