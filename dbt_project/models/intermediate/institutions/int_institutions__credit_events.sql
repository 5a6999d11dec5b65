-- What counts against an institution's credit (003 §七(四)), one row per finding with its year: the e-voucher
-- anomalies of the vouchers used with it, its classes trained outside the year's catalogue or licence, and its
-- classes whose employment evidence a checker distrusts. The points each deducts are in seed credit_deductions.
with

voucher_loop as (
    select * from {{ ref('voucher_loop') }}
),

enrollments as (
    select * from {{ ref('settlement_enrollments') }}
),

warnings as (
    select * from {{ ref('risk_warnings') }}
),

voucher_findings as (
    select
        coalesce(voucher_loop.institution_code, voucher_loop.training_institution_code) as institution_code,
        extract(year from coalesce(voucher_loop.redeemed_date, voucher_loop.started_date))::integer as event_year,
        finding.warning_rule,
        voucher_loop.voucher_id as evidence_id
    from voucher_loop
    cross join
        lateral (
            values
            ('voucher_redeemed_without_training', voucher_loop.is_redeemed_without_training),
            ('voucher_institution_mismatch', voucher_loop.is_institution_mismatch),
            ('voucher_redeemed_after_expiry', voucher_loop.is_redeemed_after_expiry),
            ('voucher_written_off_twice', voucher_loop.is_written_off_twice)
        ) as finding (warning_rule, is_found)
    where finding.is_found
),

-- A class outside the catalogue or its licence counts once, however many trainees it had.
catalogue_findings as (
    select distinct
        enrollments.payee_code as institution_code,
        extract(year from enrollments.start_date)::integer as event_year,
        'outside_catalogue' as warning_rule,
        enrollments.class_id as evidence_id
    from enrollments
    where exists (
            select from unnest(enrollments.reasons) as reason
            where reason like 'outside_catalogue:%' or reason like 'outside_licence:%'
        )
),

class_years as (
    select
        class_id,
        extract(year from min(end_date))::integer as class_year
    from enrollments
    group by class_id
),

class_findings as (
    select
        warnings.institution_code,
        class_years.class_year as event_year,
        warnings.warning_rule,
        warnings.class_id as evidence_id
    from warnings
    inner join class_years
        on warnings.class_id = class_years.class_id
    where warnings.warning_rule = 'doubtful_class_employment'
),

final as (
    select * from voucher_findings
    where institution_code is not null and event_year is not null
    union all
    select * from catalogue_findings
    union all
    select * from class_findings
)

select * from final
