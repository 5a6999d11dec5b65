"""Validation suite for the employment feed (就业失业登记): one row per registration event."""

import great_expectations as gx

from skills_pipeline import feeds, rules


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name="employment", expectations=rules.for_columns(feeds.EMPLOYMENT))
