{#- Generic test: a payable line names its rule, version and source clause, and has no refusal reason. -#}
{% test eligible_lines_trace_to_a_rule(model) %}
    select *
    from {{ model }}
    where
        is_eligible
        and (
            rule_id is null or rule_version is null or source_clause is null or cardinality(reasons) > 0
            or amount_yuan <= 0
        )
{% endtest %}
