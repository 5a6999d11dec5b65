{#-
    Institution credit (003 §七(四)), one row per institution and catalogue year: the score left after the
    deductions (seed credit_deductions) of the findings of this year and of the years before it within the repair
    period (credit_settings.repair_clean_years: a finding stops counting after that many years, 信用修复), and the
    grade its score reaches (seed credit_grades, each with its consequence). The years graded are those the
    institution is in a catalogue or trained in.
-#}
with

events as (
    select * from {{ ref('int_institutions__credit_events') }}
),

catalogue as (
    select * from {{ ref('stg_catalogue__entries') }}
    where entry_kind = 'training_institution'
),

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
),

deductions as (
    select * from {{ ref('credit_deductions') }}
),

grades as (
    select * from {{ ref('credit_grades') }}
),

settings as (
    select
        max(value) filter (where setting = 'starting_score') as starting_score,
        max(value) filter (where setting = 'repair_clean_years') as repair_clean_years
    from {{ ref('credit_settings') }}
),

institution_years as (
    select
        institution_code,
        catalogue_year as grade_year
    from catalogue
    union
    select
        institution_code,
        extract(year from start_date)::integer as grade_year
    from enrollments
),

-- Each rule's findings of a year deduct their points, up to the rule's yearly maximum.
scored_events as (
    select
        events.institution_code,
        events.event_year,
        events.warning_rule,
        count(*) as findings,
        least(count(*) * min(deductions.points), min(deductions.max_points)) as points,
        -- the first five as examples: an institution's findings of a rule can run to hundreds
        array_to_string((array_agg(events.evidence_id order by events.evidence_id))[1:5], ',')
        || case when count(*) > 5 then ',…' else '' end as evidence_ids
    from events
    inner join deductions
        on events.warning_rule = deductions.warning_rule
    group by events.institution_code, events.event_year, events.warning_rule
),

year_scores as (
    select
        institution_years.institution_code,
        institution_years.grade_year,
        min(settings.starting_score) as starting_score,
        coalesce(sum(scored_events.points) filter (
            where scored_events.event_year > institution_years.grade_year - settings.repair_clean_years
        ), 0) as deducted_points,
        coalesce(sum(scored_events.points) filter (
            where scored_events.event_year <= institution_years.grade_year - settings.repair_clean_years
        ), 0) as repaired_points,
        coalesce(sum(scored_events.findings) filter (
            where scored_events.event_year > institution_years.grade_year - settings.repair_clean_years
        ), 0) as counted_findings,
        coalesce(array_agg(
            format(
                '%s %s: %s finding(s), -%s (%s)', scored_events.event_year, scored_events.warning_rule,
                scored_events.findings, scored_events.points, scored_events.evidence_ids
            )
            order by scored_events.event_year, scored_events.warning_rule
        ) filter (
            where scored_events.event_year > institution_years.grade_year - settings.repair_clean_years
        ), '{}') as deductions
    from institution_years
    cross join settings
    left join scored_events
        on
            institution_years.institution_code = scored_events.institution_code
            and institution_years.grade_year >= scored_events.event_year
    group by institution_years.institution_code, institution_years.grade_year
),

final as (
    select distinct on (year_scores.institution_code, year_scores.grade_year)
        year_scores.institution_code,
        year_scores.grade_year,
        greatest(year_scores.starting_score - year_scores.deducted_points, 0) as credit_score,
        grades.credit_grade,
        grades.consequence,
        grades.consequence_label,
        grades.source_clause,
        year_scores.deducted_points,
        year_scores.counted_findings,
        year_scores.deductions,
        -- 信用修复: findings of earlier years no longer count against it
        year_scores.repaired_points > 0 as has_repaired_findings
    from year_scores
    inner join grades
        on greatest(year_scores.starting_score - year_scores.deducted_points, 0) >= grades.min_score
    order by year_scores.institution_code asc, year_scores.grade_year asc, grades.min_score desc
)

select * from final
