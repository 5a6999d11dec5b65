"""What the DAG tasks decide before touching data: the data date of a run and whether DAGs follow the clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from skills_pipeline import schedule


def test_data_date_is_the_beijing_date_the_interval_starts_on_unless_given():
    start = dt.datetime(2026, 5, 31, 18, 0, tzinfo=ZoneInfo("UTC"))  # 2026-06-01 02:00 in Beijing
    assert schedule.resolve_data_date(start, None) == dt.date(2026, 6, 1)
    assert schedule.resolve_data_date(start, "2026-05-20") == dt.date(2026, 5, 20)
    with pytest.raises(ValueError, match="data_date=YYYY-MM-DD"):
        schedule.resolve_data_date(None, None)


def test_time_schedules_are_on_by_default_and_can_be_switched_off(monkeypatch):
    monkeypatch.delenv(schedule.TIME_SCHEDULES_ENV, raising=False)
    assert schedule.time_schedules_enabled()
    monkeypatch.setenv(schedule.TIME_SCHEDULES_ENV, "off")
    assert not schedule.time_schedules_enabled()
    monkeypatch.setenv(schedule.TIME_SCHEDULES_ENV, "sometimes")
    with pytest.raises(ValueError, match="expected on or off"):
        schedule.time_schedules_enabled()


def test_data_date_d_runs_at_two_in_the_morning_beijing_time_on_d_plus_one():
    run_time = schedule.nightly_run_time(dt.date(2026, 6, 30))
    assert run_time == dt.datetime(2026, 7, 1, 2, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert schedule.resolve_data_date(run_time - dt.timedelta(days=1), None) == dt.date(2026, 6, 30)
