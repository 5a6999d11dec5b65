{#-
    Risk warnings the documents ask for (docs/policy.md, risk warnings; 001 §三(九), 002 §(四)4): one row per finding, naming its
    rule, the person pseudonym / class / institution concerned and the evidence rows (table and keys). A warning is
    a lead for an inspector, not a refusal: settlement refuses on the rules alone.
-#}
with

enrollments as (
    select * from {{ ref('settlement_enrollments') }}
),

certificates as (
    select * from {{ ref('settlement_certificates') }}
),

class_rates as (
    select * from {{ ref('class_employment_rates') }}
),

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
),

-- Read for the evidence of the few trainings flagged below, never whole.
contributions as (
    select * from {{ ref('stg_social_security__contributions') }}
),

insurance_types as (
    select * from {{ ref('insurance_types') }}
),

voucher_loop as (
    select * from {{ ref('voucher_loop') }}
),

catalogue as (
    select * from {{ ref('stg_catalogue__entries') }}
),

issued_certificates as (
    select * from {{ ref('stg_certificate__certificates') }}
    where is_valid
),

thresholds as (
    select
        {{ pipeline_setting('max_subsidised_trainings_per_year', 'integer') }} as yearly_trainings,
        {{ pipeline_setting('warning_class_evidence_share', 'numeric') }} as class_evidence_share
),

over_annual_limit as (
    select
        'over_annual_limit' as warning_rule,
        '001 §二(六)' as source_clause,
        enrollments.person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '%s 次可补贴培训开始于 %s 年，每年最多 %s 次',
            count(*), extract(year from enrollments.start_date), min(thresholds.yearly_trainings)
        ) as detail,
        'settlement_enrollments' as evidence_table,
        array_agg(enrollments.enrollment_id order by enrollments.start_date, enrollments.enrollment_id)
            as evidence_ids
    from enrollments
    cross join thresholds
    where enrollments.is_payable_before_limits
    group by enrollments.person_id, extract(year from enrollments.start_date)
    having count(*) > min(thresholds.yearly_trainings)
),

repeated_occupation_level as (
    select
        'repeated_occupation_level' as warning_rule,
        '001 §二(六)' as source_clause,
        person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '职业（工种）%s 等级 %s 的培训可补贴 %s 次', occupation_code,
            coalesce(skill_rank::text, '无'), count(*)
        ) as detail,
        'settlement_enrollments' as evidence_table,
        array_agg(enrollment_id order by start_date, enrollment_id) as evidence_ids
    from enrollments
    where is_payable_before_limits
    group by person_id, occupation_code, skill_rank
    having count(*) > 1
),

not_in_real_name_records as (
    select
        'not_in_real_name_records' as warning_rule,
        '003 §5' as source_clause,
        person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '证书 %s（职业 %s）可按规则 %s 申领补贴，但实名制系统中没有相应培训记录',
            certificate_id, occupation_code, rule_id
        ) as detail,
        'settlement_certificates' as evidence_table,
        array[certificate_id] as evidence_ids
    from certificates
    where
        rule_id is not null
        and exists (
            select from unnest(reasons) as reason
            where reason like 'not_in_real_name_records:%'
        )
),

overlapping_trainings as (
    select
        'overlapping_trainings' as warning_rule,
        '002 §(四)4' as source_clause,
        earlier.person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '班级 %s（%s 至 %s）与班级 %s（%s 至 %s）时间重叠', earlier.class_id, earlier.start_date,
            earlier.end_date, later.class_id, later.start_date, later.end_date
        ) as detail,
        'settlement_enrollments' as evidence_table,
        array[earlier.enrollment_id, later.enrollment_id] as evidence_ids
    from enrollments as earlier
    inner join enrollments as later
        on
            earlier.person_id = later.person_id
            and earlier.enrollment_id < later.enrollment_id
            and earlier.class_id <> later.class_id
            and daterange(earlier.start_date, earlier.end_date, '[]')
            && daterange(later.start_date, later.end_date, '[]')
    where earlier.completion_status <> 'dropped' and later.completion_status <> 'dropped'
),

-- The trainings int_training__outcomes found paid for in employee insurance (it reads a night's touched persons
-- only; settlement_enrollments has one row per outcome). Materialized: the planner would otherwise run the
-- evidence lookup below for every unemployed trainee's training before this filter (47 s at 3 M people).
paid_in_training as materialized (
    select
        enrollment_id,
        person_id,
        class_id,
        start_date,
        end_date,
        employee_insurance_months_in_training
    from outcomes
    where
        trainee_category = 'unemployed'
        and employee_insurance_months_in_training > 0
),

