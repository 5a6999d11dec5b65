"""What the DAGs' tasks call. Kept free of Airflow imports so it is tested without a scheduler."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo

from skills_pipeline import feeds

LOCAL_ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
TIME_SCHEDULES_ENV = "SKILLS_TIME_SCHEDULES"


def time_schedules_enabled() -> bool:
    """Whether DAGs run on the clock (the default). `SKILLS_TIME_SCHEDULES=off` leaves only API/manual triggers and
    Asset events: for acceptance environments and the local stack harness, where a cron run for "yesterday"
    appearing on unpause would only add work to the night under test."""
    value = os.environ.get(TIME_SCHEDULES_ENV, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{TIME_SCHEDULES_ENV}={value!r}: expected on or off")
    return value == "on"


RAW_ASSET_URIS = {feed: f"warehouse://raw/{feed}" for feed in feeds.FEEDS}


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


def load_feed(feed: str, data_date: dt.date, landing_root: str | None = None) -> dict:
    """Load every file of one feed and date; returns a JSON-able summary for XCom. Rejections are checked apart."""
    from skills_pipeline import loader  # DAG files import this module: keep the database stack out of parsing

    report = loader.ingest(feed, data_date, landing_root=landing_root, fail_on_rejected=False)
    return {
        "feed": feed,
        "data_date": data_date.isoformat(),
        **report.totals(),
        "rejected": [f.path for f in report.rejected],
        "data_docs": report.data_docs,
        "files": [f.describe() for f in report.files],
    }


def check_feed(feed: str, data_date: dt.date) -> None:
    """Raise loader.RejectedFiles while a file of this feed and date stands rejected and unacknowledged."""
    from skills_pipeline import loader

    loader.raise_for_rejected(feed, data_date)


def settle_period(period: str | None, run_after: dt.datetime) -> dict:
    """Refresh the draft settlement run of `period` (default: the month before the run) and export its workbook.

    Approval stays a person's act (`skills-pipeline settlement approve`): a DAG never approves money.
    """
    from skills_pipeline import settings, settlement, settlement_exports, warehouse

    if period:
        chosen = settlement.parse_period(period)
    else:
        chosen = settlement.previous_month(run_after.astimezone(LOCAL_ZONE).date())
    result = settlement.run_period(chosen)
    summary = {"period": chosen.label, "outcome": result.outcome, "run_id": result.run_id, "text": result.describe()}
    if result.run_id is not None:
        with warehouse.connect() as conn:
            exported = settlement_exports.export_run(conn, result.run_id, settings.export_root())
        summary["workbook"] = exported.workbook
    return summary
