{#-
    Outcome statuses per ended enrollment, after the US WIOA performance measures: employed in the 2nd and in the
    4th calendar quarter after the exit quarter, the 2nd quarter's contribution base, a credential within a year.
    Each measure is excluded (with its reason code), employed / attained, not_employed / not_attained, or pending
    while its period is still open at the data's date (the latest loaded data date, not a clock).

    A view over int_training__quarterly_evidence: the statuses move with the data's date alone (a quarter closing
    turns `pending` into `not_employed` with no record changing), so they are computed when read, from evidence that
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
        evidence.exit_quarter,
        data_as_of.as_of_date,
        evidence.employment_exclusion,
        evidence.credential_exclusion,
        case when evidence.employment_exclusion is null then evidence.second_quarter_contribution_base end
            as second_quarter_contribution_base,
        {% for quarter in quarters %}
            case
                when evidence.employment_exclusion is not null then 'excluded'
                when
                    evidence.has_{{ quarter }}_quarter_contribution
                    or evidence.has_{{ quarter }}_quarter_registration
                    then 'employed'
                when
                    data_as_of.as_of_date is null
                    or evidence.{{ quarter }}_quarter_end >= data_as_of.as_of_date
                    then 'pending'
                else 'not_employed'
            end as {{ quarter }}_quarter_status,
            case
                when evidence.employment_exclusion is not null then null
                when
                    evidence.has_{{ quarter }}_quarter_contribution
                    and evidence.has_{{ quarter }}_quarter_registration
                    then 'contribution_and_registration'
                when evidence.has_{{ quarter }}_quarter_contribution then 'contribution'
                when evidence.has_{{ quarter }}_quarter_registration then 'registration'
                when
                    data_as_of.as_of_date is null
                    or evidence.{{ quarter }}_quarter_end >= data_as_of.as_of_date
                    then 'pending'
            end as {{ quarter }}_quarter_evidence,
        {% endfor %}
        case
            when evidence.credential_exclusion is not null then 'excluded'
            when evidence.first_credential_date is not null then 'attained'
            when data_as_of.as_of_date is null or evidence.credential_window_end >= data_as_of.as_of_date then 'pending'
            else 'not_attained'
        end as credential_status,
        evidence.first_credential_date
    from evidence
    cross join data_as_of
    where evidence.end_date is not null
)

select * from final
