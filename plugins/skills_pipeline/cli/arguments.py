"""Argument types shared by the command groups."""

from __future__ import annotations

import argparse
import datetime as dt


def date_argument(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD") from None


def dates_between(start: dt.date, end: dt.date | None) -> list[dt.date]:
    from skills_pipeline.schedule import data_dates

    return data_dates(start, end)


MAX_CHANGES_PAGE = 10_000


def positive_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value
