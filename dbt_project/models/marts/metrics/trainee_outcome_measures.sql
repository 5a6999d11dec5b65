{#-
    Outcome measures by exit quarter (the quarter a training ended) and breakdown, after the US WIOA performance
    reports: employment in the 2nd and 4th quarter after exit, the median monthly contribution base in the 2nd
    quarter (an earnings proxy), credential attainment within a year. Every exiter counts, completed or dropped out;
    completion is a breakdown beside region and programme type. Each row has its numerator and denominator (final
    cases only: windows closed at the as-of date), the cases still pending and how many of them have evidence so far
    (a provisional figure, never mixed into the final one), the exclusions with their reason codes, the evidence
    behind the employed (contribution, registration), its as-of date and its status: final once no case is pending
    (docs/time.md).
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'case when breakdown = \'county\' then breakdown_value end'}) }}

{#- Each breakdown: its name, and the column it groups by (the province groups by nothing). -#}
{%- set breakdowns = {
    'city': 'city_code',
    'county': 'county_code',
    'program_type': 'program_type',
    'completion': 'completion_status',
} -%}

with

outcomes as (
    select * from {{ ref('int_training__quarterly_outcomes') }}
),

with_geography as (
    {{ located('outcomes', 'region_code') }}
),

-- One row per enrollment and measure: its status, the exclusion reason, the evidence and the value it carries.
cases as (
    select
        exit_quarter,
        as_of_date,
        region_code as county_code,
        city_code,
        program_type,
        completion_status,
        'employment_q2' as measure,
        second_quarter_end as window_end_date,
        second_quarter_evidence is not null as has_evidence,
        second_quarter_status as status,
        employment_exclusion as exclusion_reason,
        second_quarter_evidence as evidence,
        null::numeric as amount
    from with_geography
    union all
    select
        exit_quarter,
        as_of_date,
        region_code as county_code,
        city_code,
        program_type,
        completion_status,
        'employment_q4' as measure,
        fourth_quarter_end as window_end_date,
        fourth_quarter_evidence is not null as has_evidence,
        fourth_quarter_status as status,
        employment_exclusion as exclusion_reason,
        fourth_quarter_evidence as evidence,
        null::numeric as amount
    from with_geography
    union all
    -- Earnings of those employed in the 2nd quarter on contribution evidence (a registration carries no base).
    select
        exit_quarter,
        as_of_date,
        region_code as county_code,
        city_code,
        program_type,
        completion_status,
        'median_earnings_q2' as measure,
        second_quarter_end as window_end_date,
        second_quarter_contribution_base is not null as has_evidence,
        case
            when second_quarter_status = 'employed' and second_quarter_contribution_base is not null
                then 'employed'
            else second_quarter_status
        end as status,
        employment_exclusion as exclusion_reason,
        second_quarter_evidence as evidence,
        second_quarter_contribution_base as amount
    from with_geography
    where second_quarter_status <> 'employed' or second_quarter_contribution_base is not null
    union all
    select
        exit_quarter,
        as_of_date,
        region_code as county_code,
        city_code,
        program_type,
        completion_status,
        'credential_attainment' as measure,
        credential_window_end as window_end_date,
        first_credential_date is not null and credential_exclusion is null as has_evidence,
        credential_status as status,
        credential_exclusion as exclusion_reason,
        null::text as evidence,
        null::numeric as amount
    from with_geography
),

-- Every breakdown in one pass: a grouping set per breakdown (the province is the empty set), where a union of the
-- cases once per breakdown copied them five times over before they were counted.
{%- set grouping_sets = ['exit_quarter, measure'] %}
{%- for column in breakdowns.values() %}
    {%- do grouping_sets.append('exit_quarter, measure, ' ~ column) %}
{%- endfor %}
{%- set by_each_breakdown -%}
    group by grouping sets ({% for columns in grouping_sets %}({{ columns }}){{ ', ' if not loop.last }}{% endfor %})
{%- endset %}
{#- Which breakdown a grouping set's row is, and its value: the first breakdown column the set groups by. -#}
{%- set breakdown_of_set -%}
    case{% for breakdown, column in breakdowns.items() %} when grouping({{ column }}) = 0 then '{{ breakdown }}'{% endfor %} else 'province' end
{%- endset %}
{%- set breakdown_value_of_set -%}
    case{% for column in breakdowns.values() %} when grouping({{ column }}) = 0 then {{ column }}::text{% endfor %} else '140000' end
{%- endset %}

by_breakdown as (
    select
        exit_quarter,
        measure,
        {{ breakdown_of_set }} as breakdown,
        {{ breakdown_value_of_set }} as breakdown_value,
        max(as_of_date) as as_of_date,
        count(*) filter (where status in ('employed', 'attained')) as numerator,
        count(*) filter (where status in ('employed', 'attained', 'not_employed', 'not_attained')) as denominator,
        count(*) filter (where status = 'pending') as pending,
        count(*) filter (where status = 'pending' and has_evidence) as pending_with_evidence,
        count(*) filter (where status = 'excluded') as excluded,
        count(*) filter (
            where status = 'employed' and evidence in ('contribution', 'contribution_and_registration')
        ) as by_contribution,
        count(*) filter (
            where status = 'employed' and evidence in ('registration', 'contribution_and_registration')
        ) as by_registration,
        max(window_end_date) filter (where status <> 'excluded') as latest_window_end_date
    from cases
    {{ by_each_breakdown }}
),

-- The median only where there is an amount: an ordered-set aggregate sorts its group's rows, and the other measures'
-- cases carry none.
medians as (
    select
        exit_quarter,
        measure,
        {{ breakdown_of_set }} as breakdown,
        {{ breakdown_value_of_set }} as breakdown_value,
        percentile_cont(0.5) within group (order by amount) as median_amount
    from cases
    where status = 'employed' and amount is not null
    {{ by_each_breakdown }}
),

exclusion_counts as (
    select
        exit_quarter,
        measure,
        {{ breakdown_of_set }} as breakdown,
        {{ breakdown_value_of_set }} as breakdown_value,
        exclusion_reason,
        count(*) as cases_excluded
    from cases
    where status = 'excluded'
    group by grouping sets (
        {%- for columns in grouping_sets %}({{ columns }}, exclusion_reason){{ ', ' if not loop.last }}{% endfor %}
    )
),

exclusions as (
    select
        exit_quarter,
        measure,
        breakdown,
        breakdown_value,
        jsonb_object_agg(exclusion_reason, cases_excluded order by exclusion_reason) as exclusions
    from exclusion_counts
    group by exit_quarter, measure, breakdown, breakdown_value
),

final as (
    select
        by_breakdown.exit_quarter,
        by_breakdown.breakdown,
        by_breakdown.breakdown_value,
        by_breakdown.measure,
        by_breakdown.numerator,
        by_breakdown.denominator,
        by_breakdown.pending,
        by_breakdown.pending_with_evidence,
        by_breakdown.excluded,
        coalesce(exclusions.exclusions, '{}'::jsonb) as exclusions,
        by_breakdown.by_contribution,
        by_breakdown.by_registration,
        case
            when by_breakdown.measure = 'median_earnings_q2' then round(medians.median_amount::numeric, 2)
            else round(by_breakdown.numerator::numeric / nullif(by_breakdown.denominator, 0), 4)
        end as measure_value,
        case when by_breakdown.pending = 0 then 'final' else 'provisional' end as measure_status,
        by_breakdown.latest_window_end_date,
        by_breakdown.as_of_date
    from by_breakdown
    left join medians
        on
            by_breakdown.exit_quarter = medians.exit_quarter
            and by_breakdown.measure = medians.measure
            and by_breakdown.breakdown = medians.breakdown
            and by_breakdown.breakdown_value is not distinct from medians.breakdown_value
    left join exclusions
        on
            by_breakdown.exit_quarter = exclusions.exit_quarter
            and by_breakdown.measure = exclusions.measure
            and by_breakdown.breakdown = exclusions.breakdown
            and by_breakdown.breakdown_value is not distinct from exclusions.breakdown_value
)

select * from final
