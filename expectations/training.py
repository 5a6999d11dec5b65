"""Validation suite for the training feed (培训实名制记录): one row per trainee per class."""

import great_expectations as gx

from skills_pipeline import feeds, rules


def build_suite() -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name="training",
        expectations=[
            *rules.for_columns(feeds.TRAINING),
            rules.date_not_before("end_date", "start_date"),
        ],
    )
