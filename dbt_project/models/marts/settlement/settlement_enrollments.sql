{#-
    One row per training enrollment: is its training subsidy payable, every reason it is not, the rule applied
    (docs/policy.md, subsidy rules) and the amount. Precedence of the person-level limits of 001 §二(六): among trainings otherwise
    payable, the same occupation at the same level is paid once (the earliest by start date), then at most
    max_subsidised_trainings_per_year per calendar year of the start date (the earliest keep theirs). A training
    refused for another reason does not use up a place.
-#}
-- County analysts see the rows of their own county (row-level security, macros/secure_relation.sql).
{{ config(meta={'county_filter': 'region_code'}) }}

with

outcomes as (
    select * from {{ ref('int_training__outcomes') }}
),

class_rates as (
    select * from {{ ref('class_employment_rates') }}
),

subsidy_rules as (
    select * from {{ ref('int_subsidy__rules') }}
),

-- 001 §三(七), 003 §七(三): each year's training-institution catalogue, one row per licensed occupation. A year
-- with no catalogue loaded is not checked against one.
training_institution_catalogue as (
    select * from {{ ref('stg_catalogue__entries') }}
    where entry_kind = 'training_institution'
),

catalogue_years as (
    select distinct catalogue_year
    from training_institution_catalogue
),

listed_institutions as (
    select distinct
        catalogue_year,
        institution_code
    from training_institution_catalogue
),

licences as (
    select
        catalogue_year,
        institution_code,
        occupation_code,
        min(valid_from) as valid_from,
        max(valid_to) as valid_to
    from training_institution_catalogue
    group by catalogue_year, institution_code, occupation_code
),

-- Where and when a claim needs a redeemed e-voucher (003 §五; seed voucher_requirements).
voucher_requirements as (
    select * from {{ ref('voucher_requirements') }}
),

vouchers as (
    select * from {{ ref('int_vouchers__states') }}
),

voucher_write_offs as (
    select * from {{ source('payments', 'voucher_write_offs') }}
),

-- One voucher pays once: of the trainings carrying a voucher, the earliest keeps it.
voucher_uses as (
    select
        enrollment_id,
        first_value(enrollment_id) over (
            partition by voucher_id order by start_date, enrollment_id
        ) as first_enrollment_with_voucher
    from outcomes
    where voucher_id is not null
),

yearly_limit as (
    select {{ pipeline_setting('max_subsidised_trainings_per_year', 'integer') }} as trainings
),

rules_matched as (
    {{ match_subsidy_rule(
        'outcomes', 'enrollment_id', 'training', 'end_date', 'region_code',
        {'program_types': 'program_type', 'trainee_categories': 'trainee_category'}
    ) }}
),

assessed as (
    select
        outcomes.*,
        {{ matched_rule_columns() }}
        class_rates.employed_trainees as class_employed_trainees,
        class_rates.employment_rate_denominator as class_employment_rate_denominator,
        class_rates.employment_rate as class_employment_rate,
        array_remove(array[
            case
                when outcomes.completion_status <> 'completed'
                    then 'not_completed: 结业状态为 ' || outcomes.completion_status || '，未结业'
            end,
            {{ rule_reason(
                'outcomes.end_date',
                "format('%s 地区 %s 类学员的 %s 培训', outcomes.region_code, outcomes.trainee_category,
                outcomes.program_type)"
            ) }},
            case
                when rules_matched.min_class_employment_rate is null or not rules_matched.is_rule_in_force then null
                when class_rates.employment_rate is null
                    then format(
                            'class_employment_rate: 班级 %s 没有计入就业率的结业学员，规则 %s 要求就业率达到 %s%%',
                            outcomes.class_id, rules_matched.rule_id,
                            trim_scale(rules_matched.min_class_employment_rate * 100)
                        )
                when class_rates.employment_rate < rules_matched.min_class_employment_rate
                    then format(
                            'class_employment_rate: 班级就业率 %s%% 低于 %s%%（%s 名学员中 %s 名就业；%s）',
                            trim_scale(round(class_rates.employment_rate * 100, 2)),
                            trim_scale(rules_matched.min_class_employment_rate * 100),
                            class_rates.employment_rate_denominator, class_rates.employed_trainees,
                            rules_matched.source_clause
                        )
            end,
            case
                when catalogue_years.catalogue_year is null then null
                when listed_institutions.institution_code is null
                    then format(
                            'outside_catalogue: 培训机构 %s 不在 %s 年度培训机构目录内（001 §三(七)；003 §七(三)）',
                            outcomes.institution_code, catalogue_years.catalogue_year
                        )
                when licences.occupation_code is null
                    then format(
                            'outside_licence: 培训机构 %s 在 %s 年度目录中于 %s 未获准开展职业（工种）%s 的培训（003 §七(三)）',
                            outcomes.institution_code, catalogue_years.catalogue_year, outcomes.start_date,
                            outcomes.occupation_code
                        )
            end,
            case
                when voucher_requirement.voucher_clause is not null and vouchers.redeemed_date is null
                    then format(
                            'no_redeemed_voucher: %s 地区自 %s 起培训须凭已核销的电子培训券申领（%s）；%s',
                            outcomes.region_code, voucher_requirement.voucher_required_from, voucher_requirement.voucher_clause,
                            case
                                when outcomes.voucher_id is null then '该培训未关联电子券'
                                when vouchers.voucher_id is null
                                    then format('电子券 %s 无发放记录', outcomes.voucher_id)
                                else format('电子券 %s 状态为 %s', outcomes.voucher_id, vouchers.voucher_state)
                            end
                        )
            end,
            case
                when voucher_write_offs.enrollment_id <> outcomes.enrollment_id
                    then format(
                            'voucher_paid: 电子券 %s 已由结算批次 %s 为培训 %s 核销（一券只付一次；003 §五）',
                            outcomes.voucher_id, voucher_write_offs.run_id, voucher_write_offs.enrollment_id
                        )
                when voucher_uses.first_enrollment_with_voucher <> outcomes.enrollment_id
                    then format(
                            'voucher_reused: 电子券 %s 已用于更早的培训 %s（一券只付一次；003 §五）',
                            outcomes.voucher_id, voucher_uses.first_enrollment_with_voucher
                        )
            end
        ], null) as refusals
    from outcomes
    left join rules_matched
        on outcomes.enrollment_id = rules_matched.enrollment_id
    left join class_rates
        on outcomes.class_id = class_rates.class_id
    left join catalogue_years
        on extract(year from outcomes.start_date) = catalogue_years.catalogue_year
    left join listed_institutions
        on
            catalogue_years.catalogue_year = listed_institutions.catalogue_year
            and outcomes.institution_code = listed_institutions.institution_code
    left join licences
        on
            catalogue_years.catalogue_year = licences.catalogue_year
            and outcomes.institution_code = licences.institution_code
            and outcomes.occupation_code = licences.occupation_code
            and outcomes.start_date between licences.valid_from and licences.valid_to
    left join vouchers
        on outcomes.voucher_id = vouchers.voucher_id
    left join voucher_write_offs
        on outcomes.voucher_id = voucher_write_offs.voucher_id
    left join voucher_uses
        on outcomes.enrollment_id = voucher_uses.enrollment_id
    left join lateral (
        select
            voucher_requirements.effective_from as voucher_required_from,
            voucher_requirements.source_clause as voucher_clause
        from voucher_requirements
        where
            voucher_requirements.region_code in (
                outcomes.region_code, left(outcomes.region_code, 4) || '00', left(outcomes.region_code, 2) || '0000'
            )
            and outcomes.start_date between voucher_requirements.effective_from
            and coalesce(voucher_requirements.effective_to, 'infinity'::date)
            and (
                voucher_requirements.program_types = '*'
                or outcomes.program_type = any(string_to_array(voucher_requirements.program_types, ' '))
            )
        order by voucher_requirements.effective_from desc
        limit 1
    ) as voucher_requirement on true
),

