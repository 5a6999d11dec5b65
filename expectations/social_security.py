"""Validation suite for the social-security feed (社保缴费记录): person x month x insurance type x employer."""

import great_expectations as gx

from skills_pipeline import feeds, rules


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name="social_security", expectations=rules.for_columns(feeds.SOCIAL_SECURITY))
