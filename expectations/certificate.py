"""Validation suite for the certificate feed (职业技能证书): one row per certificate."""

import great_expectations as gx

from skills_pipeline import feeds, rules


def build_suite() -> gx.ExpectationSuite:
    special_ability = ["special_ability", feeds.CERTIFICATE_TYPES["special_ability"]]
    return gx.ExpectationSuite(
        name="certificate",
        expectations=[
            *rules.for_columns(feeds.CERTIFICATE),
            # 专项职业能力证书 has no level (docs/policy.md, skill levels); every other certificate names one.
            rules.required_unless("skill_level", "certificate_type", special_ability),
        ],
    )