-- Same occupation at the same level: only the earliest otherwise-payable training of the person is paid.
repeat_ranked as (
    select
        *,
        row_number() over same_occupation_level as occupation_level_order,
        first_value(enrollment_id) over same_occupation_level as first_enrollment_at_level
    from assessed
    where cardinality(refusals) = 0
    window same_occupation_level as (
        partition by person_id, occupation_code, coalesce(skill_rank, 0)
        order by start_date, enrollment_id
    )
),

-- At most N paid trainings per person and calendar year; repeats refused above do not count.
year_ranked as (
    select
        enrollment_id,
        row_number() over (
            partition by person_id, extract(year from start_date)
            order by start_date, enrollment_id
        ) as order_in_year
    from repeat_ranked
    where occupation_level_order = 1
),

limits as (
    select
        repeat_ranked.enrollment_id,
        case
            when repeat_ranked.occupation_level_order > 1
                then format(
                        'repeat_occupation_level: 同一职业（工种）%s 同一等级 %s 已享受过补贴（培训 %s；001 §二(六)）',
                        repeat_ranked.occupation_code, coalesce(repeat_ranked.skill_rank::text, '无等级'),
                        repeat_ranked.first_enrollment_at_level
                    )
            when year_ranked.order_in_year > yearly_limit.trainings
                then format(
                        'annual_limit: 本人第 %s 次补贴性培训（%s 年），每年最多 %s 次（001 §二(六)）',
                        year_ranked.order_in_year, extract(year from repeat_ranked.start_date), yearly_limit.trainings
                    )
        end as limit_reason
    from repeat_ranked
    cross join yearly_limit
    left join year_ranked
        on repeat_ranked.enrollment_id = year_ranked.enrollment_id
),

final as (
    select
        assessed.enrollment_id,
        assessed.class_id,
        assessed.person_id,
        assessed.institution_code as payee_code,
        assessed.institution_name as payee_name,
        coalesce(assessed.payee_kind, 'institution') as payee_kind,
        assessed.program_type,
        assessed.trainee_category,
        assessed.occupation_code,
        assessed.skill_rank,
        assessed.region_code,
        assessed.start_date,
        assessed.end_date,
        assessed.training_days,
        assessed.completion_status,
        assessed.voucher_id,
        assessed.rule_id,
        assessed.rule_version,
        assessed.source_clause,
        assessed.basis,
        assessed.class_employed_trainees,
        assessed.class_employment_rate_denominator,
        assessed.class_employment_rate,
        -- An outcome-conditioned claim can only be decided once the class's employment window has closed.
        case
            when assessed.min_class_employment_rate is not null then assessed.window_end_date + 1
            else assessed.end_date
        end as settlement_date,
        extract(year from assessed.end_date)::integer as subsidy_year,
        array_remove(array_append(assessed.refusals, limits.limit_reason), null) as reasons,
        {{ eligibility_and_amount(
            'array_remove(array_append(assessed.refusals, limits.limit_reason), null)', 'assessed.training_days'
        ) }},
        cardinality(assessed.refusals) = 0 as is_payable_before_limits,
        limits.limit_reason
    from assessed
    left join limits
        on assessed.enrollment_id = limits.enrollment_id
)

select * from final
