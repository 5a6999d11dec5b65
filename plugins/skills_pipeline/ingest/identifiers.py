"""Identifier checks on python-stdnum, wrapped so that only real defects reject a row.

stdnum's cn.ric.validate also looks the birth-place prefix up in its own table, which lacks many genuine
county codes (today's Liulin 141125, for one) and raises KeyError on some malformed prefixes. Adults carry the
code in force when their number was issued, so an unknown prefix is a warning, never a rejection.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
ASCII_DIGITS_15 = re.compile(r"[0-9]{15}")
RESIDENT_ID_CHARACTERS = re.compile(r"[0-9]{17}[0-9X]")
USCC_CHARACTERS = re.compile(r"[0-9A-Z]{18}")


@dataclass(frozen=True)
class Verdict:
    problem: str | None = None  # a hard failure: the row is quarantined under rule "<column>:<problem>"
    warning: str | None = None  # recorded against the loaded row


VALID = Verdict()


@lru_cache(maxsize=2_000_000)
def check_resident_id(value: str, today: dt.date | None = None) -> Verdict:
    """GB 11643 resident ID: length, characters, check character (ISO 7064 MOD 11-2) and birth date."""
    number = value.strip().upper()
    # ASCII only: str.isdigit() also accepts '²' and full-width digits, which int() or stdnum then choke on or
    # (worse) accept, giving one person a second pseudonym.
    if ASCII_DIGITS_15.fullmatch(number):
        # Explicit rule for legacy numbers: the 18-digit upgrade must come from the issuing agency, because the
        # century and check character we would compute cannot be confirmed against the person's record.
        return Verdict("legacy_15_digit")
    if len(number) != 18:
        return Verdict("length")
    if not RESIDENT_ID_CHARACTERS.fullmatch(number):
        return Verdict("characters")
    if number[17] != ric.calc_check_digit(number):
        return Verdict("check_character")
    try:
        birth_date = ric.get_birth_date(number)
    except ValidationError:
        return Verdict("birth_date")
    if not EARLIEST_BIRTH_DATE <= birth_date <= (today or dt.date.today()):
        return Verdict("birth_date")
    if not _birth_place_known(number[:6], birth_date.year):
        return Verdict(warning="unknown_region_prefix")
    return VALID


@lru_cache(maxsize=100_000)
def _birth_place_known(prefix: str, birth_year: int) -> bool:
    """stdnum's birth-place lookup reads only the prefix and the birth year, and it is most of the cost of a check
    (a search of its division table): asked once per pair, not once per person."""
    try:
        ric.get_birth_place(f"{prefix}{birth_year:04d}01010000")
    except (ValidationError, KeyError):
        return False
    return True


@lru_cache(maxsize=200_000)
def check_uscc(value: str) -> Verdict:
    """GB 32100 unified social credit code: 18 characters and the check character."""
    code = value.strip().upper()
    if len(code) != 18:
        return Verdict("length")
    if not USCC_CHARACTERS.fullmatch(code):
        return Verdict("characters")
    try:
        uscc.validate(code)
    except ValidationError as error:
        return Verdict("check_character" if "checksum" in str(error).lower() else "characters")
    return VALID


def resident_id_with_check_character(first17: str) -> str:
    """Complete 17 digits into a valid ID (used by the synthetic feed generator)."""
    return first17 + ric.calc_check_digit(first17 + "0")


def uscc_with_check_character(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17 + "0")
