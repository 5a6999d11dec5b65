{#-
    The e-voucher's closed loop (003 §五; 002 §(四)4), one row per voucher: each step's date and the record that
    closes it — the real-name training that used the voucher, the certificate it led to, the settlement line that
    claimed it and the approved run that wrote it off and paid it — and the anomalies an inspector should see, each
    a flag that risk_warnings turns into a warning with its evidence. As of the data date (docs/time.md): a voucher
    still valid on it is not "left unused" yet.
-#}
-- County analysts see the vouchers issued in their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

with

vouchers as (
    select
        *,
        coalesce(issued_date, applied_date) as admitted_on
    from {{ ref('int_vouchers__states') }}
),

enrollments as (
    select * from {{ ref('stg_training__enrollments') }}
    where voucher_id is not null
),

certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
    where is_valid
),

run_lines as (
    select * from {{ source('payments', 'settlement_run_lines') }}
),

runs as (
    select * from {{ source('payments', 'settlement_runs') }}
),

write_offs as (
    select * from {{ source('payments', 'voucher_write_offs') }}
),

subsidy_rules as (
    select * from {{ ref('int_subsidy__rules') }}
),

data_as_of as (
    select as_of_date from {{ ref('int_ingest__latest_data_date') }}
),

-- Whether the programme admits the holder: a programme the subsidy rules name admits the categories its rules in
-- force in the voucher's region on the day it was issued list (docs/policy.md, subsidy rules; 001 §二(四) names the
-- key groups of employment-skill training). A programme no rule names sets no condition to break.
programmes_with_rules as (
    select distinct unnest(string_to_array(program_types, ' ')) as program_type
    from subsidy_rules
    where subject = 'training'
),

admissions as (
    {{ match_subsidy_rule(
        'vouchers', 'voucher_id', 'training', 'admitted_on', 'region_code',
        {'program_types': 'program_type', 'trainee_categories': 'trainee_category'}
    ) }}
),

-- The real-name training that used the voucher: the earliest of the holder's; others carrying it are counted.
voucher_trainings as (
    select distinct on (vouchers.voucher_id)
        vouchers.voucher_id,
        enrollments.enrollment_id,
        enrollments.institution_code as training_institution_code,
        enrollments.occupation_code as training_occupation_code,
        enrollments.start_date as training_start_date,
        enrollments.end_date as training_end_date,
        enrollments.completion_status,
        count(*) over (partition by vouchers.voucher_id) as trainings_using_voucher
    from vouchers
    inner join enrollments
        on vouchers.voucher_id = enrollments.voucher_id
    order by vouchers.voucher_id asc, enrollments.start_date asc, enrollments.enrollment_id asc
),

-- The certificate the loop led to: the holder's first valid one in the voucher's occupation issued after the
-- training started.
voucher_certificates as (
    select distinct on (vouchers.voucher_id)
        vouchers.voucher_id,
        certificates.certificate_id,
        certificates.issue_date as certificate_issue_date
    from vouchers
    inner join voucher_trainings
        on vouchers.voucher_id = voucher_trainings.voucher_id
    inner join certificates
        on
            vouchers.person_id = certificates.person_id
            and vouchers.occupation_code = certificates.occupation_code
            and voucher_trainings.training_start_date <= certificates.issue_date
    order by vouchers.voucher_id asc, certificates.issue_date asc, certificates.certificate_id asc
),

-- The latest settlement line that claimed the voucher's training (a draft's or an approved run's).
voucher_claims as (
    select distinct on (voucher_trainings.voucher_id)
        voucher_trainings.voucher_id,
        run_lines.run_id as claim_run_id,
        runs.status as claim_run_status,
        run_lines.is_eligible as is_claim_eligible,
        run_lines.amount_yuan as claim_amount_yuan
    from voucher_trainings
    inner join run_lines
        on
            voucher_trainings.enrollment_id = run_lines.source_id
            and run_lines.line_kind = 'training'
    inner join runs
        on run_lines.run_id = runs.run_id
    where runs.status in ('draft', 'approved')
    order by voucher_trainings.voucher_id asc, (runs.status = 'approved') desc, run_lines.run_id desc
),

final as (
    select
        vouchers.voucher_id,
        vouchers.person_id,
        vouchers.region_code,
        vouchers.program_type,
        vouchers.trainee_category,
        vouchers.occupation_code,
        vouchers.institution_code,
        vouchers.amount_cap,
        vouchers.valid_until,
        vouchers.voucher_state,
        vouchers.applied_date,
        vouchers.issued_date,
        vouchers.started_date,
        vouchers.redeemed_date,
        vouchers.written_off_date,
        vouchers.expired_date,
        vouchers.cancelled_date,
        vouchers.write_off_events,
        voucher_trainings.enrollment_id,
        voucher_trainings.training_institution_code,
        voucher_trainings.training_occupation_code,
        voucher_trainings.training_start_date,
        voucher_trainings.training_end_date,
        voucher_trainings.completion_status,
        coalesce(voucher_trainings.trainings_using_voucher, 0) as trainings_using_voucher,
        voucher_certificates.certificate_id,
        voucher_certificates.certificate_issue_date,
        voucher_claims.claim_run_id,
        voucher_claims.claim_run_status,
        voucher_claims.is_claim_eligible,
        voucher_claims.claim_amount_yuan,
        write_offs.run_id as paid_by_run_id,
        write_offs.amount_yuan as paid_yuan,
        write_offs.written_off_at as settled_at,
        -- The loop is closed when the voucher was redeemed for a real-name training and a run paid it.
        vouchers.redeemed_date is not null
        and voucher_trainings.enrollment_id is not null
        and write_offs.voucher_id is not null as is_loop_closed,
        -- anomalies (risk_warnings)
        vouchers.redeemed_date is not null and voucher_trainings.enrollment_id is null
            as is_redeemed_without_training,
        coalesce(vouchers.institution_code <> voucher_trainings.training_institution_code, false)
            as is_institution_mismatch,
        coalesce(vouchers.occupation_code <> voucher_trainings.training_occupation_code, false)
            as is_occupation_mismatch,
        coalesce(vouchers.redeemed_date > vouchers.valid_until, false) as is_redeemed_after_expiry,
        vouchers.write_off_events > 1 as is_written_off_twice,
        vouchers.write_off_events > 0 and vouchers.redeemed_date is null as is_written_off_without_redemption,
        vouchers.issued_date is not null
        and exists (
            select from programmes_with_rules
            where programmes_with_rules.program_type in (vouchers.program_type, '*')
        )
        and (admissions.voucher_id is null or not admissions.is_rule_in_force) as is_not_admitted,
        vouchers.cancelled_date is null
        and vouchers.started_date is null
        and vouchers.redeemed_date is null
        and voucher_trainings.enrollment_id is null
        and coalesce(vouchers.valid_until < data_as_of.as_of_date, false) as is_left_unused,
        data_as_of.as_of_date,
        vouchers.last_batch_id
    from vouchers
    cross join data_as_of
    left join admissions
        on vouchers.voucher_id = admissions.voucher_id
    left join voucher_trainings
        on vouchers.voucher_id = voucher_trainings.voucher_id
    left join voucher_certificates
        on vouchers.voucher_id = voucher_certificates.voucher_id
    left join voucher_claims
        on vouchers.voucher_id = voucher_claims.voucher_id
    left join write_offs
        on vouchers.voucher_id = write_offs.voucher_id
)

select * from final