-- Their contributions as evidence, one lateral lookup each by person and month (the contributions' unique index):
-- joining every contribution ever loaded here made this model grow with the history (bench-province).
unemployed_paying_employee_insurance as (
    select
        'unemployed_paying_employee_insurance' as warning_rule,
        '002 §(四)4' as source_clause,
        paid_in_training.person_id,
        paid_in_training.class_id,
        null::text as institution_code,
        format(
            '%s 至 %s 以失业人员身份参加培训，期间缴纳职工社会保险 %s 个月',
            paid_in_training.start_date, paid_in_training.end_date,
            paid_in_training.employee_insurance_months_in_training
        ) as detail,
        'stg_social_security__contributions' as evidence_table,
        evidence.evidence_ids
    from paid_in_training
    cross join
        lateral (
            select
                array_agg(
                    concat_ws(
                        '/', contributions.contribution_month, contributions.insurance_type, contributions.employer_code
                    )
                    order by contributions.contribution_month, contributions.insurance_type, contributions.employer_code
                ) as evidence_ids
            from contributions
            inner join insurance_types
                on contributions.insurance_type = insurance_types.insurance_type
            where
                contributions.person_id = paid_in_training.person_id
                and contributions.contribution_month
                between date_trunc('month', paid_in_training.start_date)::date and paid_in_training.end_date
                and insurance_types.is_employee_insurance
                and contributions.is_paid
        ) as evidence
),

certificate_before_training as (
    select
        'certificate_before_training' as warning_rule,
        '002 §(四)4' as source_clause,
        enrollments.person_id,
        enrollments.class_id,
        null::text as institution_code,
        format(
            '证书 %s 发证于 %s，早于培训 %s 的开始日期 %s', certificates.certificate_id,
            certificates.issue_date, enrollments.enrollment_id, enrollments.start_date
        ) as detail,
        'settlement_certificates' as evidence_table,
        array[certificates.certificate_id, enrollments.enrollment_id] as evidence_ids
    from enrollments
    inner join certificates
        on
            enrollments.person_id = certificates.person_id
            and enrollments.occupation_code = certificates.occupation_code
            and enrollments.skill_rank is not distinct from certificates.skill_rank
            and enrollments.start_date > certificates.issue_date
),

-- Employment evidence a checker distrusts: the institution employing its own trainees, or one-month spells.
class_evidence as (
    select
        class_rates.class_id,
        class_rates.institution_code,
        evidence.kind,
        evidence.trainees,
        class_rates.employed_trainees,
        thresholds.class_evidence_share
    from class_rates
    cross join thresholds
    cross join
        lateral (
            values
            ('employed_by_institution', class_rates.employed_only_by_institution),
            ('one_month_spells', class_rates.employed_by_one_month_spell)
        ) as evidence (kind, trainees)
    where
        class_rates.employed_trainees > 0
        and evidence.trainees::numeric / class_rates.employed_trainees > thresholds.class_evidence_share
),

doubtful_class_employment as (
    select
        'doubtful_class_employment' as warning_rule,
        '001 §三(九)' as source_clause,
        null::text as person_id,
        class_evidence.class_id,
        class_evidence.institution_code,
        format(
            '%s 名就业学员中有 %s 名仅凭%s证明就业', class_evidence.employed_trainees,
            class_evidence.trainees,
            case class_evidence.kind
                when 'employed_by_institution' then '培训机构自身的雇用'
                else '单月社保缴费'
            end
        ) as detail,
        'int_training__outcomes' as evidence_table,
        array_agg(outcomes.enrollment_id order by outcomes.enrollment_id) as evidence_ids
    from class_evidence
    inner join outcomes
        on
            class_evidence.class_id = outcomes.class_id
            and outcomes.is_in_employment_rate
            and outcomes.is_employed_in_window
            and case class_evidence.kind
                when 'employed_by_institution' then outcomes.is_employed_only_by_institution
                else outcomes.is_one_month_spell
            end
    group by
        class_evidence.class_id, class_evidence.institution_code, class_evidence.kind,
        class_evidence.trainees, class_evidence.employed_trainees
),

duplicate_certificates as (
    select
        'duplicate_certificates' as warning_rule,
        '002 §(四)4' as source_clause,
        person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '职业（工种）%s、类型 %s、等级 %s 的证书 %s 本', occupation_code, certificate_type,
            coalesce(skill_rank::text, '无'), count(*)
        ) as detail,
        'settlement_certificates' as evidence_table,
        array_agg(certificate_id order by issue_date, certificate_id) as evidence_ids
    from certificates
    where not exists (
            select from unnest(reasons) as reason
            where reason like 'certificate_revoked:%'
        )
    group by person_id, occupation_code, certificate_type, skill_rank
    having count(*) > 1
),

