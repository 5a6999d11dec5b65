{#-
    Pick the subsidy rule for each claim (docs/policy.md, subsidy rules): among the rules for `subject` whose region contains the
    claim's region and whose scope lists the claim's attributes, the one in force on the claim's date, preferring
    the most specific region (county > city > province), then the narrower scope, then the later start. When none
    is in force the preferred out-of-force rule is still returned (is_rule_in_force false) so the settlement can say
    "before the rule's start date" rather than only "no rule".

    claims: a CTE name; key: its key column; date_column: the date rules are judged on; scope: a dict mapping rule
    list columns (program_types, trainee_categories, certificate_types, skill_ranks) to the claim's column.
-#}
{% macro match_subsidy_rule(claims, key, subject, date_column, region_column, scope) %}
    select distinct on ({{ claims }}.{{ key }})
        {{ claims }}.{{ key }},
        {% for column, source in subsidy_rule_outputs().items() -%}
subsidy_rules.{{ source }} as {{ column }},
        {% endfor -%}
{{ claims }}.{{ date_column }} between subsidy_rules.effective_from
        and coalesce(subsidy_rules.effective_to, 'infinity'::date) as is_rule_in_force
    from {{ claims }}
    inner join subsidy_rules
        on
            subsidy_rules.subject = '{{ subject }}'
            and subsidy_rules.region_code in (
                {{ claims }}.{{ region_column }},
                left({{ claims }}.{{ region_column }}, 4) || '00',
                left({{ claims }}.{{ region_column }}, 2) || '0000'
            )
            {% for rule_column, claim_column in scope.items() %}
                and (
                    subsidy_rules.{{ rule_column }} = '*'
                    or {{ claims }}.{{ claim_column }}::text = any(string_to_array(subsidy_rules.{{ rule_column }}, ' '))
                )
            {% endfor %}
    order by
        {{ claims }}.{{ key }},
        {{ claims }}.{{ date_column }} between subsidy_rules.effective_from
        and coalesce(subsidy_rules.effective_to, 'infinity'::date) desc,
        subsidy_rules.region_specificity desc,
        subsidy_rules.scope_specificity desc,
        subsidy_rules.effective_from desc,
        subsidy_rules.rule_id
{% endmacro %}


{#- The rule columns match_subsidy_rule returns (name: column of the rules), besides is_rule_in_force. -#}
{% macro subsidy_rule_outputs() %}
    {{ return({
        'rule_id': 'rule_id', 'rule_version': 'rule_version', 'basis': 'basis', 'amount_yuan': 'amount_yuan',
        'tier_days': 'tier_days', 'amount_after_tier_yuan': 'amount_after_tier_yuan',
        'per_person_cap_yuan': 'per_person_cap_yuan', 'min_class_employment_rate': 'min_class_employment_rate',
        'payee_kind': 'payee_kind', 'source_clause': 'source_clause', 'rule_effective_from': 'effective_from',
        'rule_note': 'note',
    }) }}
{% endmacro %}


{#- Every column of a match_subsidy_rule result, qualified, for a claim model's select list (trailing comma). -#}
{% macro matched_rule_columns(relation='rules_matched') %}
{% for column in subsidy_rule_outputs() -%}
{{ relation }}.{{ column }},
    {% endfor -%}
{{ relation }}.is_rule_in_force,
{% endmacro %}


{#- Amount of one line under its rule (exact decimals), capped per person; null when the rule states no amount. -#}
{% macro subsidy_amount(days_column) %}
    least(
        case basis
            when 'per_person' then amount_yuan
            when 'per_certificate' then amount_yuan
            when 'per_day' then {{ days_column }} * amount_yuan
            when 'tiered_per_day'
                then
                    least({{ days_column }}, tier_days) * amount_yuan
                    + greatest({{ days_column }} - tier_days, 0) * amount_after_tier_yuan
        end,
        per_person_cap_yuan
    )::{{ money_type() }}
{% endmacro %}


{#-
    The ending every claim model shares: eligible when nothing refuses it, and then the amount under its rule;
    otherwise 0. `reasons`: the claim's refusal reasons (text[]); `days_column`: the training days of per-day rules.
-#}
{% macro eligibility_and_amount(reasons, days_column) %}
    cardinality({{ reasons }}) = 0 as is_eligible,
    case
        when cardinality({{ reasons }}) = 0 then {{ subsidy_amount(days_column) }}
        else 0
    end::{{ money_type() }} as amount_yuan
{% endmacro %}


{#-
    The reason a claim has no payable rule, or null: no rule at all, before its start, out of force, no amount.
    `rule` qualifies the matched rule's columns when the claim relation has columns of the same names.
-#}
{% macro rule_reason(date_column, description, rule='') %}
{%- set r = rule ~ '.' if rule else '' -%}
    case
        when {{ r }}rule_id is null
            then 'no_rule: 没有适用于' || {{ description }} || '的补贴规则'
        when not {{ r }}is_rule_in_force and {{ r }}rule_effective_from > {{ date_column }}
            then format(
                'before_rule_start: %s 早于规则 %s 的施行日期 %s（%s）',
                {{ date_column }}, {{ r }}rule_id, {{ r }}rule_effective_from, {{ r }}source_clause
            )
        when not {{ r }}is_rule_in_force
            then format('no_rule: %s 时没有适用于%s的有效补贴规则', {{ date_column }}, {{ description }})
        when {{ r }}basis = 'not_stated'
            then format(
                'no_rule_amount: 规则 %s（%s）未规定补贴标准：%s', {{ r }}rule_id, {{ r }}source_clause, {{ r }}rule_note
            )
    end
{% endmacro %}


{#-
    A digest of the subsidy rules as the warehouse applies them (int_subsidy__rules), as a scalar subquery. A claim
    model that is incremental stores it on every row and reassesses every claim when it differs (a rule amended or
    added in the seed), so that no line stays assessed under rules no longer in the warehouse.
-#}
{% macro subsidy_rules_digest() -%}
    (
        select coalesce(md5(string_agg(rules::text, '|' order by rules.rule_id)), md5(''))
        from {{ ref('int_subsidy__rules') }} as rules
    )
{%- endmacro %}
