import datetime as dt

import pytest

from skills_pipeline.ingest.identifiers import (
    VALID,
    check_resident_id,
    check_uscc,
    resident_id_with_check_character,
    uscc_with_check_character,
)

TODAY = dt.date(2026, 6, 1)
GENUINE = "11010519491231002X"  # the GB 11643 standard's own example


def with_wrong_check_character(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def test_the_standards_example_is_valid():
    assert check_resident_id(GENUINE, TODAY) == VALID


def test_lowercase_x_is_accepted():
    assert check_resident_id(GENUINE.lower(), TODAY).problem is None


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        (with_wrong_check_character(GENUINE), "check_character"),
        ("1101051949123100", "length"),
        ("11010519491231002XX", "length"),
        ("11010519491231A02X", "characters"),
        ("110105491231002", "legacy_15_digit"),
        (resident_id_with_check_character("14112519800230123"), "birth_date"),  # 30 February
        (resident_id_with_check_character("14112520300101123"), "birth_date"),  # born in the future
        (resident_id_with_check_character("14112518800101123"), "birth_date"),  # before 1900
    ],
)
def test_hard_failures(number, problem):
    assert check_resident_id(number, TODAY).problem == problem


def test_current_county_code_unknown_to_stdnum_is_only_a_warning():
    # stdnum's table lacks today's Liulin code; a genuine person must still load.
    verdict = check_resident_id(resident_id_with_check_character("14112519800101123"), TODAY)
    assert verdict.problem is None
    assert verdict.warning == "unknown_region_prefix"


def test_malformed_prefix_that_makes_stdnum_raise_key_error_is_a_warning():
    verdict = check_resident_id(resident_id_with_check_character("14999919800101123"), TODAY)
    assert verdict == type(verdict)(warning="unknown_region_prefix")


def test_uscc():
    code = uscc_with_check_character("91141125MA0L12345")
    assert check_uscc(code) == VALID
    assert check_uscc(code[:-1] + ("0" if code[-1] != "0" else "1")).problem == "check_character"
    assert check_uscc(code[:-1]).problem == "length"
    assert check_uscc("91141125MA0L1234I5").problem == "characters"
