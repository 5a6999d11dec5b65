"""Every code a settlement line or risk warning can carry has a Chinese label for the finance office's workbook."""

import csv
import re
from pathlib import Path

DBT = Path(__file__).resolve().parents[2] / "dbt_project"


def labels(category: str) -> set[str]:
    with open(DBT / "seeds" / "settlement_labels.csv", encoding="utf-8") as handle:
        return {row["code"] for row in csv.DictReader(handle) if row["category"] == category}


def sql_text() -> str:
    paths = [*DBT.glob("models/**/*.sql"), *DBT.glob("macros/*.sql")]
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def test_every_refusal_reason_code_has_a_label():
    # Refusals are written as 'code: detail' (settlement marts and the rule_reason macro).
    codes = set(re.findall(r"'([a-z_]+): ", sql_text()))
    assert codes, "the reason pattern no longer matches the models: update this test"
    assert codes <= labels("reason"), f"unlabelled refusal reasons: {sorted(codes - labels('reason'))}"


def test_every_warning_rule_and_subsidy_rule_has_a_label():
    warning_rules = set(re.findall(r"'([a-z_]+)' as warning_rule", sql_text()))
    assert len(warning_rules) >= 8
    assert warning_rules <= labels("warning_rule"), sorted(warning_rules - labels("warning_rule"))
    with open(DBT / "seeds" / "subsidy_rules.csv", encoding="utf-8") as handle:
        rule_ids = {row["rule_id"] for row in csv.DictReader(handle)}
    assert rule_ids <= labels("rule"), f"subsidy rules without a Chinese name: {sorted(rule_ids - labels('rule'))}"
