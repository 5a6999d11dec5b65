"""The one home of the validation rules: what each value kind of the feed contract accepts and how an accepted value
is stored (KIND_RULES, one entry per kind), and how a feed's row rules (feeds.NotBefore, feeds.RequiredUnless) are
checked. Identifier check characters are python-stdnum's (identifiers.py).

A feed has two suites, both run by GX's SQL engine so that PostgreSQL does the scanning:
  row_suite   - on the per-file staging table of text columns: required cells, identifier verdicts, row rules;
  value_suite - the kind checks (formats, allowed values, calendar validity), which depend on a cell's value alone,
                on the file's distinct values (staging.tabulate_values: one row per distinct value of each checked
                column, with its record count). A month column of a million records holds a dozen values: each is
                checked once, and a failing value is mapped back to every record that carries it.
Every expectation carries meta:
  rule   - the name a quarantined row is tagged with, "<column>:<check>"
  fix    - what the sending agency should do, shown to people reading the quarantine
  column - (value suite) the column whose failing values locate the records
Row-selecting queries always select `source_row_number` (value-suite queries: the column), which is how failures map
back to delivered rows. They never alias `{batch}`: GX substitutes it as `(SELECT ...) AS subselect`.
Identifier check characters are verified with python-stdnum on distinct values before the suite runs; their
verdicts arrive in the helper column `<column>__problem`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import great_expectations as gx
import great_expectations.expectations as gxe
from psycopg import sql

from skills_pipeline import feeds, schedule
from skills_pipeline.feeds import Column, Kind

# Money everywhere (raw, marts, settlement, payments): yuan with fen, up to 999,999,999,999.99.
MONEY_TYPE = "numeric(14,2)"

DATE_PATTERN = r"^[0-9]{4}(-[0-9]{2}-[0-9]{2}|/[0-9]{2}/[0-9]{2}|[0-9]{4})$"
MONTH_PATTERN = r"^(19|20)[0-9]{2}-?(0[1-9]|1[0-2])$"
TIMESTAMP_PATTERN = r"^[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?$"
MONEY_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$"  # fits MONEY_TYPE
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
    # On the distinct values (value suite): each value is checked once, only if well formed (the format rule
    # reports the rest).
    query = (
        f"select {column} from {{batch}} "
        f"where {column} ~ '{_literal(pattern)}' and not ingest.{check_function}({column})"
    )
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query,
        description=f"{column} is a real calendar {what} (no 30 February, no month 13)",
        meta=_meta(f"{column}:impossible_{what}", f"correct {column}: it is not a real calendar {what}", column=column),
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


def _values_where(column: str, valid: str, implausible: str, check: str, description: str, fix: str):
    """A value-suite rule: the well-formed values of `column` (`valid`) for which `implausible` holds. CASE, because
    the casts in `implausible` raise on a malformed value and AND operands may be evaluated in any order."""
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=(
            f"select {column} from {{batch}} where case when {valid} then {implausible} else false end"
        ),
        description=description,
        meta=_meta(f"{column}:{check}", fix, column=column),
    )


def date_window(column: Column, rule: feeds.DateWindow, data_date: dt.date | None) -> list[gxe.Expectation]:
    """On the distinct values: a well-formed date or month before 1950, or after the delivery's data date (plus the
    rule's allowance). Undated deliveries are checked against 1950 only."""
    name = column.name
    if column.kind is Kind.MONTH:
        valid, value = f"{name} ~ '{_literal(MONTH_PATTERN)}'", f"to_date(replace({name}, '-', ''), 'YYYYMM')"
    else:
        valid = f"{name} ~ '{_literal(DATE_PATTERN)}' and ingest.is_valid_date({name})"
        value = f"replace({name}, '/', '-')::date"
    earliest = feeds.EARLIEST_PLAUSIBLE_DATE
    checks = [
        _values_where(
            name,
            valid,
            f"{value} < '{earliest}'",
            f"before_{earliest.year}",
            f"{name} is not before {earliest}",
            f"correct {name}: no record in the feeds predates {earliest}",
        )  # fmt: skip
    ]
    if data_date is not None:
        latest = data_date + dt.timedelta(days=rule.days_after_delivery)
        allowance = f" (a planned date up to {latest})" if rule.days_after_delivery else ""
        checks.append(
            _values_where(
                name,
                valid,
                f"{value} > '{latest}'",
                "after_delivery_date",
                f"{name} is not after the delivery's data date {data_date}{allowance}",
                f"correct {name}: it lies after the delivery's data date {data_date}{allowance}",
            )  # fmt: skip
        )
    return checks


