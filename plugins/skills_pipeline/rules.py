"""Building blocks for the validation suites in expectations/: each returns GX expectations with a stable rule name.

Suites run on a per-file staging table of text columns (GX's SQL engine, so PostgreSQL does the scanning). Every
expectation carries meta:
  rule  - the name a quarantined row is tagged with, "<column>:<check>"
  fix   - what the sending agency should do, shown to people reading the quarantine
Row-selecting queries always select `source_row_number`, which is how failures map back to delivered rows. They
never alias `{batch}`: GX substitutes it as `(SELECT ...) AS subselect`.
Identifier check characters are verified with python-stdnum on distinct values before the suite runs; their
verdicts arrive in the helper column `<column>__problem`.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from skills_pipeline import feeds

DATE_PATTERN = r"^[0-9]{4}(-[0-9]{2}-[0-9]{2}|/[0-9]{2}/[0-9]{2}|[0-9]{4})$"
MONTH_PATTERN = r"^(19|20)[0-9]{2}-?(0[1-9]|1[0-2])$"
TIMESTAMP_PATTERN = r"^[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?$"
MONEY_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$"
POSITIVE_INT_PATTERN = r"^[1-9][0-9]{0,3}$"
REGION_PATTERN = r"^[1-8][0-9]{5}$"
OCCUPATION_PATTERN = r"^[0-9]-[0-9]{2}-[0-9]{2}-[0-9]{2}$"
BOOLEAN_SPELLINGS = ["1", "0", "是", "否", "true", "false", "TRUE", "FALSE", "Y", "N"]


def _meta(rule: str, fix: str, **extra) -> dict:
    return {"rule": rule, "fix": fix, **extra}


def required(column: str, label: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column, meta=_meta(f"{column}:required", f"fill in {label} ({column})")
    )


def identifier(column: str, label: str, standard: str) -> list[gxe.Expectation]:
    """The stdnum verdict on the identifier; the failing check (length, check_character, ...) names the rule."""
    return [
        gxe.ExpectColumnValuesToBeNull(
            column=f"{column}__problem",
            meta=_meta(
                f"{column}:<problem>",
                f"correct {label} ({column}); it fails the {standard} check named in the rule",
                rule_from_column=f"{column}__problem",
            ),
        )
    ]


def matches(column: str, pattern: str, check: str, fix: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=pattern, meta=_meta(f"{column}:{check}", fix))


def one_of(column: str, choices: dict[str, str] | list[str], label: str) -> gxe.Expectation:
    """Accepts the canonical code or its Chinese label."""
    values = [*choices, *choices.values()] if isinstance(choices, dict) else list(choices)
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=values,
        meta=_meta(f"{column}:allowed_values", f"use one of the codes or Chinese labels of {label} in docs/feeds.md"),
    )


def _literal(pattern: str) -> str:
    """A regex inside an UnexpectedRowsExpectation query: GX str.format()s the query, so braces are doubled."""
    return pattern.replace("{", "{{").replace("}", "}}")


def _calendar(column: str, pattern: str, check_function: str, what: str) -> gxe.Expectation:
    # Calendar validity is checked once per distinct well-formed value, then mapped back to rows. OFFSET 0 stops
    # the planner pushing the check below the DISTINCT, which would call it once per row.
    query = (
        f"select source_row_number from {{batch}} where {column} in ("
        f"select d.value from (select distinct {column} as value from {{batch}} offset 0) as d "
        f"where d.value ~ '{_literal(pattern)}' and not ingest.{check_function}(d.value))"
    )
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query,
        description=f"{column} is a real calendar {what} (no 30 February, no month 13)",
        meta=_meta(f"{column}:impossible_{what}", f"correct {column}: it is not a real calendar {what}"),
    )


def date(column: str) -> list[gxe.Expectation]:
    return [
        matches(column, DATE_PATTERN, "date_format", f"write {column} as YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD"),
        _calendar(column, DATE_PATTERN, "is_valid_date", "date"),
    ]


def timestamp(column: str) -> list[gxe.Expectation]:
    return [
        matches(column, TIMESTAMP_PATTERN, "timestamp_format", f"write {column} as YYYY-MM-DD HH:MM:SS"),
        _calendar(column, TIMESTAMP_PATTERN, "is_valid_timestamp", "timestamp"),
    ]


def month(column: str) -> gxe.Expectation:
    return matches(column, MONTH_PATTERN, "month_format", f"write {column} as YYYYMM or YYYY-MM")


def money(column: str) -> list[gxe.Expectation]:
    return [
        matches(column, MONEY_PATTERN, "money_format", f"write {column} in yuan with at most 2 decimals"),
        gxe.ExpectColumnValuesToNotMatchRegex(
            column=column, regex="^-", meta=_meta(f"{column}:negative", f"{column} cannot be negative")
        ),
    ]


def region(column: str) -> list[gxe.Expectation]:
    return [
        matches(column, REGION_PATTERN, "region_format", f"use the 6-digit GB/T 2260 code in {column}"),
        gxe.ExpectColumnValuesToMatchRegex(
            column=column,
            regex="^14",
            severity="warning",
            meta=_meta(f"{column}:outside_shanxi", "check the record: Shanxi codes start with 14"),
        ),
    ]


def occupation(column: str) -> gxe.Expectation:
    return matches(column, OCCUPATION_PATTERN, "occupation_format", f"write {column} as D-DD-DD-DD")


def positive_int(column: str) -> gxe.Expectation:
    return matches(column, POSITIVE_INT_PATTERN, "positive_integer", f"{column} must be a whole number above 0")


def boolean(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=BOOLEAN_SPELLINGS,
        meta=_meta(f"{column}:boolean", f"write {column} as 1/0 or 是/否"),
    )


def skill_level(column: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=feeds.skill_level_spellings(),
        meta=_meta(
            f"{column}:allowed_values", f"write {column} as a rank 1-8 or a level name (docs/policy.md, skill levels)"
        ),
    )


def date_not_before(later: str, earlier: str) -> gxe.Expectation:
    query = (
        # CASE, because PostgreSQL may evaluate AND operands in any order and the cast raises on bad dates.
        f"select source_row_number from {{batch}} where case "
        f"when {later} ~ '{_literal(DATE_PATTERN)}' and {earlier} ~ '{_literal(DATE_PATTERN)}' "
        f"and ingest.is_valid_date({later}) and ingest.is_valid_date({earlier}) "
        f"then replace({later}, '/', '-')::date < replace({earlier}, '/', '-')::date else false end"
    )
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query,
        description=f"{later} is on or after {earlier}",
        meta=_meta(f"{later}:before_{earlier}", f"{later} cannot be earlier than {earlier}"),
    )


def required_unless(column: str, other: str, exempt_values: list[str]) -> gxe.Expectation:
    exempt = ", ".join(f"'{value}'" for value in exempt_values)
    query = (
        f"select source_row_number from {{batch}} "
        f"where {column} is null and {other} is not null and {other} not in ({exempt})"
    )
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query,
        description=f"{column} is present unless {other} is one of {', '.join(exempt_values)}",
        meta=_meta(f"{column}:required", f"fill in {column}; only {other} in ({exempt}) may leave it empty"),
    )


def for_columns(feed: feeds.Feed) -> list[gxe.Expectation]:
    """The checks every column gets from its kind in the contract; suites add the cross-column rules."""
    kind_checks = {
        feeds.Kind.RESIDENT_ID: lambda c: identifier(c.name, c.label, "GB 11643 resident ID"),
        feeds.Kind.USCC: lambda c: identifier(c.name, c.label, "GB 32100 unified social credit code"),
        feeds.Kind.REGION: lambda c: region(c.name),
        feeds.Kind.OCCUPATION: lambda c: [occupation(c.name)],
        feeds.Kind.SKILL_LEVEL: lambda c: [skill_level(c.name)],
        feeds.Kind.ENUM: lambda c: [one_of(c.name, c.choices, c.label)],
        feeds.Kind.DATE: lambda c: date(c.name),
        feeds.Kind.MONTH: lambda c: [month(c.name)],
        feeds.Kind.TIMESTAMP: lambda c: timestamp(c.name),
        feeds.Kind.MONEY: lambda c: money(c.name),
        feeds.Kind.POSITIVE_INT: lambda c: [positive_int(c.name)],
        feeds.Kind.BOOLEAN: lambda c: [boolean(c.name)],
        feeds.Kind.TEXT: lambda c: [],
    }
    expectations: list[gxe.Expectation] = []
    for column in feed.columns:
        if column.required:
            expectations.append(required(column.name, column.label))
        expectations.extend(kind_checks[column.kind](column))
    return expectations