-- The e-voucher loop (003 §五; 002 §(四)4): each anomaly voucher_loop flags, with the voucher's events as evidence.
voucher_anomalies as (
    select
        anomaly.warning_rule,
        '003 §五' as source_clause,
        voucher_loop.person_id,
        null::text as class_id,
        coalesce(voucher_loop.institution_code, voucher_loop.training_institution_code) as institution_code,
        format('电子券 %s：%s', voucher_loop.voucher_id, anomaly.detail) as detail,
        'voucher_loop' as evidence_table,
        array_remove(array[voucher_loop.voucher_id, voucher_loop.enrollment_id], null) as evidence_ids
    from voucher_loop
    cross join
        lateral (
            values
            (
                'voucher_redeemed_without_training', voucher_loop.is_redeemed_without_training,
                format('于 %s 核销，但没有实名制培训记录关联该券', voucher_loop.redeemed_date)
            ),
            (
                'voucher_institution_mismatch', voucher_loop.is_institution_mismatch,
                format(
                    '在培训机构 %s 使用，但培训 %s 由 %s 提供', voucher_loop.institution_code,
                    voucher_loop.enrollment_id, voucher_loop.training_institution_code
                )
            ),
            (
                'voucher_occupation_mismatch', voucher_loop.is_occupation_mismatch,
                format(
                    '发放时指定职业（工种）%s，但培训 %s 的职业为 %s', voucher_loop.occupation_code,
                    voucher_loop.enrollment_id, voucher_loop.training_occupation_code
                )
            ),
            (
                'voucher_redeemed_after_expiry', voucher_loop.is_redeemed_after_expiry,
                format('于 %s 核销，晚于其有效期截止日 %s', voucher_loop.redeemed_date, voucher_loop.valid_until)
            ),
            (
                'voucher_written_off_twice', voucher_loop.is_written_off_twice,
                format('被核销 %s 次', voucher_loop.write_off_events)
            ),
            (
                'voucher_written_off_without_redemption', voucher_loop.is_written_off_without_redemption,
                '已核销，但从未兑付使用'
            ),
            (
                'voucher_not_admitted', voucher_loop.is_not_admitted,
                format(
                    '为 %s 培训发放给 %s 类人员，%s 地区没有有效补贴规则允许',
                    voucher_loop.program_type, voucher_loop.trainee_category, voucher_loop.region_code
                )
            ),
            (
                'voucher_left_unused', voucher_loop.is_left_unused,
                format('于 %s 发放，至 %s 到期仍未使用', voucher_loop.issued_date, voucher_loop.valid_until)
            )
        ) as anomaly (warning_rule, is_found, detail)
    where anomaly.is_found
),

-- One person holding two vouchers whose validity overlaps, neither cancelled.
overlapping_vouchers as (
    select
        'voucher_overlapping' as warning_rule,
        '003 §五' as source_clause,
        earlier.person_id,
        null::text as class_id,
        null::text as institution_code,
        format(
            '电子券 %s（%s 至 %s）与 %s（%s 至 %s）同时有效', earlier.voucher_id,
            earlier.issued_date, earlier.valid_until, later.voucher_id, later.issued_date, later.valid_until
        ) as detail,
        'voucher_loop' as evidence_table,
        array[earlier.voucher_id, later.voucher_id] as evidence_ids
    from voucher_loop as earlier
    inner join voucher_loop as later
        on
            earlier.person_id = later.person_id
            and earlier.voucher_id < later.voucher_id
            and daterange(earlier.issued_date, earlier.valid_until, '[]')
            && daterange(later.issued_date, later.valid_until, '[]')
    where
        earlier.issued_date is not null and later.issued_date is not null
        and earlier.cancelled_date is null and later.cancelled_date is null
),

-- A certificate issued by an evaluation institution the year's catalogue does not list as filed (003 §七(三):
-- evaluation institutions are chosen among those filed with the ministry). Only years whose catalogue is loaded.
unfiled_evaluator as (
    select
        'unfiled_evaluator' as warning_rule,
        '003 §七(三)' as source_clause,
        issued_certificates.person_id,
        null::text as class_id,
        issued_certificates.issuer_code as institution_code,
        format(
            '证书 %s 于 %s 由 %s 颁发，该机构不在 %s 年度评价机构目录内',
            issued_certificates.certificate_id, issued_certificates.issue_date, issued_certificates.issuer_code,
            extract(year from issued_certificates.issue_date)
        ) as detail,
        'stg_certificate__certificates' as evidence_table,
        array[issued_certificates.certificate_id] as evidence_ids
    from issued_certificates
    where
        exists (
            select from catalogue
            where
                catalogue.entry_kind = 'evaluation_institution'
                and catalogue.catalogue_year = extract(year from issued_certificates.issue_date)
        )
        and not exists (
            select from catalogue
            where
                catalogue.entry_kind = 'evaluation_institution'
                and catalogue.catalogue_year = extract(year from issued_certificates.issue_date)
                and catalogue.institution_code = issued_certificates.issuer_code
        )
),

warnings as (
    select * from over_annual_limit
    union all
    select * from repeated_occupation_level
    union all
    select * from not_in_real_name_records
    union all
    select * from overlapping_trainings
    union all
    select * from unemployed_paying_employee_insurance
    union all
    select * from certificate_before_training
    union all
    select * from doubtful_class_employment
    union all
    select * from duplicate_certificates
    union all
    select * from voucher_anomalies
    union all
    select * from overlapping_vouchers
    union all
    select * from unfiled_evaluator
),

final as (
    select
        md5(warning_rule || ':' || detail || ':' || array_to_string(evidence_ids, ',')) as warning_id,
        *
    from warnings
)

select * from final