def ceiling(column: Column, rule: feeds.Ceiling) -> gxe.Expectation:
    """On the distinct values: a well-formed amount above the column's ceiling (configurable, feeds.Ceiling)."""
    limit = Decimal(os.environ.get(rule.setting) or rule.yuan)
    return _values_where(
        column.name, f"{column.name} ~ '{_literal(MONEY_PATTERN)}'", f"{column.name}::numeric > {limit}",
        "above_ceiling", f"{column.name} is at most {limit:,} yuan",
        f"correct {column.name}: above {limit:,} yuan, no real amount is (the ceiling is {rule.setting})",
    )  # fmt: skip


def for_plausibility(feed: feeds.Feed, data_date: dt.date | None) -> list[gxe.Expectation]:
    """The feed's plausibility rules (feeds.DateWindow, feeds.Ceiling), on the file's distinct values."""
    expectations: list[gxe.Expectation] = []
    for rule in feed.plausibility:
        column = feed.column(rule.column)
        if isinstance(rule, feeds.DateWindow):
            expectations += date_window(column, rule, data_date)
        elif isinstance(rule, feeds.Ceiling):
            expectations.append(ceiling(column, rule))
        else:
            raise TypeError(f"feed {feed.name}: no check for plausibility rule {rule!r}")
    return expectations


# -- per kind: what it accepts, its raw column type, and the cast from staging text ------------------------------


@dataclass(frozen=True)
class KindRule:
    raw_type: str  # the column's type in raw.<feed>
    # staging text -> raw value; validation has guaranteed that every loaded value parses, so plain casts do
    cast: Callable[[Column], sql.Composable]
    checks: Callable[[Column], list[gxe.Expectation]]


def _as_is(column: Column) -> sql.Composable:
    return sql.Identifier(column.name)


def _cast(template: str, *literals) -> Callable[[Column], sql.Composable]:
    return lambda column: sql.SQL(template).format(sql.Identifier(column.name), *map(sql.Literal, literals))


def _enum_code(column: Column) -> sql.Composable:
    """A Chinese label is stored as its code; a code as itself."""
    cases = sql.SQL(" ").join(
        sql.SQL("when {} then {}").format(sql.Literal(label), sql.Literal(code))
        for code, label in column.choices.items()
    )
    ident = sql.Identifier(column.name)
    return sql.SQL("case {} {} else {} end").format(ident, cases, ident)


def _identifier_checks(standard: str) -> Callable[[Column], list[gxe.Expectation]]:
    return lambda c: identifier(c.name, c.label, standard)


