"""The archive document's employment spells: a registered employment carries the end the archive found for it."""

from __future__ import annotations

import datetime as dt

from skills_pipeline.delivery import documents


def registration(kind: str, end: dt.date | None) -> dict:
    return {
        "event_id": "registration:r1", "event_type": "registration", "event_date": dt.date(2022, 8, 10),
        "end_date": end, "region_code": "141125",
        "details": {"registration_id": "r1", "event_type": kind, "employer_code": "E1"},
    }  # fmt: skip


def test_a_registered_employment_ended_by_a_later_registration_says_when_it_ended():
    spell = documents._spell(registration("employment", dt.date(2022, 10, 20)))
    assert (spell["start_date"], spell["end_date"]) == ("2022-08-10", "2022-10-20")


def test_a_registered_employment_nothing_ended_stands_open_and_an_end_registration_is_no_spell():
    assert documents._spell(registration("flexible_employment", None))["end_date"] is None
    assert documents._spell(registration("employment_end", None)) is None
