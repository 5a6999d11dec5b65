"""The calendar of the pipeline: time zone, nightly schedule, first data date, data dates, and the Asset URIs the
DAGs hand work on with. One home for each, free of Airflow imports (DAG files, tasks and tools all read it)."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

from skills_pipeline import feeds

LOCAL_TIME_ZONE = "Asia/Shanghai"  # agencies deliver and the authority works on Beijing time
LOCAL_ZONE = zoneinfo.ZoneInfo(LOCAL_TIME_ZONE)
NIGHTLY_CRON = "0 2 * * *"  # data date D runs at 02:00 Beijing on D + 1
# The policy documents' first year (晋政办发〔2019〕68号): the DAGs start here so that loading the 2019-2023 history,
# the first thing a deploying authority does, runs like any night (a logical date before a DAG's start_date
# would run nothing and still be reported as a success).
FIRST_DATA_DATE = dt.date(2019, 1, 1)
TIME_SCHEDULES_ENV = "SKILLS_TIME_SCHEDULES"


def data_dates(start: dt.date, end: dt.date | None = None) -> list[dt.date]:
    """Every data date from start to end (inclusive), or a ConfigurationError naming what to change."""
    from skills_pipeline.settings import ConfigurationError

    end = end or start
    if end < start:
        raise ConfigurationError(
            f"--to {end} is before --date {start}: give the first date with --date, the last with --to"
        )
    if start < FIRST_DATA_DATE:
        raise ConfigurationError(
            f"--date {start} is before {FIRST_DATA_DATE}, the first data date the pipeline runs (the policy's first "
            "year); deliveries dated earlier belong in the 2019 initial extract"
        )
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def time_schedules_enabled() -> bool:
    """Whether DAGs run on the clock (the default). `SKILLS_TIME_SCHEDULES=off` leaves only API/manual triggers and
    Asset events: for acceptance environments and the local stack harness, where a cron run for "yesterday"
    appearing on unpause would only add work to the night under test."""
    from skills_pipeline.settings import ConfigurationError

    value = os.environ.get(TIME_SCHEDULES_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise ConfigurationError(f"{TIME_SCHEDULES_ENV}={value!r}: expected on or off")
    return value == "on"


RAW_ASSET_URIS = {feed: f"warehouse://raw/{feed}" for feed in feeds.FEEDS}
ARCHIVE_ASSET_URI = "warehouse://marts/archive"
METRICS_ASSET_URI = "warehouse://marts/metrics"
MONTHLY_SETTLEMENT_CRON = "0 6 1 * *"  # 06:00 Beijing on the 1st: the draft of the month before


def dag_start_date():
    """Every DAG's start_date: the first data date, at midnight Beijing time (pendulum, as Airflow wants)."""
    import pendulum

    return pendulum.datetime(FIRST_DATA_DATE.year, FIRST_DATA_DATE.month, FIRST_DATA_DATE.day, tz=LOCAL_TIME_ZONE)


def data_date_of(data_interval_start: dt.datetime) -> dt.date:
    """The deliveries a nightly run processes: the local (Beijing) date its data interval starts on."""
    return data_interval_start.astimezone(LOCAL_ZONE).date()


def nightly_run_time(data_date: dt.date) -> dt.datetime:
    """When the scheduler runs data date D: 02:00 Beijing on D + 1 (a manual run with this logical date covers the
    data interval that ends there, i.e. D)."""
    next_day = data_date + dt.timedelta(days=1)
    return dt.datetime(next_day.year, next_day.month, next_day.day, 2, tzinfo=LOCAL_ZONE)


def resolve_data_date(data_interval_start: dt.datetime | None, override: str | None) -> dt.date:
    """The data date a run processes: the `data_date` parameter when given, else its data interval's start."""
    if override:
        return dt.date.fromisoformat(override)
    if data_interval_start is None:
        raise ValueError("this run has no data interval: trigger it with the parameter data_date=YYYY-MM-DD")
    return data_date_of(data_interval_start)