KIND_RULES: dict[Kind, KindRule] = {
    Kind.TEXT: KindRule("text", _as_is, lambda c: []),
    # ID numbers and credit codes are stored upper-case: a lower-case check character x is the same ID. Every value
    # that passes the check is ASCII, so the C collation's upper() gives what a locale's would, at half its cost.
    Kind.RESIDENT_ID: KindRule("text", _cast('upper({} collate "C")'), _identifier_checks("GB 11643 resident ID")),
    Kind.USCC: KindRule(
        "text", _cast('upper({} collate "C")'), _identifier_checks("GB 32100 unified social credit code")
    ),
    Kind.REGION: KindRule("text", _as_is, lambda c: region(c.name)),
    Kind.OCCUPATION: KindRule("text", _as_is, lambda c: [occupation(c.name)]),
    # Stored as delivered (rank or name); dbt maps spellings to ranks with the skill_level_spellings seed.
    Kind.SKILL_LEVEL: KindRule("text", _as_is, lambda c: [skill_level(c.name)]),
    Kind.ENUM: KindRule("text", _enum_code, lambda c: [one_of(c.name, c.choices, c.label)]),
    Kind.DATE: KindRule("date", _cast("replace({}, '/', '-')::date"), lambda c: date(c.name)),
    Kind.MONTH: KindRule("date", _cast("to_date(replace({}, '-', ''), 'YYYYMM')"), lambda c: [month(c.name)]),
    # Agencies write local (Beijing) wall-clock time, with no offset (TIMESTAMP_PATTERN): read in CAST_TIME_ZONE,
    # the session's time zone while casting (raw._insert_raw), at a sixth less than `::timestamp at time zone`.
    Kind.TIMESTAMP: KindRule("timestamptz", _cast("replace({}, '/', '-')::timestamptz"), lambda c: timestamp(c.name)),
    Kind.MONEY: KindRule(MONEY_TYPE, _cast("{}::" + MONEY_TYPE), lambda c: money(c.name)),
    Kind.POSITIVE_INT: KindRule("integer", _cast("{}::integer"), lambda c: [positive_int(c.name)]),
    Kind.BOOLEAN: KindRule("boolean", _cast("{} in ('1', '是', 'true', 'TRUE', 'Y')"), lambda c: [boolean(c.name)]),
}


def raw_type(kind: Kind) -> str:
    return KIND_RULES[kind].raw_type


# The session time zone the casts run in (the timestamp cast reads wall-clock text in it).
CAST_TIME_ZONE = schedule.LOCAL_TIME_ZONE


def raw_cast(column: Column) -> sql.Composable:
    """The expression storing a staged cell in raw.<feed>; run with the session's TimeZone at CAST_TIME_ZONE."""
    return KIND_RULES[column.kind].cast(column)


def value_columns(feed: feeds.Feed) -> list[Column]:
    """Columns whose kind checks depend on the value alone (identifiers are checked by stdnum, text not at all)."""
    return [c for c in feed.columns if c.kind not in (Kind.RESIDENT_ID, Kind.USCC) and KIND_RULES[c.kind].checks(c)]


def for_values(feed: feeds.Feed) -> list[gxe.Expectation]:
    """The checks every column gets from its kind in the contract, to run on the file's distinct values."""
    expectations: list[gxe.Expectation] = []
    for column in value_columns(feed):
        for expectation in KIND_RULES[column.kind].checks(column):
            expectation.meta = {**expectation.meta, "column": column.name}
            expectations.append(expectation)
    return expectations


def for_rows(feed: feeds.Feed) -> list[gxe.Expectation]:
    """The checks of whole records: a required cell is present, an identifier passes stdnum."""
    expectations: list[gxe.Expectation] = []
    for column in feed.columns:
        if column.required:
            expectations.append(required(column.name, column.label))
        if column.kind in (Kind.RESIDENT_ID, Kind.USCC):
            expectations.extend(KIND_RULES[column.kind].checks(column))
    return expectations


def for_row_rule(feed: feeds.Feed, rule: feeds.RowRule) -> gxe.Expectation:
    if isinstance(rule, feeds.NotBefore):
        return date_not_before(rule.later, rule.earlier)
    if isinstance(rule, feeds.RequiredUnless):
        choices = feed.column(rule.other).choices
        exempt = [spelling for code in rule.exempt for spelling in (code, choices.get(code)) if spelling]
        return required_unless(rule.column, rule.other, exempt)
    raise TypeError(f"feed {feed.name}: no check for row rule {rule!r}")


def row_suite(feed: feeds.Feed) -> gx.ExpectationSuite:
    """The feed's record checks, on the staging table: required cells, identifiers, then its row rules."""
    return gx.ExpectationSuite(
        name=feed.name, expectations=[*for_rows(feed), *(for_row_rule(feed, rule) for rule in feed.row_rules)]
    )


def value_suite(feed: feeds.Feed, data_date: dt.date | None = None) -> gx.ExpectationSuite:
    """The feed's value checks, on the table of its distinct values: each column's kind, then plausibility against
    the delivery's data date."""
    return gx.ExpectationSuite(
        name=f"{feed.name}_values", expectations=[*for_values(feed), *for_plausibility(feed, data_date)]
    )
