"""
### Settle training subsidies

Refreshes the draft settlement run of a period from `settlement.settlement_lines` (built by `build_archive`) and
writes its Excel workbook for the finance office. Scheduled on the `metrics` Asset — so the draft follows every
nightly build — and monthly on the 1st at 06:00 Beijing time; trigger it by hand with the `period` parameter
(`2023-03`, `2023`, or `2023-01-01..2023-06-30`) to settle another period. Without a period it settles the month
before the run.

Then `report` writes the bi-weekly progress report (双周调度) of the fortnight up to the latest data date — HTML
with charts, its PDF and its figures — and refreshes the local index page of reports and docs.

A run whose period already has an approved run holds only adjustment lines; unchanged inputs leave the draft as
it is. Approving a run and sending its payment file are a person's acts: `skills-pipeline settlement approve RUN`
then `skills-pipeline settlement export RUN`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from skills_pipeline.assets import METRICS_ASSET
from skills_pipeline.operations import default_args, failure_callbacks
from skills_pipeline.schedule import (
    LOCAL_TIME_ZONE,
    MONTHLY_SETTLEMENT_CRON,
    dag_start_date,
    time_schedules_enabled,
)
from skills_pipeline.tasks import publish_reports, settle_period


@dag(
    doc_md=__doc__,
    schedule=(
        AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(MONTHLY_SETTLEMENT_CRON, timezone=LOCAL_TIME_ZONE), assets=[METRICS_ASSET]
        )
        if time_schedules_enabled()
        else [METRICS_ASSET]
    ),
    start_date=dag_start_date(),
    catchup=False,
    max_active_runs=1,
    params={
        "period": Param(
            "",
            type="string",
            description="2023-03 (a month), 2023 (a year) or 2023-01-01..2023-06-30; empty: the previous month",
        )
    },
    tags=["skills", "settlement"],
    default_args=default_args("finance-data", retries=1, timeout="settle"),
    on_failure_callback=failure_callbacks(),
)
def settle_subsidies():
    @task
    def settle() -> dict:
        """Create or confirm the draft run of the period and export its workbook."""
        context = get_current_context()
        summary = settle_period(context["params"]["period"] or None, context["dag_run"].run_after)
        print(summary["text"])
        return summary

    @task
    def report() -> dict:
        """The bi-weekly progress report, drafts of this run included."""
        published = publish_reports()
        print(published["text"])
        return published

    settle() >> report()


settle_subsidies()
